"""The schema step of one stream: read, plan, and (``apply``) write what is missing, once.

By ``schema_mode``:

- ``check`` (default): compares the account's fields and mappings with what the stream's mapping
  needs and stops, with one message listing every missing or conflicting field and mapping and
  the fix, unless the account holds all of it; it writes nothing.
- ``apply``: also creates what is missing and publishes it, in the way the account takes schema
  changes (its setting ``enable_schema_patches``, or the ``schema_patches`` setting): one patch
  holding only the target's changes, applied; or the fields and mappings written to the shared
  draft and one publish, which happens only when the draft holds nothing someone else staged
  (read before the first write and again just before the publish). Then it reads the schema
  again to confirm. It never changes or deletes an existing field or mapping (a field create is
  an upsert: only absent fields are sent), and a write whose answer is lost is read back, never
  blindly sent again.

Either way, differences that leave the records reaching their fields (another merge op, identity,
guard or expression of the same stream field, a set with no capacity limit) are reported once
per run and the account's choice kept. With ``dryrun`` the plan is logged and nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Final, Literal, TypeVar

from target_lytics.errors import LyticsAnswerLostError, LyticsError
from target_lytics.schema import field_conflict, foreign_changes, plan_schema
from target_lytics.schema_api import LyticsSchemaError

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from target_lytics.account import LyticsAccount
    from target_lytics.schema import (
        AccountSchema,
        FieldSpec,
        MappingSpec,
        PendingChange,
        RequiredSchema,
        SchemaPlan,
    )
    from target_lytics.schema_api import SchemaApi

T = TypeVar("T")
SchemaMode = Literal["check", "apply", "off"]
SCHEMA_MODES: Final[tuple[SchemaMode, ...]] = ("check", "apply", "off")
#: States of a patch Lytics has applied (published as a schema version).
_APPLIED: Final = frozenset({"applied", "published", "complete", "completed"})

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
_CAPACITY_NOTE: Final = (
    "a profile keeps at most 1,000 attribute values, every set and map item counted, and these "
    "grow by one item per value collected (per media viewed, in the default mapping): set a "
    "capacity in Lytics' Schema Studio (README: Heavy viewers)"
)


def _bullets(lines: list[str]) -> str:
    return "".join(f"\n  - {line}" for line in lines)


def check_message(account: LyticsAccount, plan: SchemaPlan, streams: tuple[str, ...]) -> str:
    """Why ``check`` stops: every missing and conflicting field and mapping, and the fixes.

    When ``apply`` would create identifier fields, the message says so (they change how Lytics
    joins profiles) and how to send the stream unmapped instead.
    """
    lines = [f"missing field {spec.describe()}" for spec in plan.create_fields]
    lines += [f"missing mapping {spec.describe()}" for spec in plan.create_mappings]
    lines += [f"unpublished {item}" for item in plan.unpublished]
    lines += [f"conflicting {conflict.describe()}" for conflict in plan.conflicts]
    fixes = []
    if plan.needs_publish:
        fixes.append(f"for what is missing, {_APPLY_FIX}")
    if plan.new_identifiers:
        unmapped = ", ".join(f'"{stream}": null' for stream in streams)
        fixes.append(
            f"apply would also create the identifier field(s) {', '.join(plan.new_identifiers)}, "
            "on which Lytics then joins profiles: review that first, or send the stream as it "
            f"is, unmapped, with the mapping setting {{{unmapped}}}"
        )
    if plan.conflicts:
        fixes.append(f"for a conflict, {_CONFLICT_FIX}")
    return (
        f"The Lytics account {account.describe()} lacks what the mapping setting needs for "
        f"stream(s) {', '.join(streams)}, so nothing of it was sent (schema_mode: check):"
        f"{_bullets(lines)}\nFix: {'; '.join(fixes)}."
    )


def conflict_message(account: LyticsAccount, plan: SchemaPlan) -> str:
    """Why ``apply`` stops on conflicts, before any write."""
    lines = [conflict.describe() for conflict in plan.conflicts]
    return (
        f"target-lytics cannot set up the schema of the Lytics account {account.describe()} "
        f"(schema_mode: apply); nothing was changed:{_bullets(lines)}\nFix: {_CONFLICT_FIX}."
    )


def foreign_message(account: LyticsAccount, foreign: list[PendingChange], *, wrote: bool) -> str:
    """Why a direct publish does not happen: the draft holds changes someone else made."""
    ours = (
        "target-lytics' own changes stay unpublished in the draft (the next run publishes them "
        "once the others are gone)"
        if wrote
        else "nothing was changed"
    )
    return (
        f"The schema draft of the Lytics account {account.describe()} holds unpublished changes "
        f"target-lytics did not make:{_bullets([c.describe() for c in foreign])}\nA publish "
        f"ships the whole draft, so nothing was published and nothing sent; {ours}. Fix: "
        "publish or discard them in Lytics' Schema Studio, then run again."
    )


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


@dataclass(frozen=True, slots=True)
class SchemaContext:
    """What the schema steps of one run share: the API, the account, the settings, the log.

    ``patches`` says whether the account takes changes through patches (asked only before a
    write); ``reported`` holds what this run already warned about, so each is said once.
    """

    api: SchemaApi
    account: LyticsAccount
    mode: SchemaMode
    dryrun: bool
    logger: logging.Logger
    patches: Callable[[], bool]
    reported: set[str] = field(default_factory=set)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


class SchemaStep:
    """The schema step of one stream's mapping: read, plan, and (``apply``) write and confirm."""

    def __init__(self, context: SchemaContext, required: RequiredSchema) -> None:
        """Prepare the step for what ``required`` lists; nothing is sent before ``run``."""
        self.ctx = context
        self.required = required

    def run(self, held: AccountSchema) -> AccountSchema:
        """Return the account's schema once it holds what the mapping needs (or in a dry run).

        ``held`` is the account's schema as just read.

        Raises:
            LyticsSchemaError: ``check`` found something missing or conflicting; ``apply`` met
                a conflict or others' unpublished changes, or could not confirm its writes.
            LyticsError: Lytics refused a schema call or kept failing.
        """
        plan = plan_schema(self.required, held)
        self._report(plan)
        if self.ctx.dryrun:
            for line in self._plan_lines(plan, held):
                self.ctx.logger.info("Lytics schema plan (dry run, nothing is written): %s", line)
            return held
        if plan.ready:
            self.ctx.logger.info(
                "Lytics schema: the account holds all %d fields and %d mappings stream(s) %s need",
                len(self.required.fields),
                len(self.required.mappings),
                ", ".join(self.required.streams),
            )
            return held
        if self.ctx.mode == "check":
            raise LyticsSchemaError(check_message(self.ctx.account, plan, self.required.streams))
        if plan.conflicts:
            raise LyticsSchemaError(conflict_message(self.ctx.account, plan))
        self._warn_identifiers(plan)
        if self.ctx.patches():
            if plan.unpublished:
                msg = (
                    f"The Lytics account {self.ctx.account.describe()} uses schema patches but its "
                    "draft holds unpublished changes the mapping needs:"
                    f"{_bullets(list(plan.unpublished))}"
                    "\nFix: publish or discard them in Lytics' Schema Studio, then run again."
                )
                raise LyticsSchemaError(msg)
            self._through_patch(plan)
        else:
            self._direct(plan, held)
        return self._confirm()

    # -- what is said once per run --------------------------------------------------------------

    def _once(self, line: str) -> None:
        if line not in self.ctx.reported:
            self.ctx.reported.add(line)
            self.ctx.logger.warning("Lytics schema: %s", line)

    def _report(self, plan: SchemaPlan) -> None:
        for difference in plan.differences:
            self._once(difference.describe())
        unbounded = [held for held in plan.unbounded if held.name not in self.ctx.reported]
        if unbounded:
            self.ctx.reported.update(held.name for held in unbounded)
            names = ", ".join(f"{held.name} ({held.type})" for held in unbounded)
            self._once(f"no capacity limit on {names}: {_CAPACITY_NOTE}")

    def _warn_identifiers(self, plan: SchemaPlan) -> None:
        if plan.new_identifiers:  # identity resolution changes: never silently
            self.ctx.logger.warning(
                "Lytics schema: creating identifier field(s) %s on account %s: from now on "
                "Lytics joins profiles that share their values",
                ", ".join(plan.new_identifiers),
                self.ctx.account.describe(),
            )

    def _plan_lines(self, plan: SchemaPlan, held: AccountSchema) -> list[str]:
        """The plan as a dry run shows it: what ``apply`` would do, and what would stop it."""
        if plan.ready:
            return ["nothing to do: the account holds every field and mapping the mapping needs"]
        lines = plan.steps()
        if plan.new_identifiers:
            lines.append(
                "new identifier fields: Lytics would join profiles on "
                + ", ".join(plan.new_identifiers)
            )
        lines += [
            f"conflict (apply stops here, changing nothing): {c.describe()}" for c in plan.conflicts
        ]
        if self.ctx.mode == "check":
            lines.append("schema_mode check would stop this run before sending anything")
        elif not plan.conflicts:
            lines += self._publish_lines(held)
        return lines

    def _publish_lines(self, held: AccountSchema) -> list[str]:
        try:
            patches = self.ctx.patches()
        except LyticsSchemaError as refused:
            return [f"apply would stop here: {refused}"]
        if patches:
            return ["publish through one patch holding only these changes, applied at once"]
        foreign = foreign_changes(self.ctx.api.pending(), self.required, held)
        if foreign:
            return [
                f"apply would stop before publishing: the draft holds {change.describe()}, "
                "which target-lytics did not make"
                for change in foreign
            ]
        return ["publish once (the draft holds nothing else)"]

    # -- writes, each sent once and read back when its answer is lost ---------------------------

    def _write_once(self, what: str, send: Callable[[], T], landed: Callable[[], T | None]) -> T:
        """Send a write; when its answer is lost, read back, and send again only if absent.

        Raises:
            LyticsSchemaError: the write's answer was lost twice and it is still not there.
        """
        try:
            return send()
        except LyticsAnswerLostError as lost:
            found = landed()
            if found is not None:
                self.ctx.logger.warning("%s; read back: Lytics holds it: not sent again", lost)
                return found
            self.ctx.logger.warning("%s; read back: it is not there: sent once more", lost)
        try:
            return send()
        except LyticsAnswerLostError as lost:
            found = landed()
            if found is not None:
                return found
            msg = (
                f"{lost}; read back, it is not there, and its answer was lost twice, so the "
                f"schema step stops before {what}; nothing was published or sent. Run again: "
                "the next run starts from what Lytics holds"
            )
            raise LyticsSchemaError(msg) from None

    def _field_landed(self, spec: FieldSpec) -> bool | None:
        held = self.ctx.api.field(spec.name)
        if held is None:
            return None
        conflict = field_conflict(spec, held)
        if conflict is not None:
            msg = (
                f"Field {spec.name} appeared in the Lytics account {self.ctx.account.describe()} "
                f"while target-lytics was creating it, and conflicts: {conflict.problem}. "
                f"Nothing was published. Fix: {_CONFLICT_FIX}."
            )
            raise LyticsSchemaError(msg)
        return True

    def _mapping_landed(self, spec: MappingSpec) -> bool | None:
        found = any(
            (held.field, held.stream, held.expr) == (spec.field, spec.stream, spec.expr)
            for held in self.ctx.api.mappings()
        )
        return True if found else None

    def _direct(self, plan: SchemaPlan, held: AccountSchema) -> None:
        foreign = foreign_changes(self.ctx.api.pending(), self.required, held)
        if foreign:
            raise LyticsSchemaError(foreign_message(self.ctx.account, foreign, wrote=False))
        made: set[str] = set()
        for spec in plan.create_fields:
            what = f"creating field {spec.name}"
            self._write_once(
                what, partial(self.ctx.api.create_field, spec), partial(self._field_landed, spec)
            )
            made.add(spec.name)
            self.ctx.logger.info("Lytics schema: created field %s", spec.describe())
        for mapping in plan.create_mappings:
            self._write_once(
                f"creating mapping {mapping.describe()}",
                partial(self.ctx.api.create_mapping, mapping),
                partial(self._mapping_landed, mapping),
            )
            self.ctx.logger.info("Lytics schema: created mapping %s", mapping.describe())
        foreign = foreign_changes(self.ctx.api.pending(), self.required, held, frozenset(made))
        if foreign:
            raise LyticsSchemaError(foreign_message(self.ctx.account, foreign, wrote=True))
        tag = schema_tag(self.ctx.clock())
        self._write_once(
            f"publishing {tag}",
            partial(self.ctx.api.publish, tag, schema_description(self.required, plan)),
            partial(self._published, frozenset(made)),
        )
        self.ctx.logger.info("Lytics schema: published as %s", tag)

    def _published(self, made: frozenset[str]) -> bool | None:
        """Whether a publish whose answer was lost happened: none of our changes is pending."""
        pending = self.ctx.api.pending()
        foreign = foreign_changes(pending, self.required, self.ctx.api.read(), made)
        return True if len(foreign) == len(pending) else None

    def _through_patch(self, plan: SchemaPlan) -> None:
        tag = schema_tag(self.ctx.clock())
        description = schema_description(self.required, plan)
        patch_id = self._write_once(
            f"creating schema patch {tag}",
            partial(self.ctx.api.open_patch, tag, description),
            partial(self.ctx.api.find_patch, tag),
        )
        applied = False
        try:
            for spec in plan.create_fields:
                self._write_once(
                    f"adding field {spec.name} to patch {tag}",
                    partial(self.ctx.api.add_field, patch_id, spec),
                    partial(self._in_patch, patch_id, spec.name, None),
                )
                self.ctx.logger.info("Lytics schema patch %s: field %s", tag, spec.describe())
            for mapping in plan.create_mappings:
                self._write_once(
                    f"adding mapping {mapping.describe()} to patch {tag}",
                    partial(self.ctx.api.add_mapping, patch_id, mapping),
                    partial(self._in_patch, patch_id, "", mapping),
                )
                self.ctx.logger.info("Lytics schema patch %s: mapping %s", tag, mapping.describe())
            self._write_once(
                f"applying patch {tag}",
                partial(self.ctx.api.apply_patch, patch_id),
                partial(self._applied, patch_id),
            )
            applied = True
        finally:
            if not applied:
                self._discard(patch_id, tag)
        self.ctx.logger.info("Lytics schema: patch %s applied", tag)

    def _in_patch(self, patch_id: str, name: str, mapping: MappingSpec | None) -> bool | None:
        view = self.ctx.api.patch(patch_id)
        if mapping is None:
            return True if name in view.fields else None
        held = ((m.field, m.stream, m.expr) for m in view.mappings)
        return True if (mapping.field, mapping.stream, mapping.expr) in held else None

    def _applied(self, patch_id: str) -> bool | None:
        return True if self.ctx.api.patch(patch_id).state in _APPLIED else None

    def _discard(self, patch_id: str, tag: str) -> None:
        try:
            self.ctx.api.discard_patch(patch_id)
        except LyticsError as error:
            self.ctx.logger.warning(
                "Could not discard the unapplied schema patch %s: %s", tag, error
            )

    def _confirm(self) -> AccountSchema:
        held = self.ctx.api.read()
        plan = plan_schema(self.required, held)
        if not plan.ready:
            msg = (
                f"Lytics accepted the schema changes but the account {self.ctx.account.describe()} "
                f"still lacks:{_bullets(plan.steps() + [c.describe() for c in plan.conflicts])}"
                "\nNothing was sent; run again, or check the schema in Lytics' Schema Studio."
            )
            raise LyticsSchemaError(msg)
        return held
