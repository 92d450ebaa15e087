"""The schema step's decisions, against a recording stand-in for the schema API.

The HTTP scenarios are in test_target_schema; here are the turns a sandbox does not take on its
own, each at every write: an answer lost and the write done (read back, not resent), lost and
not done (sent once more), lost twice; a patch that fails half-way (discarded); someone's draft
appearing between the first read and the publish; writes Lytics accepted but the schema does not
show afterwards; warnings said once a run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from target_lytics.account import LyticsAccount
from target_lytics.errors import LyticsAnswerLostError, LyticsRequestError
from target_lytics.mapping_setting import mappings_from_setting
from target_lytics.schema import (
    AccountField,
    AccountMapping,
    AccountSchema,
    PendingChange,
    required_schema,
)
from target_lytics.schema_api import LyticsSchemaError, PatchView, settings_refused_message
from target_lytics.schema_step import SchemaContext, SchemaStep

REQUIRED = required_schema({"wistia_activity": mappings_from_setting(None)["wistia_activity"]})
NAMES = [spec.name for spec in REQUIRED.fields]
ACCOUNT = LyticsAccount("acct-1", "1", "Prod")
THEIRS = PendingChange("field", "their_field", "new", field=AccountField("their_field", "int"))


@dataclass
class RecordingApi:
    """Holds an account's schema in memory and records every call, like the real adapter's.

    ``lose`` maps a write to (how many of its sends lose their answer, whether those are done).
    """

    held: AccountSchema = field(default_factory=AccountSchema)
    patches: bool | None = False
    fail_on: str = ""
    lose: dict[str, tuple[int, bool]] = field(default_factory=dict)  # call -> (times, done)
    forget_writes: bool = False
    pending_before: list[PendingChange] = field(default_factory=list)
    pending_later: list[PendingChange] = field(default_factory=list)  # appears after a write
    applied: bool = False
    calls: list[str] = field(default_factory=list)
    draft: list[PendingChange] = field(default_factory=list)
    in_patch: list[str] = field(default_factory=list)

    def _write(self, name: str, action: Any) -> None:
        """One write: done, or lost as ``lose`` says (done or not), or refused."""
        self.calls.append(name)
        if name == self.fail_on:
            msg = f"Lytics refused {name}: HTTP 400"
            raise LyticsRequestError(msg)
        times, done = self.lose.get(name, (0, True))
        if times:
            self.lose[name] = (times - 1, done)
            if done:
                action()
            msg = f"Lytics gave no answer to {name} (connection reset); it may have been done"
            raise LyticsAnswerLostError(msg)
        action()

    # -- reads

    def read(self) -> AccountSchema:
        self.calls.append("read")
        return self.held

    def mappings(self) -> tuple[AccountMapping, ...]:
        self.calls.append("mappings")
        return self.held.mappings

    def field(self, name: str) -> AccountField | None:
        self.calls.append(f"field {name}")
        return self.held.fields.get(name)

    def pending(self) -> list[PendingChange]:
        self.calls.append("pending")
        later = self.pending_later if any(c.startswith("create") for c in self.calls) else []
        return [*self.pending_before, *self.draft, *later]

    def patch(self, patch_id: str) -> PatchView:
        self.calls.append("patch")
        mappings = tuple(AccountMapping(*name.split("|")) for name in self.in_patch if "|" in name)
        fields = frozenset(name for name in self.in_patch if "|" not in name)
        return PatchView(fields, mappings, "applied" if self.applied else "draft", "t", patch_id)

    def find_patch(self, tag: str) -> str | None:
        self.calls.append("find_patch")
        return "p1" if "open_patch" in self.calls else None

    # -- writes

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

    def create_field(self, spec: Any) -> None:
        def action() -> None:
            self._add_field(spec)
            self.draft.append(PendingChange("field", spec.name, "new"))

        self._write(f"create_field {spec.name}", action)

    def create_mapping(self, spec: Any) -> None:
        def action() -> None:
            self._add_mapping(spec)
            mapping = AccountMapping(spec.field, spec.stream, spec.expr)
            self.draft.append(PendingChange("mapping", spec.describe(), "new", mapping=mapping))

        self._write(f"create_mapping {spec.field}", action)

    def publish(self, tag: str, description: str) -> None:
        assert tag == "target-lytics-20260105-143000"
        assert "fields and 14 mappings" in description

        def action() -> None:
            self.draft.clear()
            fields = {k: replace(v, status="") for k, v in self.held.fields.items()}
            self.held = AccountSchema(fields, self.held.mappings)

        self._write("publish", action)

    def open_patch(self, tag: str, description: str) -> str:
        self._write("open_patch", lambda: None)
        return "p1"

    def add_field(self, patch_id: str, spec: Any) -> None:
        def action() -> None:
            self._add_field(spec)
            self.in_patch.append(spec.name)

        self._write(f"add_field {spec.name}", action)

    def add_mapping(self, patch_id: str, spec: Any) -> None:
        def action() -> None:
            self._add_mapping(spec)
            self.in_patch.append(f"{spec.field}|{spec.stream}|{spec.expr}")

        self._write(f"add_mapping {spec.field}", action)

    def apply_patch(self, patch_id: str) -> None:
        self._write("apply_patch", lambda: setattr(self, "applied", True))

    def discard_patch(self, patch_id: str) -> None:
        self.calls.append("discard_patch")


def step(
    api: RecordingApi,
    mode: str = "apply",
    *,
    dryrun: bool = False,
    reported: set[str] | None = None,
    refused: bool = False,
) -> SchemaStep:
    def patches() -> bool:
        api.calls.append("patches?")
        if refused:
            raise LyticsSchemaError(settings_refused_message("acct-1", "HTTP 403 Not authorized"))
        return bool(api.patches)

    context = SchemaContext(
        api=api,  # type: ignore[arg-type]
        account=ACCOUNT,
        mode=mode,  # type: ignore[arg-type]
        dryrun=dryrun,
        logger=logging.getLogger("test"),
        patches=patches,
        reported=set() if reported is None else reported,
        clock=lambda: datetime(2026, 1, 5, 14, 30, tzinfo=UTC),
    )
    return SchemaStep(context, REQUIRED)


def run(api: RecordingApi, mode: str = "apply", **options: Any) -> AccountSchema:
    return step(api, mode, **options).run(api.held)


def test_apply_on_a_direct_account_checks_the_draft_writes_checks_again_publishes_once():
    api = RecordingApi()
    held = run(api)
    assert api.calls == [
        "patches?",
        "pending",
        *(f"create_field {name}" for name in NAMES),
        *(f"create_mapping {name}" for name in NAMES),
        "pending",
        "publish",
        "read",
    ]
    assert len(held.fields) == len(NAMES)


def test_a_patch_account_gets_one_patch_applied_and_no_look_at_the_shared_draft():
    api = RecordingApi(patches=True)
    run(api)
    assert api.calls[:2] == ["patches?", "open_patch"]
    assert api.calls[-2:] == ["apply_patch", "read"]
    assert "publish" not in api.calls
    assert "pending" not in api.calls


def test_a_patch_that_fails_half_way_is_discarded_and_the_error_stands():
    api = RecordingApi(patches=True, fail_on="add_mapping email")
    with pytest.raises(LyticsRequestError, match="add_mapping email"):
        run(api)
    assert api.calls[-1] == "discard_patch"
    assert "apply_patch" not in api.calls


def test_an_unreadable_publish_mode_stops_before_any_write_naming_the_setting():
    api = RecordingApi()
    with pytest.raises(LyticsSchemaError) as caught:
        run(api, refused=True)
    message = str(caught.value)
    assert "enable_schema_patches" in message
    assert "set schema_patches to true" in message
    assert api.calls == ["patches?"]


# --- someone else's draft -----------------------------------------------------------------------


def test_someone_elses_draft_stops_a_direct_apply_before_any_write():
    api = RecordingApi(pending_before=[THEIRS])
    with pytest.raises(LyticsSchemaError, match=r"did not make:\n  - field their_field \(new\)"):
        run(api)
    assert api.calls == ["patches?", "pending"]


def test_a_draft_change_appearing_during_the_writes_stops_the_publish():
    api = RecordingApi(pending_later=[THEIRS])
    with pytest.raises(LyticsSchemaError) as caught:
        run(api)
    assert "their_field" in str(caught.value)
    assert "own changes stay unpublished in the draft" in str(caught.value)
    assert "publish" not in api.calls
    assert api.calls[-1] == "pending"


def test_our_own_changes_left_in_the_draft_by_an_interrupted_run_are_published():
    held = AccountSchema(
        {"wistia_org": AccountField("wistia_org", "string", "latest", status="new")}
    )
    api = RecordingApi(held=held, pending_before=[PendingChange("field", "wistia_org", "new")])
    run(api)
    assert "create_field wistia_org" not in api.calls
    assert api.calls.count("publish") == 1


# --- lost answers -------------------------------------------------------------------------------


def test_a_field_create_whose_answer_is_lost_but_done_is_read_back_not_resent():
    api = RecordingApi(lose={"create_field wistia_org": (1, True)})
    run(api)
    assert api.calls.count("create_field wistia_org") == 1
    at = api.calls.index("create_field wistia_org")
    assert api.calls[at + 1] == "field wistia_org"
    assert api.calls.count("publish") == 1


def test_a_field_create_whose_answer_is_lost_and_not_done_is_sent_once_more():
    api = RecordingApi(lose={"create_field wistia_org": (1, False)})
    run(api)
    assert api.calls.count("create_field wistia_org") == 2
    assert api.calls.count("publish") == 1


def test_a_write_lost_twice_and_not_done_stops_before_the_publish():
    api = RecordingApi(lose={"create_mapping email": (2, False)})
    with pytest.raises(LyticsSchemaError, match="its answer was lost twice") as caught:
        run(api)
    assert "nothing was published or sent" in str(caught.value)
    assert "publish" not in api.calls


def test_a_field_read_back_as_another_type_stops_naming_the_conflict():
    api = RecordingApi(lose={"create_field wistia_org": (1, False)})
    api.held = AccountSchema()

    def someone_else(name: str) -> AccountField | None:
        api.calls.append(f"field {name}")
        return AccountField(name, "number", "max")

    api.field = someone_else  # type: ignore[method-assign]
    with pytest.raises(LyticsSchemaError, match=r"Field wistia_org appeared .* Nothing was"):
        run(api)
    assert "publish" not in api.calls


def test_a_mapping_create_whose_answer_is_lost_but_done_is_not_resent():
    api = RecordingApi(lose={"create_mapping email": (1, True)})
    run(api)
    assert api.calls.count("create_mapping email") == 1
    assert "mappings" in api.calls


def test_a_publish_whose_answer_is_lost_but_done_is_not_resent():
    api = RecordingApi(lose={"publish": (1, True)})
    run(api)
    assert api.calls.count("publish") == 1


def test_patch_writes_whose_answers_are_lost_are_read_back_from_the_patch():
    lost = {"open_patch": (1, True), "add_field email": (1, True), "apply_patch": (1, True)}
    lost |= {"add_mapping email": (1, False)}
    api = RecordingApi(patches=True, lose=lost)
    run(api)
    assert api.calls.count("open_patch") == 1
    assert "find_patch" in api.calls
    assert api.calls.count("add_field email") == 1
    assert api.calls.count("add_mapping email") == 2
    assert api.calls.count("apply_patch") == 1
    assert "discard_patch" not in api.calls


# --- check, dry runs, confirmation ----------------------------------------------------------------


def test_writes_the_schema_does_not_show_afterwards_stop_the_run():
    api = RecordingApi(forget_writes=True)
    with pytest.raises(LyticsSchemaError, match="Lytics accepted the schema changes but"):
        run(api)


def test_a_patch_account_with_our_changes_unpublished_in_a_draft_asks_for_a_hand():
    draft = AccountField("wistia_org", "string", "latest", status="new")
    api = RecordingApi(held=AccountSchema({"wistia_org": draft}), patches=True)
    with pytest.raises(LyticsSchemaError, match="uses schema patches but its draft holds"):
        run(api)
    assert "open_patch" not in api.calls


def test_a_dry_run_of_apply_reads_the_mode_and_the_draft_and_writes_nothing(caplog):
    caplog.set_level(logging.INFO)
    api = RecordingApi(pending_before=[THEIRS])
    run(api, dryrun=True)
    assert api.calls == ["patches?", "pending"]
    plan = [r.getMessage() for r in caplog.records if "schema plan" in r.getMessage()]
    assert plan[0].endswith("create field wistia_country (string, latest)")
    assert any("join profiles on email, wistia_visitor_key" in line for line in plan)
    assert plan[-1].endswith(
        "apply would stop before publishing: the draft holds field their_field (new), which "
        "target-lytics did not make"
    )


def test_a_dry_run_says_when_the_mode_cannot_be_read(caplog):
    caplog.set_level(logging.INFO)
    run(RecordingApi(), dryrun=True, refused=True)
    assert "apply would stop here: target-lytics cannot read" in caplog.records[-1].getMessage()


def test_a_dry_run_of_check_only_reads(caplog):
    caplog.set_level(logging.INFO)
    api = RecordingApi()
    run(api, "check", dryrun=True)
    assert api.calls == []
    assert (
        caplog.records[-1]
        .getMessage()
        .endswith("schema_mode check would stop this run before sending anything")
    )


def test_check_never_writes():
    api = RecordingApi()
    with pytest.raises(LyticsSchemaError, match="schema_mode: check"):
        run(api, "check")
    assert api.calls == []


def test_differences_are_warned_about_once_a_run_and_the_run_goes_on(caplog):
    api = RecordingApi()
    run(api)
    held = api.held
    fields = dict(held.fields)
    fields["wisita_media_percent"] = AccountField(
        "wisita_media_percent", "map[string]number", "latestmap", capacity=0
    )
    api.held = AccountSchema(fields, held.mappings)
    reported: set[str] = set()
    for _ in range(2):
        run(api, "check", reported=reported)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    merges = [w for w in warnings if "merges it by latestmap" in w]
    capacity = [w for w in warnings if "no capacity limit on wisita_media_percent" in w]
    assert len(merges) == len(capacity) == 1
    assert "1,000 attribute values" in capacity[0]
