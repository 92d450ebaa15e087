"""wistia_visitors into Lytics: its own stream, joined to the same profiles, checked on arrival.

The default mapping sends tap-wistia's visitors to the Lytics stream `wistia_visitors`, whose
user fields (`wistia_visitor_name`, `wistia_load_count`, ...) join the profiles the activity
builds, on `wistia_visitor_key` and `email`. Like every stream's, its schema is checked when
the stream arrives, so an account that only ever receives viewing sessions (Lytics' own import)
never needs it.
Over real HTTP, each test on its own sandbox account.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import pytest

from target_lytics.mapping import plan_stream
from target_lytics.mapping_setting import mappings_from_setting
from target_lytics.sandbox import LyticsSandbox
from target_lytics.schema_api import LyticsSchemaError
from target_lytics.target import TargetLytics
from tests.lytics_runs import config, stats
from tests.test_target_schema import ACTIVITY, api, profiles, session, singer

if TYPE_CHECKING:
    from collections.abc import Iterator

VISITORS = {
    "type": "SCHEMA",
    "stream": "wistia_visitors",
    "key_properties": ["visitor_key"],
    "schema": {"type": "object", "properties": {"visitor_key": {"type": "string"}}},
}
VISITOR_FIELDS = {
    "wistia_visitor_name",
    "wistia_visitor_org",
    "wistia_visitor_title",
    "wistia_load_count",
    "wistia_play_count",
    "wistia_last_active",
    "wistia_first_seen",
}


def visitor(key: str, **fields: Any) -> dict[str, Any]:
    """A wistia_visitors record as tap-wistia writes it."""
    identity = {
        "name": "Ann Lee",
        "email": "ann@example.com",
        "org": {"name": "Acme", "title": "CTO"},
    }
    return {
        "visitor_key": key,
        "created_at": "2025-09-01T08:00:00.000000Z",
        "last_active_at": "2025-10-17T12:30:00.000000Z",
        "last_event_key": "ek-3",
        "identifying_event_key": "ek-2",
        "load_count": 7,
        "play_count": 4,
        "visitor_identity": identity,
        "email": "ann@example.com",
        "name": "Ann Lee",
        "org_name": "Acme",
        "org_title": "CTO",
        **fields,
    }


def both_streams(sessions: list[dict[str, Any]], visitors: list[dict[str, Any]]) -> str:
    return singer(sessions, ACTIVITY) + singer(visitors, VISITORS)


def run_text(sandbox: LyticsSandbox, text: str, **settings: Any) -> None:
    TargetLytics(config=config(sandbox, **settings)).listen(io.StringIO(text))


@pytest.fixture
def imported() -> Iterator[LyticsSandbox]:
    with LyticsSandbox(preset="wistia-import") as sandbox:
        yield sandbox


@pytest.fixture
def empty() -> Iterator[LyticsSandbox]:
    with LyticsSandbox(preset="empty") as sandbox:
        yield sandbox


def test_the_visitors_mapping_goes_to_its_own_stream_sharing_the_identifiers():
    mappings = mappings_from_setting(None)
    visitors = mappings["wistia_visitors"]
    assert visitors.lytics_stream == "wistia_visitors"
    assert visitors.timestamp_field == "last_active_at"
    expressions = {name: rule.expression for name, rule in visitors.fields.items()}
    assert expressions["email"] == "email(visitor_identity.email)"
    assert expressions["wistia_visitor_org"] == "visitor_identity.org.name"
    assert set(expressions) == {"wistia_visitor_key", "email", *VISITOR_FIELDS}
    # Shared user fields have one definition: the activity stream's.
    assert (
        visitors.fields["email"].definition
        == mappings["wistia_activity"].fields["email"].definition
    )


def test_on_arrival_from_older_settings_is_still_accepted():
    older = {"wistia_visitors": {"on_arrival": True}}
    assert mappings_from_setting(older) == mappings_from_setting(None)


def test_an_imported_account_passes_check_for_sessions_without_the_visitor_fields(imported):
    run_text(imported, singer([session(1, email="ann@example.com")], ACTIVITY))
    counts = stats(imported)
    assert counts["schema_writes"] == 0
    assert counts["collect_requests"] == 1


def test_visitors_arriving_at_an_account_without_their_fields_stop_the_run_under_check(imported):
    with pytest.raises(LyticsSchemaError) as caught:
        run_text(imported, both_streams([session(1)], [visitor("vk-1")]))
    message = str(caught.value)
    for name in VISITOR_FIELDS:
        assert f"missing field {name}" in message
    assert "missing mapping wistia_visitor_key <- wistia_visitors: visitor_key" in message
    assert "wistia_country" not in message  # the activity's fields are there already
    counts = stats(imported)
    assert counts["schema_writes"] == 0
    assert "wistia_visitors" not in api(imported, "GET", "/v2/stream/names")


def test_apply_sets_up_the_visitors_stream_and_its_fields_join_the_same_profiles(empty):
    sessions = [
        session(1, visitor_key="vk-ann", ended_at="2025-10-17T09:00:00.000000Z"),
        session(2, visitor_key="vk-ann", email="ann@example.com", percent_viewed=1.0),
    ]
    text = both_streams(sessions, [visitor("vk-ann"), visitor("vk-bob", email=None, name=None)])
    run_text(empty, text, schema_mode="apply")
    first_writes = stats(empty)["schema_writes"]
    assert first_writes > 0
    found = {tuple(p["_ids"].get("wistia_visitor_key", [])): p for p in profiles(empty)}
    ann = found[("vk-ann",)]
    assert ann["_ids"]["email"] == ["ann@example.com"]
    assert ann["wistia_visitor_name"] == "Ann Lee"
    assert ann["wistia_visitor_org"] == "Acme"
    assert ann["wistia_visitor_title"] == "CTO"
    assert ann["wistia_load_count"] == 7
    assert ann["wistia_play_count"] == 4
    assert ann["wisita_media_ids"] == ["m-1"]  # the activity's fields, on the same profile
    bob = found[("vk-bob",)]
    assert "email" not in bob["_ids"]
    assert "wistia_visitor_name" not in bob
    # A second run finds everything in place and writes nothing to the schema.
    run_text(empty, text, schema_mode="apply")
    assert stats(empty)["schema_writes"] == first_writes


def test_the_visitors_records_carry_wistias_own_field_names():
    mappings = mappings_from_setting(None)
    plan = plan_stream("wistia_visitors", mappings)
    sent = plan.to_lytics(visitor("vk-1"))
    assert sent["visitor_identity"] == {
        "name": "Ann Lee",
        "email": "ann@example.com",
        "org": {"name": "Acme", "title": "CTO"},
    }
    assert sent["load_count"] == 7
    assert sent["last_active_at"] == "2025-10-17T12:30:00.000000Z"
    assert json.dumps(sent)  # plain JSON
