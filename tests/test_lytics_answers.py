"""Reading Lytics' answers tolerantly, and writing its documented request shapes (pure).

Lytics' public material shows more than one shape for the same answer (a list or an object,
`Field` or `field` or `id`, `MergeOp` or `mergeop`); the target accepts each, and sends exactly
the documented bodies.
"""

from __future__ import annotations

import pytest

from target_lytics.account import (
    LyticsAccount,
    LyticsAccountError,
    check_account_id,
    own_account,
    read_accounts,
    unknown_own_account,
)
from target_lytics.answer import Answer, describe
from target_lytics.mapping_setting import mappings_from_setting
from target_lytics.schema import AccountField, AccountMapping, PendingChange, required_schema
from target_lytics.schema_api import (
    field_body,
    items_of,
    mapping_body,
    patch_id_of,
    read_field,
    read_mapping,
    read_patch,
    read_pending,
    setting_value,
)

PROD = {"id": "acct-prod", "aid": 1, "name": "Production"}
DEV = {"id": "acct-dev", "aid": 2, "name": "Development"}
REQUIRED = {spec.name: spec for spec in required_schema(mappings_from_setting(None)).fields}


# --- accounts ---------------------------------------------------------------------------------


def test_the_account_listing_is_read_as_a_list_or_as_one_object():
    assert read_accounts([PROD, DEV]) == [
        LyticsAccount("acct-prod", "1", "Production"),
        LyticsAccount("acct-dev", "2", "Development"),
    ]
    assert read_accounts(PROD) == [LyticsAccount("acct-prod", "1", "Production")]
    assert read_accounts({"Id": "A", "Aid": 7, "Name": "Caps"}) == [LyticsAccount("A", "7", "Caps")]
    assert read_accounts([{"aid": 9, "parent_aid": 9}]) == [LyticsAccount("9", "9", "", "9")]
    assert read_accounts([{"name": "no id"}, "junk", None]) == []


def test_the_tokens_own_account_is_the_only_one_or_in_a_family_its_own_parent():
    assert own_account(read_accounts([PROD])) == LyticsAccount("acct-prod", "1", "Production")
    family = [{**PROD, "parentaid": 1}, {**DEV, "parentaid": 1}]
    assert own_account(read_accounts(family)) == LyticsAccount("acct-prod", "1", "Production", "1")
    reversed_family = own_account(read_accounts(family[::-1]))  # not by position
    assert reversed_family is not None
    assert reversed_family.id == "acct-prod"
    assert own_account(read_accounts([PROD, DEV])) is None  # nobody says which
    assert own_account([]) is None


@pytest.mark.parametrize("named", [None, "", "acct-prod", "1", " acct-prod "])
def test_account_id_naming_the_tokens_own_account_by_id_or_aid_passes(named):
    check_account_id(LyticsAccount("acct-prod", "1", "Production"), named)


def test_account_id_naming_another_account_is_refused_naming_both():
    with pytest.raises(LyticsAccountError) as caught:
        check_account_id(LyticsAccount("acct-prod", "1", "Production"), "acct-dev")
    message = str(caught.value)
    assert "account_id is 'acct-dev'" in message
    assert "belongs to the Lytics account acct-prod (aid 1, Production)" in message
    assert "set account_id to 'acct-prod'" in message
    assert "nothing was sent" in message


def test_account_id_cannot_be_checked_when_lytics_does_not_say_which_account_is_the_tokens():
    message = str(unknown_own_account(read_accounts([PROD, DEV]), "acct-dev"))
    assert "acct-prod (aid 1, Production); acct-dev (aid 2, Development)" in message
    assert "the guard cannot be checked" in message


# --- Lytics' words ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "quoted"),
    [
        (
            (
                b'{"status": 400, "errors": [{"code": "BADREQ-001", "message": "Identifier Field '
                b'cannot define a Merge Operation.", "level": "warn"}], "request_id": "r1"}'
            ),
            "HTTP 400 Identifier Field cannot define a Merge Operation., request_id r1",
        ),
        (
            b'{"data": null, "status": 403, "message": "Not authorized", "request_id": "r2"}',
            "HTTP 403 Not authorized, request_id r2",
        ),
        (b'{"status": 401, "message": "Not authorized"}', "HTTP 401 Not authorized"),
        (b'{"status": 500, "errors": ["boom"]}', "HTTP 500 boom"),
        (b"<html>Bad Gateway</html>", "HTTP 502 <html>Bad Gateway</html>"),
    ],
)
def test_errors_are_quoted_in_lytics_own_words_from_either_envelope(body, quoted):
    status = int(quoted.split()[1])
    assert describe(Answer(status, "Reason", {}, body)) == quoted


# --- listings ---------------------------------------------------------------------------------


def test_listings_are_read_as_lists_wrapped_lists_or_objects_by_name():
    item = {"id": "email", "type": "string"}
    assert items_of([item, "junk"]) == [item]
    assert items_of({"fields": [item]}, "fields") == [item]
    assert items_of({"Fields": [item]}, "fields") == [item]
    assert items_of({"email": {"type": "string"}}, "fields") == [
        {"_key": "email", "type": "string"}
    ]
    assert items_of(None) == []


@pytest.mark.parametrize(
    "raw",
    [
        {"id": "score", "type": "number", "mergeop": "max", "is_identifier": False},
        {"Field": "score", "Type": "number", "MergeOp": "max", "IsIdentifier": False},
        {"field": "score", "type": "number", "merge_op": "max"},
        {"_key": "score", "type": "number", "mergeop": "max"},
    ],
)
def test_a_field_is_read_in_any_documented_key_casing(raw):
    assert read_field(raw) == AccountField("score", "number", "max", identifier=False)


def test_a_fields_identity_and_edit_status_are_read():
    raw = {"id": "email", "type": "string", "IsIdentifier": "true", "edit_status": "New"}
    assert read_field(raw) == AccountField("email", "string", None, identifier=True, status="new")
    assert read_field({"id": "no_type"}) is None
    assert read_field({"type": "string"}) is None


def test_a_mapping_is_read_with_its_guard_and_status():
    raw = {"Field": "plan", "Stream": "s", "Expr": "plan", "guard_expr": "plan != ''"}
    assert read_mapping(raw) == AccountMapping("plan", "s", "plan", "plan != ''")
    assert read_mapping({"field": "plan", "stream": "s"}) is None


@pytest.mark.parametrize(
    ("data", "patch_id"),
    [
        ({"id": "abc"}, "abc"),
        ({"ID": 12}, "12"),
        ({"patch_id": "p-1"}, "p-1"),
        ("p-2", "p-2"),
        ({"tag": "x"}, ""),
        (None, ""),
    ],
)
def test_a_new_patch_id_is_found_where_it_is(data, patch_id):
    assert patch_id_of(data) == patch_id


@pytest.mark.parametrize(
    ("data", "value"),
    [
        ({"slug": "enable_schema_patches", "value": True}, True),
        ({"slug": "enable_schema_patches", "value": False}, False),
        ({"slug": "enable_schema_patches", "value": None}, False),
        ({"Value": "true"}, True),
        (True, True),
        (None, False),
    ],
)
def test_the_patches_setting_is_true_only_when_it_says_so(data, value):
    assert setting_value(data) is value


def test_the_draft_diff_is_read_as_groups_of_fields_and_mappings():
    data = {
        "fields": [{"id": "plan", "type": "string", "mergeop": "latest", "edit_status": "new"}],
        "mappings": {"m1": {"field": "plan", "stream": "s", "expr": "plan", "status": "deleted"}},
    }
    assert read_pending(data) == [
        PendingChange(
            "field", "plan", "new", field=AccountField("plan", "string", "latest", status="new")
        ),
        PendingChange(
            "mapping", "plan <- s: plan", "deleted", mapping=AccountMapping("plan", "s", "plan")
        ),
    ]


def test_the_draft_diff_is_read_as_a_list_of_changes_with_before_and_after():
    data = {
        "changes": [
            {"kind": "field", "action": "create", "name": "tier", "before": None,
             "after": {"id": "tier", "type": "int"}},
            {"kind": "field", "name": "gone", "before": {"id": "gone", "type": "string"}},
            {"object_type": "Mapping", "op": "update",
             "old": {"field": "a", "stream": "s", "expr": "x"},
             "new": {"field": "a", "stream": "s", "expr": "y"}},
            {"field": "b", "stream": "s", "expr": "z"},
        ]
    }  # fmt: skip
    changes = read_pending(data)
    assert [(c.kind, c.name, c.status) for c in changes] == [
        ("field", "tier", "create"),
        ("field", "gone", "deleted"),
        ("mapping", "a <- s: y", "update"),
        ("mapping", "b <- s: z", ""),
    ]
    assert read_pending(data["changes"]) == changes  # a bare list too
    assert read_pending(None) == read_pending({}) == read_pending({"fields": []}) == []


def test_a_patch_view_shows_its_fields_mappings_and_state():
    data = {
        "id": "p1",
        "tag": "target-lytics-1",
        "state": "Applied",
        "fields": [{"id": "plan", "type": "string", "edit_status": "new"}],
        "mappings": [{"field": "plan", "stream": "s", "expr": "plan"}],
    }
    view = read_patch(data)
    assert (view.id, view.tag, view.state, view.fields) == (
        "p1",
        "target-lytics-1",
        "applied",
        frozenset({"plan"}),
    )
    assert view.mappings == (AccountMapping("plan", "s", "plan"),)
    assert read_patch(None).fields == frozenset()


@pytest.mark.parametrize(
    ("raw", "capacity"),
    [({"capacity": 0}, 0), ({"Capacity": "50"}, 50), ({"max_size": 7}, 7), ({}, None)],
)
def test_a_capacity_is_read_where_the_listing_shows_one(raw, capacity):
    read = read_field({"id": "tags", "type": "[]string", **raw})
    assert read is not None
    assert read.capacity == capacity


# --- the bodies sent ------------------------------------------------------------------------------


def test_field_bodies_use_lytics_lowercase_keys_on_every_path():
    assert field_body(REQUIRED["wistia_city"]) == {
        "id": "wistia_city",
        "type": "string",
        "shortdesc": "Wistia Last Viewed City",
        "is_identifier": False,
        "is_pii": False,
        "mergeop": "latest",
    }
    assert field_body(REQUIRED["wisita_media_percent"])["mergeop"] == "merge"


def test_identifiers_are_sent_without_a_merge_op():
    assert "mergeop" not in field_body(REQUIRED["email"])
    assert "mergeop" not in field_body(REQUIRED["wistia_visitor_key"])
    assert field_body(REQUIRED["email"])["is_identifier"] is True
    assert field_body(REQUIRED["email"])["is_pii"] is True


def test_a_bool_field_is_sent_without_a_merge_op():
    [spec] = required_schema(
        mappings_from_setting({"s": {"fields": {"opted_in": {"from": "opt", "type": "bool"}}}}),
    ).fields[-1:]
    assert spec.definition.merge_op is None
    assert "mergeop" not in field_body(spec)


def test_a_mapping_body_is_field_stream_expr():
    [spec] = [
        m
        for m in required_schema(mappings_from_setting(None)).mappings
        if m.field == "wistia_media_duation"
    ]
    assert mapping_body(spec) == {
        "field": "wistia_media_duation",
        "stream": "wistia_activity",
        "expr": "map(media_id, duration_viewed)",
    }
