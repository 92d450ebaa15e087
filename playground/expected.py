"""What a correct pipeline delivers, computed from the Wistia account alone.

From the account's events and medias: the viewing sessions, the Lytics records and profiles
they make, and how what Lytics holds compares with them (``check_delivery``), with the same pure
functions the plugins and the Lytics sandbox use (``sessionize``, the default mapping and the
schema it compiles to, the sandbox's mapping evaluation and ``merge_fragments``): the pipeline
under test is the only thing not reused.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from tap_wistia.events import EventProblems, normalize_event, view_event
from tap_wistia.sessions import Carry, ViewingSession, sessionize
from target_lytics.mapping import StreamPlan, plan_stream
from target_lytics.mapping_setting import mappings_from_setting
from target_lytics.sandbox import merge_fragments
from target_lytics.sandbox.definitions import FieldDef, MappingDef, Version
from target_lytics.sandbox.mapper import ProfileMapper
from target_lytics.sandbox.profiles import parse_event_time
from target_lytics.schema import RequiredSchema, required_schema

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "ACTIVITY_STREAM",
    "SESSION_GAP",
    "ActivityKey",
    "DeliveryReport",
    "activity_key",
    "activity_plan",
    "check_delivery",
    "claimed_sessions",
    "expected_profiles",
    "expected_sessions",
    "late_update_candidate",
    "lytics_records",
    "media_durations",
    "profile_differences",
    "published_version",
]

ACTIVITY_STREAM = "wistia_activity"
SESSION_GAP = dt.timedelta(minutes=30)
"""tap-wistia's default ``session_gap_minutes``."""


ActivityKey = tuple[str, str, str]
"""A viewing session as Lytics can tell it apart: (visitor key, media id, ended_at)."""


def media_durations(medias: Iterable[Mapping[str, Any]]) -> dict[str, float | None]:
    """Seconds per media hashed id, as tap-wistia reads them (no positive number: None).

    Only video and audio play: a document's duration counts pages, an image has none.
    """
    durations: dict[str, float | None] = {}
    for media in medias:
        value = media.get("duration") if media.get("type") in ("Video", "Audio") else None
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        durations[str(media.get("hashed_id"))] = (
            float(number) if number is not None and number > 0 else None
        )
    return durations


def expected_sessions(
    events: Iterable[Mapping[str, Any]],
    medias: Iterable[Mapping[str, Any]],
    *,
    gap: dt.timedelta = SESSION_GAP,
) -> list[ViewingSession]:
    """The viewing sessions of raw Wistia events: the definition, computed in one piece."""
    problems = EventProblems()
    views = []
    for raw in events:
        record = normalize_event(raw, problems)
        view = view_event(record, problems) if record is not None else None
        if view is not None:
            views.append(view)
    return sessionize(views, media_durations(medias), gap)


def activity_plan() -> StreamPlan:
    """target-lytics' default plan for ``wistia_activity`` (mapping, timestamp field)."""
    return plan_stream(ACTIVITY_STREAM, mappings_from_setting(None))


def lytics_records(sessions: Iterable[ViewingSession]) -> list[dict[str, Any]]:
    """The Lytics records of sessions with the default mapping, as JSON gives them back."""
    plan = activity_plan()
    encoded = msgspec.json.encode([plan.to_lytics(session.to_record()) for session in sessions])
    return list(msgspec.json.decode(encoded))


def activity_key(record: Mapping[str, Any]) -> ActivityKey:
    """Which session a Lytics ``wistia_activity`` record describes.

    The default mapping sends no session id; a session is told apart by its visitor, its media
    and when it ended (sessions of one visitor on one media never overlap).
    """
    return (
        str(record.get("visitor_key", "")),
        str(record.get("media_id", "")),
        str(record.get("ended_at", "")),
    )


@dataclass
class DeliveryReport:
    """What Lytics holds of the expected sessions, every stored record accounted for.

    A stored record is one of:

    - the latest version of an expected session: ``delivered`` when it equals the expected
      record, else ``wrong``;
    - an **earlier version** of an expected session, replaced by a later one: sent while the
      session was still open when a run ended (it ended earlier, within the complete session),
      or before a late update changed its figures (it has the same end as the complete one);
    - a **repeat**: stored again unchanged after it (a re-send after an interrupted run);
    - ``unexplained``: it fits no expected session at all.

    So when ``ok``, ``stored == delivered + earlier_versions + repeats``.
    """

    expected: int
    stored: int
    delivered: int = 0
    missing: list[ActivityKey] = field(default_factory=list)
    wrong: dict[ActivityKey, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    unexplained: list[ActivityKey] = field(default_factory=list)
    earlier_versions: int = 0
    repeats: int = 0

    @property
    def ok(self) -> bool:
        """Every expected session is there with the expected values, and nothing else."""
        return not (self.missing or self.wrong or self.unexplained)

    def describe(self, limit: int = 5) -> str:
        """A readable account of the differences (empty when ``ok``)."""
        if self.ok:
            return ""
        summary = (
            f"{self.expected} sessions expected, {self.delivered} delivered correctly, "
            f"{len(self.missing)} missing, {len(self.wrong)} with other values, "
            f"{len(self.unexplained)} unexplained records ({self.stored} stored)"
        )
        lines = [summary]
        lines += [f"  missing: {key}" for key in self.missing[:limit]]
        for key, (want, got) in list(self.wrong.items())[:limit]:
            fields = sorted(
                name for name in set(want) | set(got) if want.get(name) != got.get(name)
            )
            diff = ", ".join(f"{n}: {want.get(n)!r} != {got.get(n)!r}" for n in fields)
            lines.append(f"  wrong: {key}: expected != stored: {diff}")
        lines += [f"  unexplained: {key}" for key in self.unexplained[:limit]]
        return "\n".join(lines)


def check_delivery(
    sessions: Sequence[ViewingSession],
    stored: Iterable[Mapping[str, Any]],
    *,
    complete: bool = True,
) -> DeliveryReport:
    """Compare the stored ``wistia_activity`` events (oldest first) with the sessions.

    Each expected session must be stored, its latest version equal to the expected record. With
    ``complete`` (the sessions are all there should be), every other stored record must be an
    earlier version of an expected session; without it, other records are not judged.
    """
    records = lytics_records(sessions)
    expected = {activity_key(record): record for record in records}
    if len(expected) != len(records):
        msg = "two expected sessions share a (visitor, media, ended_at) key: cannot tell them apart"
        raise ValueError(msg)
    versions: dict[ActivityKey, list[dict[str, Any]]] = defaultdict(list)
    for event in stored:
        versions[activity_key(event["record"])].append(event["record"])
    report = DeliveryReport(expected=len(expected), stored=sum(map(len, versions.values())))
    for key, want in expected.items():
        got = versions.get(key)
        if not got:
            report.missing.append(key)
        elif got[-1] != want:
            report.wrong[key] = (want, got[-1])
        else:
            report.delivered += 1
            _count_replaced(report, got)
    if complete:
        _judge_the_rest(report, sessions, {k: v for k, v in versions.items() if k not in expected})
    report.unexplained.sort()
    report.missing.sort()
    return report


def _count_replaced(report: DeliveryReport, versions: Sequence[Mapping[str, Any]]) -> None:
    """Count the versions of one key that a later one replaced: repeats or earlier versions."""
    for older, newer in itertools.pairwise(versions):
        if older == newer:
            report.repeats += 1
        else:
            report.earlier_versions += 1


def _judge_the_rest(
    report: DeliveryReport,
    sessions: Iterable[ViewingSession],
    others: Mapping[ActivityKey, Sequence[Mapping[str, Any]]],
) -> None:
    """Records of no expected key: earlier versions when they end within an expected session."""
    spans: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for session in sessions:
        record = session.to_record()
        spans[session.visitor_key, session.media_id].append(
            (record["started_at"], record["ended_at"])
        )
    for key, versions in others.items():
        visitor, media, ended = key
        if any(start <= ended < end for start, end in spans.get((visitor, media), ())):
            report.earlier_versions += 1
            _count_replaced(report, versions)
        else:
            report.unexplained.append(key)


def claimed_sessions(
    state: Mapping[str, Any] | None,
    sessions: Iterable[ViewingSession],
    *,
    gap: dt.timedelta = SESSION_GAP,
) -> list[ViewingSession]:
    """The sessions a stored Singer state says were delivered.

    The activity carry promises that every session that ended before ``watermark - gap`` was
    emitted, and Meltano stores a STATE only after the target confirmed what came before it, so
    all of these must be in Lytics whenever this state is stored.
    """
    bookmarks = (state or {}).get("bookmarks") or {}
    carry = Carry.from_state((bookmarks.get(ACTIVITY_STREAM) or {}).get("carry"))
    if carry is None:
        return []
    limit = carry.watermark - gap
    return [session for session in sessions if session.ended_at < limit]


def published_version(required: RequiredSchema, marker: int = 0) -> Version:
    """The Lytics sandbox's published schema holding exactly ``required`` (what apply creates)."""
    fields = {
        spec.name: FieldDef(
            name=spec.name,
            type=spec.definition.type,
            merge_op=spec.definition.merge_op or "",
            identifier=spec.definition.identifier,
            pii=spec.definition.pii,
            shortdesc=spec.definition.description,
        )
        for spec in required.fields
    }
    mappings = {
        f"{n:032x}": MappingDef(f"{n:032x}", spec.field, spec.stream, spec.expr)
        for n, spec in enumerate(required.mappings, start=1)
    }
    return Version(1, "expected", "the schema the mapping needs", "", marker, fields, mappings)


def expected_profiles(sessions: Iterable[ViewingSession]) -> list[dict[str, Any]]:
    """The Lytics profiles the sessions' records make, on an account set up for the mapping.

    The account holds the schema the default mapping needs; Lytics' own mapping evaluation and
    merge, in session order.
    """
    mapper = ProfileMapper(published_version(required_schema(mappings_from_setting(None))))
    events = []
    for seq, record in enumerate(lytics_records(sessions)):
        moment = parse_event_time(record.get("ended_at"))
        values = mapper.user_values(ACTIVITY_STREAM, record)
        events.append((moment if moment is not None else 0, seq, values))
    return merge_fragments(events, mapper.profile_schema)


def _identity(profile: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, value) for name, vs in profile["_ids"].items() for value in vs))


def profile_differences(
    expected: Iterable[Mapping[str, Any]],
    actual: Iterable[Mapping[str, Any]],
    *,
    ignore: Sequence[str] = ("_created",),
) -> list[str]:
    """How two sets of profiles differ, matched by their identities; empty when equal.

    ``_created`` is ignored by default: a session still open when a run ended is also stored
    as its earlier version, which may be the oldest event of a profile. Every other field,
    including the merged ones, must match.
    """
    wanted = {_identity(profile): profile for profile in expected}
    found = {_identity(profile): profile for profile in actual}
    problems = [f"missing profile {ids}" for ids in sorted(wanted.keys() - found.keys())]
    problems += [f"unexpected profile {ids}" for ids in sorted(found.keys() - wanted.keys())]
    for ids in sorted(wanted.keys() & found.keys()):
        want, got = wanted[ids], found[ids]
        for name in sorted((set(want) | set(got)) - set(ignore)):
            if want.get(name) != got.get(name):
                problems.append(f"profile {ids}: {name}: {want.get(name)!r} != {got.get(name)!r}")
    return problems


def late_update_candidate(
    events: Sequence[Mapping[str, Any]],
    medias: Iterable[Mapping[str, Any]],
    now: dt.datetime,
    *,
    percent: float,
    besides_visitor: str | None = None,
) -> dict[str, Any] | None:
    """The newest event 5 to 50 minutes before ``now`` whose update to ``percent`` shows.

    That is an event a run that just ended has read and the next run re-reads within its
    60-minute lookback. Its session's ``percent_viewed`` (the highest of its events) must be
    below ``percent``, so that raising this event to ``percent`` raises the session's too: in a
    session already watched further, only the time viewed would move. Its media's duration must
    be known, so the session's time viewed grows as well. None when the account has no such
    event (``besides_visitor``: not of that visitor).
    """
    sessions: dict[tuple[str, str], list[ViewingSession]] = defaultdict(list)
    for session in expected_sessions(events, medias):
        sessions[session.visitor_key, session.media_id].append(session)
    for event in reversed(events):
        received = dt.datetime.fromisoformat(event["received_at"])
        if not now - dt.timedelta(minutes=50) <= received <= now - dt.timedelta(minutes=5):
            continue
        if event["visitor_key"] == besides_visitor:
            continue
        around = sessions.get((event["visitor_key"], event["media_id"]), [])
        if any(
            s.started_at <= received <= s.ended_at
            and (s.percent_viewed or 0) < percent
            and s.duration_viewed is not None
            for s in around
        ):
            return dict(event)
    return None
