"""What runs once before the first record is read: the account check and the schema step.

A run that would send records Lytics can only store raw (no published mapping for them) loses
them for profiles: mappings do not apply to data collected before they were published. So
before any input is read the target confirms the token and the account, then, by
``schema_mode``:

- ``check`` (default): reads the account's fields and mappings and stops, with one message
  listing every missing or conflicting field and mapping and the fix, unless the account holds
  all the mapping needs; it writes nothing.
- ``apply``: also creates what is missing (fields, then mappings) and publishes once, or on an
  account with schema patches puts everything in one patch and applies it; then reads the
  schema again to confirm. It never changes or deletes an existing field or mapping: a conflict
  stops the run before any write. A second run finds nothing to do and writes nothing.
- ``off``: no schema call at all (for tokens without schema rights).

With ``dryrun`` the plan is logged and nothing is written to the schema (nor stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Literal

from target_lytics.account import LyticsAccount, choose_account, read_accounts
from target_lytics.errors import LyticsError
from target_lytics.schema import before_input, field_conflict, plan_schema, required_schema
from target_lytics.schema_api import LyticsSchemaError, SchemaApi
from target_lytics.stopping import worker_pool

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from target_lytics.client import LyticsClient
    from target_lytics.mapping import StreamMapping
    from target_lytics.schema import AccountSchema, RequiredSchema, SchemaPlan

SchemaMode = Literal["check", "apply", "off"]
SCHEMA_MODES: Final[tuple[SchemaMode, ...]] = ("check", "apply", "off")

_APPLY_FIX: Final = (
    "set schema_mode to apply (target-lytics then creates what is missing: fields, then "
    "mappings, one publish; it never changes or deletes existing ones), or create them in "
    "Lytics' Schema Studio"
)
_CONFLICT_FIX: Final = (
    "point the mapping setting's row at another user field, or change the account's field or "
    "mapping in Lytics' Schema Studio; target-lytics never changes or deletes existing fields "
    "and mappings"
)


@dataclass(frozen=True, slots=True)
class Preflight:
    """What the run learnt before reading input: its account, and its schema (None: off)."""

    account: LyticsAccount
    schema: AccountSchema | None


def _bullets(lines: list[str]) -> str:
    return "".join(f"\n  - {line}" for line in lines)


def check_message(account: LyticsAccount, plan: SchemaPlan) -> str:
    """Why ``check`` stops: every missing and conflicting field and mapping, and the fixes."""
    lines = [f"missing field {spec.describe()}" for spec in plan.create_fields]
    lines += [f"missing mapping {spec.describe()}" for spec in plan.create_mappings]
    lines += [f"unpublished {item}" for item in plan.unpublished]
    lines += [f"conflicting {conflict.describe()}" for conflict in plan.conflicts]
    fixes = []
    if plan.create_fields or plan.create_mappings or plan.unpublished:
        fixes.append(f"for what is missing, {_APPLY_FIX}")
    if plan.conflicts:
        fixes.append(f"for a conflict, {_CONFLICT_FIX}")
    return (
        f"The Lytics account {account.describe()} lacks what the mapping setting needs, so "
        f"nothing was sent (schema_mode: check):{_bullets(lines)}\nFix: {'; '.join(fixes)}."
    )


def conflict_message(account: LyticsAccount, plan: SchemaPlan) -> str:
    """Why ``apply`` stops on conflicts, before any write."""
    lines = [conflict.describe() for conflict in plan.conflicts]
    return (
        f"target-lytics cannot set up the schema of the Lytics account {account.describe()} "
        f"(schema_mode: apply); nothing was changed:{_bullets(lines)}\nFix: {_CONFLICT_FIX}."
    )


def plan_lines(plan: SchemaPlan, mode: SchemaMode) -> list[str]:
    """The plan as a dry run shows it: what ``apply`` would do, and what would stop it."""
    if plan.ready:
        return ["nothing to do: the account holds every field and mapping the mapping needs"]
    lines = plan.steps()
    identities = [spec.name for spec in plan.create_fields if spec.definition.identifier]
    if identities:
        lines.append(
            f"new identifier fields: Lytics would join profiles on {', '.join(identities)}"
        )
    if plan.needs_publish:
        lines.append("publish once (or, on an account with schema patches, apply one patch)")
    lines += [
        f"conflict (apply stops here, changing nothing): {c.describe()}" for c in plan.conflicts
    ]
    if mode == "check":
        lines.append("schema_mode check would stop this run before sending anything")
    return lines


def schema_tag(now: datetime) -> str:
    """A kebab-case tag for the version or patch: ``target-lytics-20260105-143000``."""
    return f"target-lytics-{now:%Y%m%d-%H%M%S}"


def schema_description(required: RequiredSchema, plan: SchemaPlan) -> str:
    """What a schema version of target-lytics holds, for Lytics' version history."""
    streams = ", ".join(required.streams)
    return (
        f"target-lytics: {len(plan.create_fields)} fields and {len(plan.create_mappings)} "
        f"mappings so that records of the Lytics stream(s) {streams} reach profiles, as its "
        "mapping setting describes"
    )


class SchemaStep:
    """The schema step of one run: read, plan, and (``apply``) write and confirm."""

    def __init__(  # noqa: PLR0913 - the step's inputs, all keyword-only
        self,
        *,
        api: SchemaApi,
        account: LyticsAccount,
        required: RequiredSchema,
        mode: SchemaMode,
        dryrun: bool,
        logger: logging.Logger,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Prepare the step; nothing is sent before ``run``."""
        self.api = api
        self.account = account
        self.required = required
        self.mode = mode
        self.dryrun = dryrun
        self.logger = logger
        self.clock = clock

    def run(self, held: AccountSchema | None = None) -> AccountSchema:
        """Return the account's schema once it holds what the mapping needs (or in a dry run).

        ``held`` is the account's schema when already read (else it is read first).

        Raises:
            LyticsSchemaError: ``check`` found something missing or conflicting; ``apply`` met
                a conflict or others' unpublished changes, or could not confirm its writes.
            LyticsError: Lytics refused a schema call or kept failing.
        """
        if held is None:
            held = self.api.read()
        plan = plan_schema(self.required, held)
        if self.dryrun:
            for line in plan_lines(plan, self.mode):
                self.logger.info("Lytics schema plan (dry run, nothing is written): %s", line)
            return held
        if plan.ready:
            self.logger.info(
                "Lytics schema: the account holds all %d fields and %d mappings the mapping needs",
                len(self.required.fields),
                len(self.required.mappings),
            )
            return held
        if self.mode == "check":
            raise LyticsSchemaError(check_message(self.account, plan))
        if plan.conflicts:
            raise LyticsSchemaError(conflict_message(self.account, plan))
        self._apply(plan)
        return self._confirm()

    def _apply(self, plan: SchemaPlan) -> None:
        tag = schema_tag(self.clock())
        description = schema_description(self.required, plan)
        identities = [spec.name for spec in plan.create_fields if spec.definition.identifier]
        if identities:  # identity resolution changes: never silently
            self.logger.warning(
                "Lytics schema: creating identifier field(s) %s on account %s: from now on "
                "Lytics joins profiles that share their values",
                ", ".join(identities),
                self.account.describe(),
            )
        if self.api.uses_patches():
            if plan.unpublished:
                msg = (
                    f"The Lytics account {self.account.describe()} uses schema patches but its "
                    "draft holds unpublished changes the mapping needs:"
                    f"{_bullets(list(plan.unpublished))}"
                    "\nFix: publish or discard them in Lytics' Schema Studio, then run again."
                )
                raise LyticsSchemaError(msg)
            self._through_patch(plan, tag, description)
            return
        if plan.foreign_drafts:
            msg = (
                f"The schema draft of the Lytics account {self.account.describe()} holds "
                "unpublished changes target-lytics did not make:"
                f"{_bullets(list(plan.foreign_drafts))}"
                "\nPublishing what the mapping needs would publish them too, so nothing was "
                "changed. Fix: publish or discard them in Lytics' Schema Studio, then run again."
            )
            raise LyticsSchemaError(msg)
        for spec in plan.create_fields:
            if self.api.create_field(spec):
                self.logger.info("Lytics schema: created field %s", spec.describe())
                continue
            held = self.api.field(spec.name)
            conflict = field_conflict(spec, held) if held is not None else None
            if conflict is not None:
                msg = (
                    f"Field {spec.name} appeared in the Lytics account {self.account.describe()} "
                    f"while target-lytics was creating it, and conflicts: {conflict.problem}. "
                    f"Nothing was published. Fix: {_CONFLICT_FIX}."
                )
                raise LyticsSchemaError(msg)
            self.logger.info("Lytics schema: field %s already exists as needed", spec.name)
        for mapping in plan.create_mappings:
            created = self.api.create_mapping(mapping)
            self.logger.info(
                "Lytics schema: %s mapping %s",
                "created" if created else "found an existing",
                mapping.describe(),
            )
        self.api.publish(tag, description)
        self.logger.info("Lytics schema: published as %s", tag)

    def _through_patch(self, plan: SchemaPlan, tag: str, description: str) -> None:
        patch_id = self.api.open_patch(tag, description)
        try:
            for spec in plan.create_fields:
                self.api.add_field(patch_id, spec)
                self.logger.info("Lytics schema patch %s: field %s", tag, spec.describe())
            for mapping in plan.create_mappings:
                self.api.add_mapping(patch_id, mapping)
                self.logger.info("Lytics schema patch %s: mapping %s", tag, mapping.describe())
            self.api.apply_patch(patch_id)
        except LyticsError:
            try:
                self.api.discard_patch(patch_id)
            except LyticsError as error:
                self.logger.warning(
                    "Could not discard the unapplied schema patch %s: %s", tag, error
                )
            raise
        self.logger.info("Lytics schema: patch %s applied", tag)

    def _confirm(self) -> AccountSchema:
        held = self.api.read()
        plan = plan_schema(self.required, held)
        if not plan.ready:
            msg = (
                f"Lytics accepted the schema changes but the account {self.account.describe()} "
                f"still lacks:{_bullets(plan.steps() + [c.describe() for c in plan.conflicts])}"
                "\nNothing was sent; run again, or check the schema in Lytics' Schema Studio."
            )
            raise LyticsSchemaError(msg)
        return held


def preflight(  # noqa: PLR0913 - the run's settings that matter here, all keyword-only
    client: LyticsClient,
    *,
    account_id: str | None,
    mappings: dict[str, StreamMapping],
    stream_setting: str | None,
    mode: SchemaMode,
    dryrun: bool,
    logger: logging.Logger,
) -> Preflight:
    """Check the token and account, then run the schema step; before any input is read.

    The schema is read while the token is checked (the reads carry the same ``account_id``),
    so a run's start waits one round trip; a refused token is still what is reported.

    Raises:
        LyticsError: the token, the account or the schema stops the run (the message says why).
    """
    api = SchemaApi(client)
    with worker_pool(1, "lytics-preflight") as pool:
        reading = pool.submit(api.read) if mode != "off" else None
        account = choose_account(read_accounts(client.check_token()), account_id)
        held = reading.result() if reading is not None else None
    logger.info(
        "Lytics token accepted for account %s%s",
        account.describe(),
        "; dry run: Lytics stores nothing" if dryrun else "",
    )
    if held is None:
        logger.info("schema_mode off: the account's fields and mappings are not checked")
        return Preflight(account, None)
    step = SchemaStep(
        api=api,
        account=account,
        required=required_schema(before_input(mappings), stream_setting),
        mode=mode,
        dryrun=dryrun,
        logger=logger,
    )
    return Preflight(account, step.run(held))


def on_arrival(  # noqa: PLR0913 - the run's settings that matter here, all keyword-only
    client: LyticsClient,
    checked: Preflight,
    *,
    stream: str,
    mapping: StreamMapping,
    stream_setting: str | None,
    mode: SchemaMode,
    dryrun: bool,
    logger: logging.Logger,
) -> None:
    """The schema step of a stream mapped `on_arrival`: when it arrives, before its records.

    Such a stream (tap-wistia's `wistia_visitors`, which most runs never send) is left out of
    the step before input, so an account that never receives it is not asked for its fields.
    The schema is read again: the step before input may have changed it.

    Raises:
        LyticsError: as `preflight`, for this stream's fields and mappings.
    """
    if mode == "off" or checked.schema is None:
        return
    logger.info("Lytics schema: stream %r arrived; checking what its mapping needs", stream)
    SchemaStep(
        api=SchemaApi(client),
        account=checked.account,
        required=required_schema({stream: mapping}, stream_setting),
        mode=mode,
        dryrun=dryrun,
        logger=logger,
    ).run()
