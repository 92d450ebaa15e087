"""The schema step's decisions, against a recording stand-in for the schema API.

The HTTP scenarios are in test_target_schema; here are the turns a sandbox does not take on its
own: a field that appears between the read and the create (409), a patch that fails half-way
(it is discarded), writes Lytics accepted but the schema does not show afterwards.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from target_lytics.account import LyticsAccount
from target_lytics.errors import LyticsRequestError
from target_lytics.mapping_setting import mappings_from_setting
from target_lytics.preflight import SchemaStep
from target_lytics.schema import (
    AccountField,
    AccountMapping,
    AccountSchema,
    before_input,
    required_schema,
)
from target_lytics.schema_api import LyticsSchemaError

REQUIRED = required_schema(before_input(mappings_from_setting(None)))
ACCOUNT = LyticsAccount("acct-1", "1", "Prod")


@dataclass
class RecordingApi:
    """Holds an account's schema in memory and records every call, like the real adapter's."""

    held: AccountSchema = field(default_factory=AccountSchema)
    patches: bool = False
    exists: dict[str, AccountField] = field(default_factory=dict)  # appear on create: 409
    fail_on: str = ""
    forget_writes: bool = False
    calls: list[str] = field(default_factory=list)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail_on:
            msg = f"Lytics refused {name}: HTTP 400"
            raise LyticsRequestError(msg)

    def read(self) -> AccountSchema:
        self._call("read")
        return self.held

    def uses_patches(self) -> bool:
        self._call("uses_patches")
        return self.patches

    def field(self, name: str) -> AccountField | None:
        self._call(f"field {name}")
        return self.exists.get(name)

    def _add_field(self, spec: Any) -> None:
        if not self.forget_writes:
            made = AccountField(
                spec.name,
                spec.definition.type,
                spec.definition.merge_op,
                spec.definition.identifier,
            )
            self.held = AccountSchema({**self.held.fields, spec.name: made}, self.held.mappings)

    def _add_mapping(self, spec: Any) -> None:
        if not self.forget_writes:
            made = AccountMapping(spec.field, spec.stream, spec.expr)
            self.held = AccountSchema(self.held.fields, (*self.held.mappings, made))

    def create_field(self, spec: Any) -> bool:
        self._call(f"create_field {spec.name}")
        if spec.name in self.exists:  # created by someone else meanwhile: it is there now
            there = self.exists[spec.name]
            self.held = AccountSchema({**self.held.fields, spec.name: there}, self.held.mappings)
            return False
        self._add_field(spec)
        return True

    def create_mapping(self, spec: Any) -> bool:
        self._call(f"create_mapping {spec.field}")
        self._add_mapping(spec)
        return True

    def publish(self, tag: str, description: str) -> None:
        self._call("publish")
        assert tag == "target-lytics-20260105-143000"
        assert "14 fields and 14 mappings" in description

    def open_patch(self, tag: str, description: str) -> str:
        self._call("open_patch")
        return "p1"

    def add_field(self, patch_id: str, spec: Any) -> None:
        self._call(f"add_field {spec.name}")
        self._add_field(spec)

    def add_mapping(self, patch_id: str, spec: Any) -> None:
        self._call(f"add_mapping {spec.field}")
        self._add_mapping(spec)

    def apply_patch(self, patch_id: str) -> None:
        self._call("apply_patch")

    def discard_patch(self, patch_id: str) -> None:
        self._call("discard_patch")


def step(api: RecordingApi, mode: str = "apply", *, dryrun: bool = False) -> SchemaStep:
    return SchemaStep(
        api=api,  # type: ignore[arg-type]
        account=ACCOUNT,
        required=REQUIRED,
        mode=mode,  # type: ignore[arg-type]
        dryrun=dryrun,
        logger=logging.getLogger("test"),
        clock=lambda: datetime(2026, 1, 5, 14, 30, tzinfo=UTC),
    )


def test_apply_on_an_empty_account_creates_fields_then_mappings_then_publishes_once():
    api = RecordingApi()
    held = step(api).run()
    names = [spec.name for spec in REQUIRED.fields]
    assert api.calls == [
        "read",
        "uses_patches",
        *(f"create_field {name}" for name in names),
        *(f"create_mapping {name}" for name in names),
        "publish",
        "read",
    ]
    assert len(held.fields) == len(names)


def test_a_patch_account_gets_one_patch_applied():
    api = RecordingApi(patches=True)
    step(api).run()
    assert api.calls[:3] == ["read", "uses_patches", "open_patch"]
    assert api.calls[-2:] == ["apply_patch", "read"]
    assert "publish" not in api.calls


def test_a_patch_that_fails_half_way_is_discarded_and_the_error_stands():
    api = RecordingApi(patches=True, fail_on="add_mapping email")
    with pytest.raises(LyticsRequestError, match="add_mapping email"):
        step(api).run()
    assert api.calls[-1] == "discard_patch"
    assert "apply_patch" not in api.calls


def test_a_field_that_appeared_meanwhile_as_needed_is_used():
    spec = next(spec for spec in REQUIRED.fields if spec.name == "wistia_org")
    same = AccountField("wistia_org", "string", "latest")
    api = RecordingApi(exists={spec.name: same})
    step(api).run()
    assert "field wistia_org" in api.calls
    assert api.calls.count("publish") == 1


def test_a_field_that_appeared_meanwhile_and_conflicts_stops_before_the_publish():
    api = RecordingApi(exists={"wistia_org": AccountField("wistia_org", "number", "max")})
    with pytest.raises(
        LyticsSchemaError, match=r"Field wistia_org appeared .* Nothing was published"
    ):
        step(api).run()
    assert "publish" not in api.calls
    assert not any(call.startswith("create_mapping") for call in api.calls)


def test_writes_the_schema_does_not_show_afterwards_stop_the_run():
    api = RecordingApi(forget_writes=True)
    with pytest.raises(LyticsSchemaError, match="Lytics accepted the schema changes but"):
        step(api).run()


def test_a_patch_account_with_our_changes_unpublished_in_a_draft_asks_for_a_hand():
    draft = AccountField("wistia_org", "string", "latest", status="new")
    api = RecordingApi(held=AccountSchema({"wistia_org": draft}), patches=True)
    with pytest.raises(LyticsSchemaError, match="uses schema patches but its draft holds"):
        step(api).run()
    assert "open_patch" not in api.calls


@pytest.mark.parametrize("mode", ["check", "apply"])
def test_a_dry_run_only_reads(mode):
    api = RecordingApi()
    step(api, mode, dryrun=True).run()
    assert api.calls == ["read"]


def test_check_never_writes():
    api = RecordingApi()
    with pytest.raises(LyticsSchemaError, match="schema_mode: check"):
        step(api, "check").run()
    assert api.calls == ["read"]
