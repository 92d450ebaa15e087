"""End to end: `meltano run tap-wistia target-lytics` against both sandboxes, as users run it.

Real processes throughout (meltano, both plugins, both sandboxes over HTTP). What Lytics must hold
is computed from the generated Wistia account alone (``playground.expected``), never from what the
pipeline produced.
"""

from __future__ import annotations

import csv
import datetime as dt
import json

import msgspec
import pytest
import yaml

from playground import PROJECT_ROOT
from playground.expected import late_update_candidate
from playground.meltano import Meltano
from tap_wistia.sandbox import AccountSpec
from tests.pipeline_stack import (
    GAP,
    RUN_TIMEOUT,
    assert_delivered,
    assert_profiles,
    plugins_dir,
    running_stack,
)

pytestmark = pytest.mark.e2e


def test_backfill_then_incremental_runs_deliver_exactly_the_accounts_sessions(tmp_path):
    spec = AccountSpec(seed=11, events=4000, days=4)
    with running_stack(tmp_path, spec) as stack:
        backfill = stack.meltano.run(timeout=RUN_TIMEOUT).check()
        sessions = stack.expected_sessions()
        assert backfill.tap_summary()["events_read"] == spec.events
        assert backfill.tap_summary()["sessions_emitted"] == len(sessions)
        assert stack.lytics.stats()["records_stored"] == len(sessions)
        assert_delivered(stack)

        # An hour later: the newest session goes on, new viewers come, and Wistia raises the
        # percent_viewed of an event the backfill already read (within the lookback).
        now = dt.datetime.now(dt.UTC)
        newest = max(sessions, key=lambda session: session.ended_at)
        assert now - newest.ended_at < GAP, "the account should end with a session still open"
        stack.wistia.add_events([stack.wistia.new_event(now, newest.visitor_key, newest.media_id)])
        stack.wistia.generate(40)
        late = late_update_candidate(
            stack.wistia.events(),
            stack.wistia.medias(),
            now,
            percent=0.97,
            besides_visitor=newest.visitor_key,
        )
        assert late is not None, "the account should have an event to update in its last hour"
        stack.wistia.update_event(late["event_key"], percent_viewed=0.97)

        incremental = stack.meltano.run(timeout=RUN_TIMEOUT).check()
        summary = incremental.tap_summary()
        assert 0 < summary["events_read"] < spec.events / 4, summary
        report = assert_delivered(stack)
        assert report.earlier_versions >= 1  # the newest session as the backfill saw it
        after = stack.expected_sessions()
        updated = next(
            s
            for s in after
            if s.visitor_key == late["visitor_key"]
            and s.media_id == late["media_id"]
            and s.started_at <= dt.datetime.fromisoformat(late["received_at"]) <= s.ended_at
        )
        assert updated.percent_viewed == 0.97  # the session's best percent, raised by the update
        grown = next(s for s in after if s.session_id == newest.session_id)
        assert grown.event_count > newest.event_count

        # Nothing changed since: a third run reads the lookback again and sends nothing.
        stored = stack.lytics.stats()["records_stored"]
        quiet = stack.meltano.run(timeout=RUN_TIMEOUT).check()
        assert quiet.tap_summary()["sessions_emitted"] == 0
        assert stack.lytics.stats()["records_stored"] == stored
        assert_delivered(stack)
        assert_profiles(stack)


def test_the_tap_feeds_target_jsonl_and_target_lytics_takes_another_tap(tmp_path):
    spec = AccountSpec(seed=5, events=1500, days=2)
    with running_stack(tmp_path, spec) as stack:
        sessions = stack.expected_sessions()
        folder = tmp_path / "jsonl"
        jsonl = stack.meltano.run(
            "tap-wistia",
            "target-jsonl",
            extra_env={"TARGET_JSONL_DESTINATION_PATH": str(folder)},
            timeout=RUN_TIMEOUT,
        ).check()
        [written_file] = folder.iterdir()  # target-jsonl names it wistia_activity-<time>.jsonl
        assert written_file.name.startswith("wistia_activity"), jsonl.tail()
        written = [json.loads(line) for line in written_file.open()]
        wanted = msgspec.json.decode(msgspec.json.encode([s.to_record() for s in sessions]))
        by_id = {record["session_id"]: record for record in written}
        assert len(by_id) == len(written) == len(wanted)
        assert [by_id.get(record["session_id"]) for record in wanted] == wanted

        # target-lytics loads a CSV through the repository's own tiny tap; its emails join the
        # profiles the Wistia sessions built.
        stack.meltano.run(timeout=RUN_TIMEOUT).check()
        converted = sorted({s.email for s in sessions if s.email})[:2]
        signups = tmp_path / "signups.csv"
        with signups.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["email", "plan", "company"])
            writer.writerows([[converted[0], "pro", "Acme"], [converted[1], "free", ""]])
            writer.writerow(["new.person@example.com", "trial", "Initech"])
        # The user's own fields get a field and a mapping from the signups stream through the
        # same mapping setting; email is the default table's identifier, mapped from signups too.
        signups_mapping = {
            "signups": {
                "fields": {
                    "email": {"from": "email", "as": "email"},
                    "plan": "plan",
                    "company": "company",
                }
            }
        }
        settings = {
            "TAP_CSV_FILE_PATH": str(signups),
            "TAP_CSV_FILE_STREAM": "signups",
            "TAP_CSV_FILE_KEY_PROPERTIES": '["email"]',
            "TARGET_LYTICS_MAPPING": json.dumps(signups_mapping),
        }
        stack.meltano.run(
            "tap-csv-file", "target-lytics", extra_env=settings, timeout=RUN_TIMEOUT
        ).check()
        assert [event["record"] for event in stack.lytics.stored_events("signups")] == [
            {"email": converted[0], "plan": "pro", "company": "Acme"},
            {"email": converted[1], "plan": "free"},
            {"email": "new.person@example.com", "plan": "trial", "company": "Initech"},
        ]
        profiles = {p["_ids"].get("email", [None])[0]: p for p in stack.lytics.profiles()}
        assert (profiles[converted[0]]["plan"], profiles[converted[0]]["company"]) == (
            "pro",
            "Acme",
        )
        assert profiles[converted[0]]["_ids"]["wistia_visitor_key"]  # joined with Wistia's
        assert "wistia_visitor_key" not in profiles["new.person@example.com"]["_ids"]
        mappings = {(m["field"], m["stream"]) for m in stack.lytics.schema()["mappings"]}
        assert {("email", "signups"), ("plan", "signups"), ("company", "signups")} <= mappings
        state = stack.meltano.state("sandbox:tap-csv-file-to-target-lytics")
        assert state == {"bookmarks": {"signups": {"rows_emitted": 3}}}
        assert_delivered(stack)


def test_project_schedules_hourly_and_keeps_tokens_out_of_meltano_yml(tmp_path):
    meltano = Meltano(database=tmp_path / "meltano.db", logs=tmp_path, sys_dir=plugins_dir())
    listed = json.loads(meltano.command("schedule", "list", "--format=json").check().stdout)
    [schedule] = listed["schedules"]["job"]
    assert (schedule["name"], schedule["interval"]) == ("wistia-to-lytics-hourly", "@hourly")
    assert schedule["job"] == {"name": "wistia-to-lytics", "tasks": ["tap-wistia target-lytics"]}

    sandbox = meltano.command("--environment=sandbox", "config", "list", "tap-wistia").check()
    token_line = next(line for line in sandbox.output.splitlines() if line.startswith("api_token"))
    assert "(redacted)" in token_line
    assert "sandbox-wistia-token" not in sandbox.output

    prod = meltano.command("--environment=prod", "config", "list", "tap-wistia").check()
    token_line = next(line for line in prod.output.splitlines() if line.startswith("api_token"))
    assert "current value: None" in token_line
    from_env = meltano.command(
        "--environment=prod",
        "config",
        "list",
        "target-lytics",
        extra_env={"TARGET_LYTICS_API_TOKEN": "a-real-looking-token"},
    ).check()
    assert "a-real-looking-token" not in from_env.output
    assert "(redacted) (from the TARGET_LYTICS_API_TOKEN variable" in from_env.output

    project = yaml.safe_load((PROJECT_ROOT / "meltano.yml").read_text())
    sensitive = {
        (plugin["name"], setting["name"])
        for kind in ("extractors", "loaders")
        for plugin in project["plugins"][kind]
        for setting in plugin.get("settings", [])
        if setting.get("sensitive")
    }
    assert {("tap-wistia", "api_token"), ("target-lytics", "api_token")} <= sensitive
    [prod_env] = [env for env in project["environments"] if env["name"] == "prod"]
    for kind in ("extractors", "loaders"):
        for plugin in prod_env["config"]["plugins"][kind]:
            assert "api_token" not in plugin.get("config", {}), plugin["name"]
    assert ".env" in (PROJECT_ROOT / ".gitignore").read_text().split()  # where prod tokens go


def test_the_schema_step_alone_plans_then_applies_then_only_reads(tmp_path):
    """The README's "Review first": `meltano invoke target-lytics --input` the SCHEMA alone."""
    with running_stack(tmp_path, AccountSpec(seed=5, events=300, days=1)) as stack:
        plan = stack.schema_step(dryrun=True)
        lines = [line for line in plan.output.splitlines() if "Lytics schema plan" in line]
        assert sum("create field" in line for line in lines) == 14
        assert lines[-1].endswith("publish once (the draft holds nothing else)")
        assert stack.lytics.stats()["schema_writes"] == 0
        stack.schema_step(dryrun=False)
        view = stack.lytics.schema()
        assert (len(view["fields"]), len(view["mappings"]), len(view["versions"])) == (14, 14, 1)
        stack.lytics.reset_stats()
        stack.schema_step(dryrun=False)
        counts = stack.lytics.stats()
        assert (counts["schema_requests"], counts["schema_writes"]) == (2, 0)
        assert counts["collect_requests"] == 0
