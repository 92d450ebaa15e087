"""The schema plan, pure: what the mapping needs against what an account holds.

Every way an account can differ from what the mapping needs: nothing there, all there (under
another spelling), unpublished, conflicting (another type, a mapping not reading the stream
field sent), differing only in how profiles merge (merge op, identity, guard, expression: the
run goes on), other people's drafts; and the messages a run stops with.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from target_lytics.account import LyticsAccount
from target_lytics.mapping_setting import mappings_from_setting
from target_lytics.schema import (
    AccountField,
    AccountMapping,
    AccountSchema,
    MappingSpec,
    PendingChange,
    expr_reads,
    foreign_changes,
    plan_schema,
    required_schema,
    unread_fields,
)
from target_lytics.schema_step import check_message, conflict_message, schema_tag

ACTIVITY = {"wistia_activity": mappings_from_setting(None)["wistia_activity"]}
REQUIRED = required_schema(ACTIVITY)
ACCOUNT = LyticsAccount("acct-1", "1234", "Production")


def held_as_required(**overrides: AccountField) -> AccountSchema:
    """An account holding, published, exactly what the default mapping needs."""
    fields = {
        spec.name: AccountField(
            spec.name, spec.definition.type, spec.definition.merge_op, spec.definition.identifier
        )
        for spec in REQUIRED.fields
    }
    fields.update(overrides)
    mappings = tuple(AccountMapping(m.field, m.stream, m.expr) for m in REQUIRED.mappings)
    return AccountSchema(fields, mappings)


def with_mapping(account: AccountSchema, field: str, **changes: str) -> AccountSchema:
    mappings = tuple(replace(m, **changes) if m.field == field else m for m in account.mappings)
    return AccountSchema(account.fields, mappings)


# --- an empty account, a complete one --------------------------------------------------------


def test_an_empty_account_lacks_every_field_and_mapping_in_order():
    plan = plan_schema(REQUIRED, AccountSchema())
    assert [spec.name for spec in plan.create_fields] == [spec.name for spec in REQUIRED.fields]
    assert plan.create_mappings == REQUIRED.mappings
    assert not plan.ready
    assert plan.needs_publish
    assert plan.steps()[0] == "create field wistia_country (string, latest)"
    assert plan.steps()[14] == "create mapping wistia_country <- wistia_activity: country"
    assert len(plan.steps()) == 28


def test_an_account_holding_everything_is_ready():
    plan = plan_schema(REQUIRED, held_as_required())
    assert plan.ready
    assert not plan.needs_publish
    assert plan.steps() == []


def test_other_spellings_of_the_same_schema_are_the_same_schema():
    account = held_as_required(
        wistia_percent_viewed=AccountField("wistia_percent_viewed", "Float", "LATEST"),
        wistia_city=AccountField("wistia_city", "string", None),  # no op: a string's latest
        email=AccountField("email", "string", "latest", identifier=True),  # op not compared
    )
    account = with_mapping(account, "wisita_media_percent", expr="map( media_id,percent_viewed )")
    plan = plan_schema(REQUIRED, account)
    assert plan.ready
    assert plan.differences == ()


def test_another_expression_of_the_same_stream_field_is_a_difference_not_a_conflict():
    account = with_mapping(held_as_required(), "email", expr="conversion_data.email")
    plan = plan_schema(REQUIRED, account)
    assert plan.ready
    assert [d.describe() for d in plan.differences] == [
        (
            "mapping email <- wistia_activity: the account maps it by `conversion_data.email`, the "
            "mapping setting by `email(conversion_data.email)`; the account's mapping is kept"
        )
    ]


def test_unrelated_fields_and_mappings_of_the_account_do_not_matter():
    account = held_as_required(score=AccountField("score", "int", "sum"))
    extra = AccountMapping("score", "clicks", "count(x)")
    account = AccountSchema(account.fields, (*account.mappings, extra))
    assert plan_schema(REQUIRED, account).ready


def test_only_the_missing_part_is_planned():
    account = held_as_required()
    fields = {k: v for k, v in account.fields.items() if k != "wistia_org"}
    mappings = tuple(m for m in account.mappings if m.field not in {"wistia_org", "email"})
    plan = plan_schema(REQUIRED, AccountSchema(fields, mappings))
    assert [spec.name for spec in plan.create_fields] == ["wistia_org"]
    assert [m.field for m in plan.create_mappings] == ["wistia_org", "email"]
    assert plan.conflicts == ()


# --- conflicts ------------------------------------------------------------------------------


def test_a_field_of_another_type_is_a_conflict_the_records_would_not_fit():
    held = AccountField("wistia_percent_viewed", "string", "latest")
    plan = plan_schema(REQUIRED, held_as_required(wistia_percent_viewed=held))
    assert [conflict.describe() for conflict in plan.conflicts] == [
        (
            "field wistia_percent_viewed: the account has it as string, the mapping needs number, "
            "so the records' values would not fit"
        )
    ]
    assert plan.create_fields == ()
    assert not plan.ready


@pytest.mark.parametrize(
    ("held", "difference"),
    [
        (
            AccountField("wistia_percent_viewed", "number", "max"),
            (
                "field wistia_percent_viewed: the account merges it by max, the mapping setting by "
                "latest; the account's choice is kept"
            ),
        ),
        (
            AccountField("wisita_media_percent", "map[string]number", "latestmap"),
            (
                "field wisita_media_percent: the account merges it by latestmap, the mapping "
                "setting by merge; the account's choice is kept"
            ),
        ),
        (
            AccountField("wisita_media_ids", "[]string", "capped"),
            (
                "field wisita_media_ids: the account merges it by capped, the mapping setting by "
                "merge; the account's choice is kept"
            ),
        ),
        (
            AccountField("email", "string", "latest", identifier=False),
            (
                "field email: the account's field is not an identifier (Lytics does not join "
                "profiles on it); the mapping setting makes it an identifier; the account's choice "
                "is kept"
            ),
        ),
        (
            AccountField("wistia_city", "string", None, identifier=True),
            (
                "field wistia_city: the account's field is an identifier (Lytics joins profiles on "
                "it); the mapping setting makes it a plain field; the account's choice is kept"
            ),
        ),
    ],
)
def test_another_merge_op_or_identity_is_a_difference_and_the_account_is_ready(held, difference):
    plan = plan_schema(REQUIRED, held_as_required(**{held.name: held}))
    assert [d.describe() for d in plan.differences] == [difference]
    assert plan.conflicts == ()
    assert plan.ready


def test_a_bools_merge_op_is_never_compared():
    mappings = mappings_from_setting({"s": {"fields": {"opted": {"from": "o", "type": "bool"}}}})
    required = required_schema({"s": mappings["s"]})
    account = AccountSchema(
        {"opted": AccountField("opted", "bool", "oldest")}, (AccountMapping("opted", "s", "o"),)
    )
    plan = plan_schema(required, account)
    assert (plan.ready, plan.differences) == (True, ())


def test_sets_and_maps_shown_with_no_capacity_limit_are_noted():
    account = held_as_required(
        wisita_media_ids=AccountField("wisita_media_ids", "[]string", "merge", capacity=0),
        wistia_media_names=AccountField("wistia_media_names", "[]string", "merge", capacity=50),
        wistia_city=AccountField("wistia_city", "string", "latest", capacity=0),  # no set
    )
    plan = plan_schema(REQUIRED, account)
    assert [held.name for held in plan.unbounded] == ["wisita_media_ids"]
    assert plan.ready


def test_a_mapping_reading_other_stream_fields_is_a_conflict():
    account = with_mapping(held_as_required(), "email", expr="email(email)")
    [conflict] = plan_schema(REQUIRED, account).conflicts
    assert conflict.subject == "mapping email <- wistia_activity"
    assert "`email(email)`" in conflict.problem
    assert "does not read conversion_data.email" in conflict.problem
    assert plan_schema(REQUIRED, account).create_mappings == ()  # never a second one


def test_a_map_reading_the_key_but_another_value_is_a_conflict():
    account = with_mapping(
        held_as_required(), "wisita_media_percent", expr="map(media_id, duration_viewed)"
    )
    [conflict] = plan_schema(REQUIRED, account).conflicts
    assert "does not read percent_viewed" in conflict.problem


def test_a_guarded_mapping_doing_the_same_counts_as_there_with_a_difference():
    account = with_mapping(held_as_required(), "wistia_org", guard_expr="org != ''")
    plan = plan_schema(REQUIRED, account)
    assert plan.ready
    assert [d.describe() for d in plan.differences] == [
        (
            "mapping wistia_org <- wistia_activity: the account maps it only if `org != ''`, the "
            "mapping setting by `org`; the account's mapping is kept"
        )
    ]


# --- drafts -----------------------------------------------------------------------------------


def test_our_fields_and_mappings_in_the_draft_are_unpublished_not_missing():
    account = held_as_required(
        wistia_org=AccountField("wistia_org", "string", "latest", status="new")
    )
    account = with_mapping(account, "wistia_org", status="new")
    plan = plan_schema(REQUIRED, account)
    assert plan.unpublished == (
        "field wistia_org",
        "mapping wistia_org <- wistia_activity: org",
    )
    assert plan.create_fields == plan.create_mappings == ()
    assert plan.needs_publish
    assert not plan.ready


def test_the_drafts_changes_the_target_did_not_make_are_told_apart():
    ours_field = AccountField("wistia_org", "string", "latest", status="new")
    pending = [
        PendingChange("field", "wistia_org", "new", field=ours_field),
        PendingChange("field", "wistia_city", "new"),  # definition shown by the listing
        PendingChange("field", "wistia_state", "new", field=AccountField("wistia_state", "int")),
        PendingChange("field", "draft_score", "new", field=AccountField("draft_score", "int")),
        PendingChange("field", "wistia_country", "deleted"),
        PendingChange(
            "mapping",
            "wistia_org <- wistia_activity: org",
            "create",
            mapping=AccountMapping("wistia_org", "wistia_activity", "org"),
        ),
        PendingChange(
            "mapping",
            "score <- clicks: count(x)",
            "modified",
            mapping=AccountMapping("score", "clicks", "count(x)"),
        ),
        PendingChange("mapping", "m-9", "new"),
    ]
    foreign = foreign_changes(pending, REQUIRED, held_as_required())
    assert [change.describe() for change in foreign] == [
        "field wistia_state (new)",
        "field draft_score (new)",
        "field wistia_country (deleted)",
        "mapping score <- clicks: count(x) (modified)",
        "mapping m-9 (new)",
    ]
    made = frozenset({"draft_score"})  # this run created it: ours, whatever the diff shows
    assert len(foreign_changes(pending, REQUIRED, held_as_required(), made)) == 4


# --- what the mapping needs ---------------------------------------------------------------------


def test_the_stream_setting_is_the_stream_the_mappings_read():
    required = required_schema(ACTIVITY, stream_setting="videos")
    assert {m.stream for m in required.mappings} == {"videos"}
    assert required.streams == ("videos",)


def test_a_field_fed_from_two_streams_is_one_field_with_two_mappings():
    override = {"signups": {"fields": {"email": {"from": "email", "as": "email"}, "plan": "plan"}}}
    mappings = mappings_from_setting(override)
    required = required_schema({k: mappings[k] for k in ("wistia_activity", "signups")})
    assert [spec.name for spec in required.fields].count("email") == 1
    assert required.streams == ("wistia_activity", "signups")
    assert MappingSpec("email", "signups", "email(email)", ("email",)) in required.mappings
    assert MappingSpec("plan", "signups", "plan", ("plan",)) in required.mappings


@pytest.mark.parametrize(
    ("expr", "reads"),
    [
        ("country", {"country"}),
        ("conversion_data.email", {"conversion_data.email"}),
        ("map(media_id, percent_viewed)", {"media_id", "percent_viewed"}),
        ("hash.sha256(email(email))", {"email"}),
        ("email != ''", {"email"}),
        ('oneof(a, `first name`, "lit.eral")', {"a", "first name"}),
        ("tier = 'gold' AND exists(paid)", {"tier", "paid"}),
        ("", set()),
    ],
)
def test_the_stream_fields_an_expression_reads(expr, reads):
    assert expr_reads(expr) == reads


def test_fields_no_mapping_reads_are_listed_for_unmapped_streams():
    account = AccountSchema(
        mappings=(
            AccountMapping("plan", "signups", "plan"),
            AccountMapping("company", "signups", "org.name"),
            AccountMapping("x", "other", "id"),
        )
    )
    names = ["id", "plan", "org", "notes"]
    assert unread_fields("signups", names, account) == ["id", "notes"]
    assert unread_fields("nowhere", names, AccountSchema()) == names


# --- the messages a run stops with ---------------------------------------------------------------


def test_check_names_every_missing_and_conflicting_item_and_both_fixes():
    account = held_as_required(
        wistia_percent_viewed=AccountField("wistia_percent_viewed", "string", "latest")
    )
    fields = {k: v for k, v in account.fields.items() if k != "wistia_org"}
    mappings = tuple(m for m in account.mappings if m.field != "wistia_org")
    plan = plan_schema(REQUIRED, AccountSchema(fields, mappings))
    message = check_message(ACCOUNT, plan, ("wistia_activity",))
    assert message.startswith(
        "The Lytics account acct-1 (aid 1234, Production) lacks what the mapping setting needs "
        "for stream(s) wistia_activity"
    )
    assert "nothing of it was sent (schema_mode: check)" in message
    assert "\n  - missing field wistia_org (string, latest)" in message
    assert "\n  - missing mapping wistia_org <- wistia_activity: org" in message
    assert "\n  - conflicting field wistia_percent_viewed: the account has it as string" in message
    assert "set schema_mode to apply" in message
    assert "Schema Studio" in message
    assert "never changes or deletes" in message
    assert "identifier" not in message  # apply would create none


def test_check_on_an_empty_account_says_apply_would_create_identifiers_and_how_to_avoid_them():
    message = check_message(ACCOUNT, plan_schema(REQUIRED, AccountSchema()), ("wistia_activity",))
    assert "apply would also create the identifier field(s) email, wistia_visitor_key" in message
    assert 'with the mapping setting {"wistia_activity": null}' in message


def test_apply_conflicts_say_nothing_was_changed():
    account = held_as_required(email=AccountField("email", "number", None, identifier=True))
    message = conflict_message(ACCOUNT, plan_schema(REQUIRED, account))
    assert "nothing was changed" in message
    assert "field email: the account has it as number, the mapping needs string" in message


def test_tags_are_kebab_case():
    assert schema_tag(datetime(2026, 1, 5, 14, 30, tzinfo=UTC)) == "target-lytics-20260105-143000"


# --- properties -----------------------------------------------------------------------------------


names = st.sampled_from([spec.name for spec in REQUIRED.fields])


@settings(max_examples=80, deadline=None)
@given(dropped_fields=st.sets(names), dropped_mappings=st.sets(names))
def test_applying_the_plan_makes_the_account_ready(dropped_fields, dropped_mappings):
    full = held_as_required()
    fields = {k: v for k, v in full.fields.items() if k not in dropped_fields}
    mappings = tuple(m for m in full.mappings if m.field not in dropped_fields | dropped_mappings)
    plan = plan_schema(REQUIRED, AccountSchema(fields, mappings))
    assert {spec.name for spec in plan.create_fields} == dropped_fields
    assert {m.field for m in plan.create_mappings} == dropped_fields | dropped_mappings
    created = {
        spec.name: AccountField(
            spec.name, spec.definition.type, spec.definition.merge_op, spec.definition.identifier
        )
        for spec in plan.create_fields
    }
    after = AccountSchema(
        {**fields, **created},
        (*mappings, *(AccountMapping(m.field, m.stream, m.expr) for m in plan.create_mappings)),
    )
    assert plan_schema(REQUIRED, after).ready
