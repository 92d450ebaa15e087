"""What the account's schema must hold for the mapping to reach profiles, and what it lacks.

Lytics fills a user field only through a published mapping from a stream field, and mappings
apply only to data collected after they are published. So before sending anything the target
compares what its `mapping` setting needs (`required_schema`: fields, and mappings from each
Lytics stream) with what the account holds (`AccountSchema`, read over the API) and gets a
`SchemaPlan`: fields and mappings to create, our own changes still unpublished, conflicts it
must not resolve (an existing field of another type or merge op, a mapping reading other stream
fields), and other people's unpublished changes a publish would carry along.

Pure: plain data in, plain data out; the HTTP side is `schema_api`, the run's use `preflight`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from target_lytics.field_types import default_merge_op, normal_type
from target_lytics.mapping import lytics_stream_of

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from target_lytics.mapping import FieldDefinition, StreamMapping

#: Lytics' edit statuses that mean "in the draft, not yet published" (schema-manager, patches).
STAGED_STATUSES: Final = frozenset({"new", "modified", "deleted"})


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A user field the mapping needs."""

    name: str
    definition: FieldDefinition

    def describe(self) -> str:
        """``wistia_country (string, latest)``, ``email (string, identifier)``."""
        how = "identifier" if self.definition.identifier else self.definition.merge_op
        return f"{self.name} ({self.definition.type}, {how})"


@dataclass(frozen=True, slots=True)
class MappingSpec:
    """A mapping the mapping setting needs: user field <- LQL expression over a stream's fields."""

    field: str
    stream: str
    expr: str
    reads: tuple[str, ...]

    def describe(self) -> str:
        """``wistia_country <- wistia_activity: country``."""
        return f"{self.field} <- {self.stream}: {self.expr}"


@dataclass(frozen=True, slots=True)
class RequiredSchema:
    """Every field and mapping the mapping setting needs, fields first (mappings need them)."""

    fields: tuple[FieldSpec, ...]
    mappings: tuple[MappingSpec, ...]

    @property
    def streams(self) -> tuple[str, ...]:
        """The Lytics streams the mappings read, in order."""
        return tuple(dict.fromkeys(mapping.stream for mapping in self.mappings))


def before_input(mappings: Mapping[str, StreamMapping]) -> dict[str, StreamMapping]:
    """The stream mappings whose schema is checked before the first record: not `on_arrival`."""
    return {name: mapping for name, mapping in mappings.items() if not mapping.on_arrival}


def required_schema(
    mappings: Mapping[str, StreamMapping], stream_setting: str | None = None
) -> RequiredSchema:
    """The fields and mappings the account must hold for every mapped stream to reach profiles.

    A user field named in several streams is one field with a mapping from each stream (the
    setting's parser already made its definitions agree). The `stream` setting, which sends
    every record to one Lytics stream, is the stream the mappings must read.
    """
    fields: dict[str, FieldSpec] = {}
    wanted: dict[tuple[str, str], MappingSpec] = {}
    for singer_stream, mapping in mappings.items():
        stream = lytics_stream_of(singer_stream, mapping, stream_setting)
        for name, rule in mapping.fields.items():
            fields.setdefault(name, FieldSpec(name, rule.definition))
            wanted.setdefault(
                (name, stream), MappingSpec(name, stream, rule.expression, rule.reads)
            )
    return RequiredSchema(tuple(fields.values()), tuple(wanted.values()))


# --------------------------------------------------------------------------------------------
# What the account holds
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountField:
    """A user field as the account reports it."""

    name: str
    type: str
    merge_op: str | None = None
    identifier: bool = False
    status: str = ""

    @property
    def staged(self) -> bool:
        """Created or changed in the draft and not yet published."""
        return self.status in STAGED_STATUSES


@dataclass(frozen=True, slots=True)
class AccountMapping:
    """A mapping as the account reports it."""

    field: str
    stream: str
    expr: str
    guard_expr: str = ""
    status: str = ""

    @property
    def staged(self) -> bool:
        """Created or changed in the draft and not yet published."""
        return self.status in STAGED_STATUSES

    def describe(self) -> str:
        """``wistia_country <- wistia_activity: country`` (with its guard, if any)."""
        guard = f" if {self.guard_expr}" if self.guard_expr else ""
        return f"{self.field} <- {self.stream}: {self.expr}{guard}"


@dataclass(frozen=True, slots=True)
class AccountSchema:
    """The account's user fields (by name) and mappings, as read before the run."""

    fields: dict[str, AccountField] = field(default_factory=dict)
    mappings: tuple[AccountMapping, ...] = ()

    def reads_of(self, stream: str) -> frozenset[str]:
        """The stream fields the account's mappings from ``stream`` read."""
        return frozenset(
            name
            for mapping in self.mappings
            if mapping.stream == stream
            for name in expr_reads(mapping.expr) | expr_reads(mapping.guard_expr)
        )


_QUOTED: Final = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_NAME: Final = re.compile(
    r"`([^`]+)`|([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(\s*\()?"
)
_KEYWORDS: Final = frozenset({"and", "or", "not", "true", "false", "null", "nil", "exists", "in"})


def expr_reads(expr: str) -> frozenset[str]:
    """The stream fields an LQL expression reads: its names that are not functions or keywords."""
    text = _QUOTED.sub(" ", expr or "")
    names = set()
    for quoted, name, call in _NAME.findall(text):
        if quoted:
            names.add(quoted)
        elif name and not call and name.lower() not in _KEYWORDS:
            names.add(name)
    return frozenset(names)


def _normal_expr(expr: str) -> str:
    return re.sub(r"\s+", "", expr or "")


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Conflict:
    """Something the account holds that the mapping cannot use and the target must not change."""

    subject: str
    problem: str

    def describe(self) -> str:
        """``field email: the account has it as number, the mapping needs string``."""
        return f"{self.subject}: {self.problem}"


@dataclass(frozen=True, slots=True)
class SchemaPlan:
    """What the account lacks for the mapping, and what stands in the way."""

    create_fields: tuple[FieldSpec, ...] = ()
    create_mappings: tuple[MappingSpec, ...] = ()
    unpublished: tuple[str, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    foreign_drafts: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        """The account already holds, published, everything the mapping needs."""
        return not (
            self.create_fields or self.create_mappings or self.unpublished or self.conflicts
        )

    @property
    def needs_publish(self) -> bool:
        """Applying the plan ends with a publish (something is created or still unpublished)."""
        return bool(self.create_fields or self.create_mappings or self.unpublished)

    def steps(self) -> list[str]:
        """One line per thing to create or publish, in the order `apply` does them."""
        lines = [f"create field {spec.describe()}" for spec in self.create_fields]
        lines += [f"create mapping {spec.describe()}" for spec in self.create_mappings]
        lines += [
            f"publish {item} (created earlier, not yet published)" for item in self.unpublished
        ]
        return lines


def field_conflict(spec: FieldSpec, held: AccountField) -> Conflict | None:
    """Why an existing field cannot take the mapping's values (None: it can)."""
    want = spec.definition
    subject = f"field {spec.name}"
    if normal_type(held.type) != want.type:
        return Conflict(
            subject, f"the account has it as {held.type}, the mapping needs {want.type}"
        )
    if held.identifier != want.identifier:
        has = "is" if held.identifier else "is not"
        needs = "an identifier" if want.identifier else "a plain field"
        return Conflict(
            subject, f"the account's field {has} an identifier; the mapping needs {needs}"
        )
    if want.identifier:
        return None  # Lytics merges identifiers itself: their merge op is not compared
    held_op = (held.merge_op or default_merge_op(held.type) or "").lower()
    if held_op != want.merge_op:
        return Conflict(
            subject, f"the account merges it by {held_op}, the mapping needs {want.merge_op}"
        )
    return None


def _mapping_match(spec: MappingSpec, held: Iterable[AccountMapping]) -> AccountMapping | None:
    """The account's mapping that does what ``spec`` does, if any.

    That is the same expression, or one reading exactly the stream fields the target sends for
    it (Lytics' own import may spell an expression otherwise).
    """
    candidates = list(held)
    for mapping in candidates:
        if _normal_expr(mapping.expr) == _normal_expr(spec.expr):
            return mapping
    for mapping in candidates:
        if expr_reads(mapping.expr) == frozenset(spec.reads):
            return mapping
    return None


def plan_schema(required: RequiredSchema, account: AccountSchema) -> SchemaPlan:
    """Compare what the mapping needs with what the account holds.

    Nothing existing is ever to be changed: a field of another type, identity or merge op, and
    a mapping to a needed field from the same stream that reads other stream fields, are
    conflicts. A needed field or mapping in the draft but unpublished is listed as unpublished;
    other unpublished changes are ``foreign_drafts`` (a publish would carry them along).
    """
    create_fields: list[FieldSpec] = []
    conflicts: list[Conflict] = []
    unpublished: list[str] = []
    ours: set[int] = set()
    for spec in required.fields:
        held = account.fields.get(spec.name)
        if held is None:
            create_fields.append(spec)
        elif (conflict := field_conflict(spec, held)) is not None:
            conflicts.append(conflict)
        elif held.staged:
            unpublished.append(f"field {spec.name}")
    create_mappings: list[MappingSpec] = []
    for wanted in required.mappings:
        key = (wanted.field, wanted.stream)
        same = [m for m in account.mappings if (m.field, m.stream) == key]
        match = _mapping_match(wanted, same)
        if not same:
            create_mappings.append(wanted)
        elif match is None:
            found = "; ".join(f"`{m.expr}`" for m in same)
            conflicts.append(
                Conflict(
                    f"mapping {wanted.field} <- {wanted.stream}",
                    f"the account maps it by {found}, which does not read "
                    f"{', '.join(wanted.reads)}: the stream fields the target sends "
                    f"(it needs `{wanted.expr}`)",
                )
            )
        else:
            ours.add(id(match))
            if match.staged:
                unpublished.append(f"mapping {wanted.describe()}")
    needed = {spec.name for spec in required.fields}
    foreign = [
        f"field {held.name} ({held.status})"
        for held in account.fields.values()
        if held.staged and held.name not in needed
    ]
    foreign += [
        f"mapping {m.describe()} ({m.status})"
        for m in account.mappings
        if m.staged and id(m) not in ours
    ]
    return SchemaPlan(
        create_fields=tuple(create_fields),
        create_mappings=tuple(create_mappings),
        unpublished=tuple(unpublished),
        conflicts=tuple(conflicts),
        foreign_drafts=tuple(foreign),
    )


def unread_fields(stream: str, names: Iterable[str], account: AccountSchema) -> list[str]:
    """The fields of an unmapped stream's records that no mapping of the account reads.

    A field counts as read when a mapping reads it or something inside it (``a`` for ``a.b``).
    """
    reads = account.reads_of(stream)
    return [
        name
        for name in names
        if name not in reads and not any(read.startswith(f"{name}.") for read in reads)
    ]
