"""Reading Lytics' answers tolerantly, and writing its documented request shapes (pure).

Lytics' public material shows more than one shape for the same answer (a list or an object,
`Field` or `field` or `id`, `MergeOp` or `mergeop`); the target accepts each, and sends exactly
the documented bodies.
"""

from __future__ import annotations

import pytest

from target_lytics.account import LyticsAccount, LyticsAccountError, choose_account, read_accounts
from target_lytics.mapping_setting import mappings_from_setting
from target_lytics.schema import AccountField, AccountMapping, before_input, required_schema
from target_lytics.schema_api import (
    direct_field_body,
    items_of,
    mapping_body,
    patch_field_body,
    patch_id_of,
    read_field,
    read_mapping,
)

PROD = {"id": "acct-prod", "aid": 1, "name": "Production"}
DEV = {"id": "acct-dev", "aid": 2, "name": "Development"}
REQUIRED = {
    spec.name: spec for spec in required_schema(before_input(mappings_from_setting(None))).fields
}


# --- accounts ---------------------------------------------------------------------------------


def test_the_account_listing_is_read_as_a_list_or_as_one_object():
    assert read_accounts([PROD, DEV]) == [
        LyticsAccount("acct-prod", "1", "Production"),
        LyticsAccount("acct-dev", "2", "Development"),
    ]
    assert read_accounts(PROD) == [LyticsAccount("acct-prod", "1", "Production")]
    assert read_accounts({"Id": "A", "Aid": 7, "Name": "Caps"}) == [LyticsAccount("A", "7", "Caps")]
    assert read_accounts([{"aid": 9}]) == [LyticsAccount("9", "9", "")]
    assert read_accounts([{"name": "no id"}, "junk", None]) == []


def test_one_account_is_used_without_account_id():
    assert choose_account(read_accounts([PROD]), None).id == "acct-prod"


@pytest.mark.parametrize("wanted", ["acct-dev", "2"])
def test_account_id_picks_an_account_by_id_or_aid(wanted):
    assert choose_account(read_accounts([PROD, DEV]), wanted).id == "acct-dev"


def test_several_accounts_without_account_id_is_an_error_listing_them():
    with pytest.raises(LyticsAccountError) as caught:
        choose_account(read_accounts([PROD, DEV]), None)
    message = str(caught.value)
    assert "reaches 2 Lytics accounts" in message
    assert "acct-prod (aid 1, Production); acct-dev (aid 2, Development)" in message
    assert "set account_id" in message


def test_an_account_id_the_token_does_not_reach_is_an_error_listing_what_it_reaches():
    with pytest.raises(LyticsAccountError, match=r"account_id 'acct-qa' is not among .*acct-prod"):
        choose_account(read_accounts([PROD]), "acct-qa")


def test_no_account_at_all_is_an_error():
    with pytest.raises(LyticsAccountError, match="reaches no account"):
        choose_account([], None)


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


# --- the bodies sent ------------------------------------------------------------------------------


def test_direct_writes_use_lytics_capitalised_keys():
    assert direct_field_body(REQUIRED["wistia_city"]) == {
        "Field": "wistia_city",
        "Type": "string",
        "ShortDesc": "Wistia Last Viewed City",
        "IsIdentifier": False,
        "IsPII": False,
        "MergeOp": "latest",
    }


def test_patches_use_lower_case_keys():
    assert patch_field_body(REQUIRED["wisita_media_percent"]) == {
        "id": "wisita_media_percent",
        "type": "map[string]number",
        "shortdesc": "Wisita Viewed Media Percent",
        "is_identifier": False,
        "is_pii": False,
        "mergeop": "merge",
    }


def test_identifiers_are_sent_without_a_merge_op():
    assert "MergeOp" not in direct_field_body(REQUIRED["email"])
    assert "mergeop" not in patch_field_body(REQUIRED["wistia_visitor_key"])
    assert direct_field_body(REQUIRED["email"])["IsIdentifier"] is True
    assert direct_field_body(REQUIRED["email"])["IsPII"] is True


def test_a_mapping_body_is_field_stream_expr():
    [spec] = [
        m
        for m in required_schema(before_input(mappings_from_setting(None))).mappings
        if m.field == "wistia_media_duation"
    ]
    assert mapping_body(spec) == {
        "field": "wistia_media_duation",
        "stream": "wistia_activity",
        "expr": "map(media_id, duration_viewed)",
    }
