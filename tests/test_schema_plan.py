"""The schema plan, pure: what the mapping needs against what an account holds.

Every way an account can differ from what the mapping needs: nothing there, all there (under
another spelling), unpublished, conflicting (type, identity, merge op, a mapping reading other
stream fields), other people's drafts; and the messages a run stops with.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from target_lytics.account import LyticsAccount
from target_lytics.mapping_setting import mappings_from_setting
from target_lytics.preflight import check_message, conflict_message, plan_lines, schema_tag
from target_lytics.schema import (
    AccountField,
    AccountMapping,
    AccountSchema,
    MappingSpec,
    before_input,
    expr_reads,
    plan_schema,
    required_schema,
    unread_fields,
)

REQUIRED = required_schema(before_input(mappings_from_setting(None)))
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
    account = with_mapping(account, "email", expr="conversion_data.email")  # reads the same
    assert plan_schema(REQUIRED, account).ready


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


@pytest.mark.parametrize(
    ("held", "problem"),
    [
        (
            AccountField("wistia_percent_viewed", "string", "latest"),
            "field wistia_percent_viewed: the account has it as string, the mapping needs number",
        ),
        (
            AccountField("wistia_percent_viewed", "number", "max"),
            "field wistia_percent_viewed: the account merges it by max, the mapping needs latest",
        ),
        (
            AccountField("wisita_media_ids", "[]string", "capped"),
            "field wisita_media_ids: the account merges it by capped, the mapping needs merge",
        ),
        (
            AccountField("email", "string", "latest", identifier=False),
            (
                "field email: the account's field is not an identifier; the mapping needs an "
                "identifier"
            ),
        ),
        (
            AccountField("wistia_city", "string", None, identifier=True),
            (
                "field wistia_city: the account's field is an identifier; the mapping needs a "
                "plain field"
            ),
        ),
    ],
)
def test_a_field_of_another_type_identity_or_merge_op_is_a_conflict(held, problem):
    plan = plan_schema(REQUIRED, held_as_required(**{held.name: held}))
    assert [conflict.describe() for conflict in plan.conflicts] == [problem]
    assert plan.create_fields == ()
    assert not plan.ready


def test_a_mapping_reading_other_stream_fields_is_a_conflict():
    account = with_mapping(held_as_required(), "email", expr="email(email)")
    [conflict] = plan_schema(REQUIRED, account).conflicts
    assert conflict.subject == "mapping email <- wistia_activity"
    assert "`email(email)`" in conflict.problem
    assert "conversion_data.email" in conflict.problem
    assert plan_schema(REQUIRED, account).create_mappings == ()  # never a second one


def test_a_guarded_mapping_doing_the_same_counts_as_there():
    account = with_mapping(held_as_required(), "wistia_org", guard_expr="org != ''")
    assert plan_schema(REQUIRED, account).ready


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
    assert plan.foreign_drafts == ()


def test_other_peoples_unpublished_changes_are_told_apart():
    account = held_as_required(
        draft_score=AccountField("draft_score", "int", "sum", status="new"),
        old_field=AccountField("old_field", "string", status="deleted"),
    )
    extra = AccountMapping("draft_score", "clicks", "count(x)", status="modified")
    account = AccountSchema(account.fields, (*account.mappings, extra))
    plan = plan_schema(REQUIRED, account)
    assert plan.ready  # nothing of ours is missing: nothing would be published
    assert plan.foreign_drafts == (
        "field draft_score (new)",
        "field old_field (deleted)",
        "mapping draft_score <- clicks: count(x) (modified)",
    )


# --- what the mapping needs ---------------------------------------------------------------------


def test_the_stream_setting_is_the_stream_the_mappings_read():
    required = required_schema(before_input(mappings_from_setting(None)), stream_setting="videos")
    assert {m.stream for m in required.mappings} == {"videos"}
    assert required.streams == ("videos",)


def test_a_field_fed_from_two_streams_is_one_field_with_two_mappings():
    override = {"signups": {"fields": {"email": {"from": "email", "as": "email"}, "plan": "plan"}}}
    required = required_schema(before_input(mappings_from_setting(override)))
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
    message = check_message(ACCOUNT, plan_schema(REQUIRED, AccountSchema(fields, mappings)))
    assert message.startswith(
        "The Lytics account acct-1 (aid 1234, Production) lacks what the mapping setting needs"
    )
    assert "nothing was sent (schema_mode: check)" in message
    assert "\n  - missing field wistia_org (string, latest)" in message
    assert "\n  - missing mapping wistia_org <- wistia_activity: org" in message
    assert "\n  - conflicting field wistia_percent_viewed: the account has it as string" in message
    assert "set schema_mode to apply" in message
    assert "Schema Studio" in message
    assert "never changes or deletes" in message


def test_apply_conflicts_say_nothing_was_changed():
    account = held_as_required(email=AccountField("email", "number", None, identifier=True))
    message = conflict_message(ACCOUNT, plan_schema(REQUIRED, account))
    assert "nothing was changed" in message
    assert "field email: the account has it as number, the mapping needs string" in message


def test_the_dry_run_plan_says_what_apply_would_do_and_what_check_would_do():
    lines = plan_lines(plan_schema(REQUIRED, AccountSchema()), "check")
    assert lines[0] == "create field wistia_country (string, latest)"
    assert "new identifier fields: Lytics would join profiles on email, wistia_visitor_key" in lines
    assert lines[-2].startswith("publish once")
    assert lines[-1] == "schema_mode check would stop this run before sending anything"
    assert plan_lines(plan_schema(REQUIRED, held_as_required()), "apply") == [
        "nothing to do: the account holds every field and mapping the mapping needs"
    ]


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
