"""``make demo``: the whole pipeline on this machine, against the local Wistia and Lytics sandboxes.

Runs ``python -m playground.demo``: installs the Meltano plugins, starts both sandboxes with a
generated Wistia account (6,000 events over 5 days) and an empty Lytics account, shows the schema
plan target-lytics' mapping needs (a dry run), applies it (``schema_mode: apply``), runs
``meltano --environment=sandbox run tap-wistia target-lytics`` twice (``schema_mode: check``, the
default) — a backfill, then an incremental run after an hour's worth of new events and a late
``percent_viewed`` update — stops the sandboxes and shows what happened: events read, sessions
built, records delivered, requests, time and memory, the account's schema, and three merged
Lytics profiles next to the Wistia events they came from.

The data stays in ``var/demo/`` (Lytics: ``lytics.sqlite3``; Meltano's state: ``meltano.db``;
logs). It exits non-zero with the reason when anything fails, and leaves nothing running.
"""

from __future__ import annotations

import datetime as dt
import shutil
import signal
import sys
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any, NoReturn

from playground import PROJECT_ROOT, StackError
from playground.expected import (
    activity_key,
    check_delivery,
    expected_profiles,
    late_update_candidate,
    lytics_records,
    profile_differences,
)
from playground.narration import Narration
from playground.profile_view import pick_converted, side_by_side
from playground.stack import Stack
from tap_wistia.sandbox import AccountSpec

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from types import FrameType

    from playground.expected import DeliveryReport
    from playground.meltano import PipelineRun
    from tap_wistia.sessions import ViewingSession

DEMO_DIR = PROJECT_ROOT / "var" / "demo"
SPEC = AccountSpec(seed=2026, events=6000, days=5)
NEW_EVENTS = max(50, SPEC.events // (SPEC.days * 24))
"""About an hour of the account's traffic."""
LATE_PERCENT = 0.9
WISTIA_RATE_LIMIT = 600
"""Requests per minute, as Wistia allows an account."""
MB = 1024 * 1024


class DemoError(RuntimeError):
    """The demo cannot go on; the message says what went wrong and where the logs are."""


def say(text: str = "") -> None:
    """Print one line at once (the demo is watched live)."""
    print(text, flush=True)  # noqa: T201 - the demo's output is for people


def heading(text: str) -> None:
    """Print a section heading."""
    say()
    say(text)
    say("-" * len(text))


# --------------------------------------------------------------------------------------------
# The story
# --------------------------------------------------------------------------------------------


def main() -> int:
    """Run the demo; returns the exit status (1 with the reason when something failed)."""
    signal.signal(signal.SIGTERM, _stop_on_signal)
    started = time.monotonic()
    try:
        run_demo()
    except (DemoError, StackError) as error:
        say()
        say(f"make demo failed: {error}")
        say(f"Logs: {DEMO_DIR.relative_to(PROJECT_ROOT)}/")
        return 1
    except KeyboardInterrupt:
        say("\nInterrupted; the sandboxes are stopped.")
        return 130
    say()
    say(f"Done in {time.monotonic() - started:.0f} s; nothing is left running.")
    return 0


def _stop_on_signal(signum: int, frame: FrameType | None) -> NoReturn:  # noqa: ARG001
    raise KeyboardInterrupt


def demo_stack(workdir: Path) -> Stack:
    """The demo's stack (accounts, Wistia's request limit), also for benchmarks to measure.

    The Lytics account starts empty; the demo sets its schema up explicitly, so the pipeline
    runs with the default ``schema_mode: check``.
    """
    return Stack(
        workdir,
        SPEC,
        wistia_rate_limit=WISTIA_RATE_LIMIT,
        lytics_preset="empty",
        schema_mode="check",
    )


def run_demo() -> None:
    """Install, start the sandboxes, backfill, add an hour, run again, check, show profiles."""
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)
    stack = demo_stack(DEMO_DIR)
    heading("1. meltano install (custom plugins from meltano.yml, no Meltano Hub)")
    installed = stack.meltano.install(follow=Narration(say))
    say(f"   done in {installed.seconds:.1f} s")
    with stack:
        describe_sandboxes(stack)
        heading("2. The schema plan for the empty Lytics account (dryrun, schema_mode: apply)")
        show_plan(stack)
        heading("3. Apply it: meltano invoke target-lytics with schema_mode: apply")
        apply_schema(stack)
        heading("4. Backfill: meltano --environment=sandbox run tap-wistia target-lytics")
        say(f"   (start_date {stack.wistia.account.first_day}, so everything since the first day;")
        say("   schema_mode: check, the default, finds every field and mapping in place)")
        report_run(stack, pipeline(stack))
        heading("5. An hour later")
        late = add_an_hour(stack)
        heading("6. Incremental run: the same command")
        incremental = pipeline(stack)
        report_run(stack, incremental)
        report_late_update(stack, late)
        heading("7. Check")
        sessions = check_everything(stack)
        profiles = stack.lytics.profiles()
    say()
    say("Both sandboxes are stopped.")
    show_profiles(stack, sessions, profiles)
    say()
    say("Look again without the sandboxes running:")
    db = stack.lytics.db_path.relative_to(PROJECT_ROOT)
    say(f"   .venv/bin/lytics-sandbox schema --db {db}")
    say(f"   .venv/bin/lytics-sandbox profiles --db {db} --limit 3")
    state_db = stack.meltano.database.relative_to(PROJECT_ROOT)
    say(f"   MELTANO_DATABASE_URI=sqlite:///{state_db} \\")
    say("     .venv/bin/meltano state get sandbox:tap-wistia-to-target-lytics")


def describe_sandboxes(stack: Stack) -> None:
    """Say what was started."""
    spec = stack.wistia.spec
    say()
    say(
        f"Wistia sandbox  {stack.wistia.url}   {spec.events:,} events over {spec.days} days, "
        f"{spec.medias} medias, {spec.visitors} visitors, {WISTIA_RATE_LIMIT} requests/min"
    )
    db = stack.lytics.db_path.relative_to(PROJECT_ROOT)
    fields = len(stack.lytics.schema()["fields"])
    say(f"Lytics sandbox  {stack.lytics.url}   an empty account ({fields} fields), data in {db}")


_PLAN_LINE = "Lytics schema plan (dry run, nothing is written): "


def show_plan(stack: Stack) -> None:
    """What apply would create, as target-lytics' dry run logs it."""
    say("   meltano invoke target-lytics with dryrun: true, its input the stream's SCHEMA alone")
    result = stack.schema_step(dryrun=True, follow=Narration(say))
    steps = [
        line.split(_PLAN_LINE, 1)[1] for line in result.output.splitlines() if _PLAN_LINE in line
    ]
    if not steps:
        msg = f"target-lytics logged no schema plan; its output ends with:\n{result.tail()}"
        raise DemoError(msg)
    fields = [step for step in steps if step.startswith("create field")]
    mappings = [step for step in steps if step.startswith("create mapping")]
    say(f"   {len(fields)} fields and {len(mappings)} mappings to create, then one publish:")
    for field, mapping in zip(fields, mappings, strict=False):
        name = field.removeprefix("create field ")
        say(f"   {name:<44} <- {mapping.split(': ', 1)[1]}")
    say(
        f"   ({stack.lytics.stats()['schema_writes']} schema writes so far: the plan wrote nothing)"
    )


def apply_schema(stack: Stack) -> None:
    """Create the fields and mappings and publish them; show what the account holds then."""
    stack.lytics.reset_stats()
    result = stack.schema_step(dryrun=False, follow=Narration(say))
    lytics = stack.lytics.stats()
    schema = stack.lytics.schema()
    [version] = schema["versions"]
    say(
        f"   done in {result.seconds:.1f} s: {lytics['schema_writes']} schema writes "
        f"({len(schema['fields'])} fields, {len(schema['mappings'])} mappings, 1 publish), "
        f"published as {version['tag']!r}"
    )
    identifiers = [field["id"] for field in schema["fields"] if field["is_identifier"]]
    say(f"   profiles now join on {' and '.join(identifiers)}")
    stack.lytics.reset_stats()
    say("   the same command again:")
    stack.schema_step(dryrun=False, follow=Narration(say))
    again = stack.lytics.stats()
    say(
        f"   the same again: {again['schema_requests']} schema reads, "
        f"{again['schema_writes']} writes (everything is in place)"
    )


def pipeline(stack: Stack) -> PipelineRun:
    """Run ``tap-wistia target-lytics`` once, with fresh sandbox counters.

    Raises:
        DemoError: the run failed (with the end of its log).
    """
    stack.wistia.reset_stats()
    stack.lytics.reset_stats()
    run = stack.meltano.run(follow=Narration(say))
    if not run.ok:
        msg = f"the meltano run failed (exit {run.returncode}); its log ends with:\n{run.tail()}"
        raise DemoError(msg)
    return run


def report_run(stack: Stack, run: PipelineRun) -> None:
    """Events read, sessions built, records delivered, requests, time and memory of a run."""
    tap = run.tap_summary()
    target = run.target_summary()
    wistia = stack.wistia.stats()
    lytics = stack.lytics.stats()
    say(f"   finished in {run.seconds:.1f} s; {_memory(run)}")
    say(
        f"   tap-wistia:    read {tap.get('events_read', '?'):,} events in "
        f"{_count(tap.get('requests', 0), 'request')} ({tap.get('retries', 0)} retries), "
        f"built and sent {tap.get('sessions_emitted', '?'):,} viewing sessions"
    )
    say(
        f"   Wistia saw:    {_count(wistia['requests'], 'request')} "
        f"{_statuses(wistia['by_status'])}, "
        f"{wistia['events_served']:,} events served"
    )
    say(
        f"   target-lytics: {target['records']:,} records confirmed by Lytics in "
        f"{_count(target['requests'], 'collect request')} ({target['retries']} retries)"
    )
    say(
        f"   Lytics saw:    {_count(lytics['requests'], 'request')} "
        f"{_statuses(lytics['by_status'])}, "
        f"{lytics['records_stored']:,} records stored, {lytics['rejected']} rejected"
    )
    say(f"   log: {run.log_path.relative_to(PROJECT_ROOT) if run.log_path else '-'}")


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _memory(run: PipelineRun) -> str:
    roles = ", ".join(
        f"{role} {run.peak_rss_bytes[role] / MB:.0f} MB"
        for role in ("meltano", "tap", "target")
        if role in run.peak_rss_bytes
    )
    return f"peak memory {run.peak_tree_rss_bytes / MB:.0f} MB together ({roles})"


def _statuses(by_status: dict[str, int]) -> str:
    return (
        "(" + ", ".join(f"{count} x {status}" for status, count in sorted(by_status.items())) + ")"
    )


def add_an_hour(stack: Stack) -> dict[str, Any]:
    """New viewing events, and a late percent_viewed update of an event already imported.

    Returns the event before the update.

    Raises:
        DemoError: the account has no event whose update would show (never seen so far).
    """
    now = dt.datetime.now(dt.UTC)
    stack.wistia.generate(NEW_EVENTS)
    say(f"   {NEW_EVENTS} new viewing events arrive (about an hour of this account's traffic)")
    late = pick_late_update(stack, now)
    before = session_of(stack.expected_sessions(), late)
    stack.wistia.update_event(late["event_key"], percent_viewed=LATE_PERCENT)
    say(
        f"   Wistia updates an event the backfill read: {late['media_name']!r} watched by "
        f"visitor {late['visitor_key'][:10]}… at {late['received_at'][11:16]}, "
        f"percent_viewed {late['percent_viewed'] or 0:.0%} -> {LATE_PERCENT:.0%}"
    )
    say(
        f"   (its viewing session stood at {_figures(before)}; "
        "the next run re-reads the last hour: lookback_minutes = 60)"
    )
    return late


def pick_late_update(stack: Stack, now: dt.datetime) -> dict[str, Any]:
    """An event of the last hour whose session a late update to ``LATE_PERCENT`` visibly raises.

    Raises:
        DemoError: the account has no such event.
    """
    late = late_update_candidate(
        stack.wistia.events(), stack.wistia.medias(), now, percent=LATE_PERCENT
    )
    if late is None:
        msg = "the generated account has no event to update in its last hour"
        raise DemoError(msg)
    return late


def session_of(sessions: Sequence[ViewingSession], event: dict[str, Any]) -> ViewingSession:
    """The viewing session an event belongs to."""
    moment = dt.datetime.fromisoformat(event["received_at"])
    return next(
        s
        for s in sessions
        if (s.visitor_key, s.media_id) == (event["visitor_key"], event["media_id"])
        and s.started_at <= moment <= s.ended_at
    )


def _figures(session: ViewingSession | dict[str, Any]) -> str:
    """A session's percent_viewed and time viewed, as the demo shows them."""
    record = session if isinstance(session, dict) else session.to_record()
    seconds = record.get("duration_viewed")
    viewed = f"{seconds / 60:.1f} min viewed" if isinstance(seconds, int | float) else "no time"
    return f"{record.get('percent_viewed') or 0:.0%} and {viewed}"


def report_late_update(stack: Stack, late: dict[str, Any]) -> None:
    """Show the late update reaching Lytics as a new version of its session."""
    session = session_of(stack.expected_sessions(), late)
    key = activity_key(lytics_records([session])[0])
    versions = [
        _figures(event["record"])
        for event in stack.lytics.stored_events()
        if activity_key(event["record"]) == key
    ]
    say(f"   its session in Lytics, version by version: {' -> '.join(versions)}")


def check_everything(stack: Stack) -> list[ViewingSession]:
    """Compare Lytics with what the account's events must give; returns the expected sessions.

    Raises:
        DemoError: Lytics holds something else (with the differences).
    """
    sessions = stack.expected_sessions()
    report = check_delivery(sessions, stack.lytics.stored_events())
    if not report.ok:
        raise DemoError("Lytics does not hold the expected sessions:\n" + report.describe())
    differences = profile_differences(expected_profiles(sessions), stack.lytics.profiles())
    if differences:
        raise DemoError("Lytics' profiles differ:\n" + "\n".join(differences[:10]))
    say(
        f"   Lytics holds all {report.expected:,} viewing sessions of the account, each with "
        f"the figures computed independently from the Wistia events,"
    )
    say("   and the merged profiles are exactly those these sessions make.")
    say(f"   The {report.stored:,} records stored over both runs: {_accounted(report)}.")
    return sessions


def _accounted(report: DeliveryReport) -> str:
    """Every stored record in words: the sessions, their earlier versions, repeats."""
    parts = [f"{report.delivered:,} sessions"]
    if report.earlier_versions:
        parts.append(
            f"{_count(report.earlier_versions, 'earlier version')} of sessions that grew or were "
            "updated after a run had sent them (the latest version is the one on profiles)"
        )
    if report.repeats:
        parts.append(f"{_count(report.repeats, 'repeat')} sent again unchanged")
    return " + ".join(parts)


# --------------------------------------------------------------------------------------------
# Profiles next to their events
# --------------------------------------------------------------------------------------------


def show_profiles(
    stack: Stack, sessions: Sequence[ViewingSession], profiles: list[dict[str, Any]]
) -> None:
    """Three profiles of people who watched anonymously first and converted later."""
    events = defaultdict(list)
    for event in stack.wistia.events():
        events[event["visitor_key"]].append(event)
    chosen = pick_converted(profiles, events)
    heading(f"{len(chosen)} merged Lytics profiles and the Wistia events they came from")
    say(
        f"   Lytics holds {len(profiles):,} profiles built from {len(sessions):,} sessions. "
        "These people watched anonymously,"
    )
    say(
        "   then gave their email in a Wistia form: Lytics joined the visitor key and the email "
        "into one person."
    )
    for profile in chosen:
        say()
        for line in side_by_side(profile, events, stack.wistia.medias()):
            say(f"   {line}")


if __name__ == "__main__":
    sys.exit(main())
