"""What the account's schema must hold for a stream to reach profiles, and what it lacks.

Lytics fills a user field only through a published mapping from a stream field, and mappings
apply only to data collected after they are published. So before a stream's first record is sent
the target compares what its `mapping` setting needs (`required_schema`: fields, and mappings
from the stream) with what the account holds (`AccountSchema`, read over the API) and gets a
`SchemaPlan`: fields and mappings to create, its own changes still unpublished, conflicts that
stop the run, and differences that only change how profiles merge (reported, and the account's
choice kept). `foreign_changes` picks out of the account's unpublished draft what the target did
not make: a publish would ship those along.

A conflict is about fit: an existing field of another type cannot hold the values sent, and a
mapping to a needed field that does not read the stream field the target sends would leave it
empty. Another merge op, identity, guard or expression reading the same stream field is the
account's choice: the records still reach the field, so the run goes on (Lytics' public page
for its Wistia import gives no merge ops: the target's are a reading, an account's own are kept).

Pure: plain data in, plain data out; the HTTP side is `schema_api`, the run's use `schema_step`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from target_lytics.field_types import default_merge_op, is_collection, normal_type
from target_lytics.mapping import lytics_stream_of

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from target_lytics.mapping import FieldDefinition, StreamMapping

#: Lytics' edit statuses that mean "in the draft, not yet published" (schema-manager, patches).
STAGED_STATUSES: Final = frozenset({"new", "modified", "deleted"})
#: Statuses (and their other spellings) of a change that adds something not yet in the schema.
ADDED_STATUSES: Final = frozenset({"new", "added", "add", "create", "created", "insert"})


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

    @property
    def source(self) -> str:
        """The stream field carrying the value (a map's value, not its key)."""
        return self.reads[-1]


@dataclass(frozen=True, slots=True)
class RequiredSchema:
    """Every field and mapping the mapping setting needs, fields first (mappings need them)."""

    fields: tuple[FieldSpec, ...]
    mappings: tuple[MappingSpec, ...]

    @property
    def streams(self) -> tuple[str, ...]:
        """The Lytics streams the mappings read, in order."""
        return tuple(dict.fromkeys(mapping.stream for mapping in self.mappings))


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
    capacity: int | None = None  # sets and maps: items kept (0: no limit); None: not shown

    @property
    def staged(self) -> bool:
        """Created or changed in the draft and not yet published."""
        return self.status in STAGED_STATUSES

    @property
    def unbounded(self) -> bool:
        """A set or map the account shows with no capacity limit (capacity 0)."""
        return self.capacity == 0 and is_collection(self.type)


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
# The account's unpublished draft
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingChange:
    """One change of the account's unpublished draft, as `GET /v2/schema/user/compare` shows it.

    ``field`` or ``mapping`` is the changed item as the draft has it, when the answer shows it.
    """

    kind: Literal["field", "mapping"]
    name: str
    status: str = ""
    field: AccountField | None = None
    mapping: AccountMapping | None = None

    def describe(self) -> str:
        """``field their_field (new)``, ``mapping wistia_city <- wistia_activity: city (new)``."""
        return f"{self.kind} {self.name} ({self.status or 'changed'})"


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Conflict:
    """What the account holds that keeps the records from their field; the run stops.

    Also used for a `Difference`: something the account holds otherwise than the mapping
    setting says, which the records still reach (reported once; the run goes on).
    """

    subject: str
    problem: str

    def describe(self) -> str:
        """``field email: the account has it as number, the mapping needs string``."""
        return f"{self.subject}: {self.problem}"


Difference = Conflict


@dataclass(frozen=True, slots=True)
class SchemaPlan:
    """What the account lacks for the mapping, what stands in the way, and what differs."""

    create_fields: tuple[FieldSpec, ...] = ()
    create_mappings: tuple[MappingSpec, ...] = ()
    unpublished: tuple[str, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    differences: tuple[Difference, ...] = ()
    unbounded: tuple[AccountField, ...] = ()

    @property
    def ready(self) -> bool:
        """The account already holds, published, everything the records need."""
        return not (self.needs_publish or self.conflicts)

    @property
    def needs_publish(self) -> bool:
        """Applying the plan ends with a publish (something is created or still unpublished)."""
        return bool(self.create_fields or self.create_mappings or self.unpublished)

    @property
    def new_identifiers(self) -> list[str]:
        """The identifier fields the plan creates: Lytics joins profiles on them from then on."""
        return [spec.name for spec in self.create_fields if spec.definition.identifier]

    def steps(self) -> list[str]:
        """One line per thing to create or publish, in the order `apply` does them."""
        lines = [f"create field {spec.describe()}" for spec in self.create_fields]
        lines += [f"create mapping {spec.describe()}" for spec in self.create_mappings]
        lines += [
            f"publish {item} (created earlier, not yet published)" for item in self.unpublished
        ]
        return lines


def field_conflict(spec: FieldSpec, held: AccountField) -> Conflict | None:
    """Why an existing field cannot hold the mapping's values (None: it can): another type."""
    want = spec.definition
    if normal_type(held.type) != want.type:
        return Conflict(
            f"field {spec.name}",
            f"the account has it as {held.type}, the mapping needs {want.type}, so the records' "
            "values would not fit",
        )
    return None


def field_differences(spec: FieldSpec, held: AccountField) -> list[Difference]:
    """How an existing field of the right type merges otherwise than the setting says.

    Identifiers' merge ops are not compared (Lytics merges them itself and reports a
    server-filled one), nor a bool's (it takes none).
    """
    want, subject = spec.definition, f"field {spec.name}"
    if held.identifier != want.identifier:
        has = (
            "is an identifier (Lytics joins profiles on it)"
            if held.identifier
            else ("is not an identifier (Lytics does not join profiles on it)")
        )
        needs = "an identifier" if want.identifier else "a plain field"
        return [
            Difference(
                subject,
                f"the account's field {has}; the mapping setting makes it {needs}; the "
                "account's choice is kept",
            )
        ]
    if want.identifier or want.merge_op is None:
        return []
    held_op = (held.merge_op or default_merge_op(held.type) or "").lower()
    if held_op == want.merge_op:
        return []
    return [
        Difference(
            subject,
            f"the account merges it by {held_op}, the mapping setting by {want.merge_op}; the "
            "account's choice is kept",
        )
    ]


def _same_expr(spec: MappingSpec, held: AccountMapping) -> bool:
    return _normal_expr(held.expr) == _normal_expr(spec.expr) and not held.guard_expr


def mapping_fit(
    spec: MappingSpec, same: list[AccountMapping]
) -> tuple[AccountMapping | None, Difference | None]:
    """The account's mapping (to the field, from the stream) that carries the value, if any.

    The same expression without a guard is a match; an expression reading the stream field
    the target sends (another function of it, or under a guard) carries the value otherwise:
    a difference.
    """
    for held in same:
        if _same_expr(spec, held):
            return held, None
    for held in same:
        if spec.source in expr_reads(held.expr):
            other = _normal_expr(held.expr) != _normal_expr(spec.expr)
            how = [f"by `{held.expr}`"] if other else []
            how += [f"only if `{held.guard_expr}`"] if held.guard_expr else []
            return held, Difference(
                f"mapping {spec.field} <- {spec.stream}",
                f"the account maps it {' and '.join(how)}, the mapping setting by "
                f"`{spec.expr}`; the account's mapping is kept",
            )
    return None, None


def plan_schema(required: RequiredSchema, account: AccountSchema) -> SchemaPlan:
    """Compare what the mapping needs with what the account holds.

    Nothing existing is ever to be changed. A needed field or mapping in the draft but
    unpublished is listed as unpublished.
    """
    create_fields: list[FieldSpec] = []
    conflicts: list[Conflict] = []
    differences: list[Difference] = []
    unpublished: list[str] = []
    unbounded: list[AccountField] = []
    for spec in required.fields:
        held = account.fields.get(spec.name)
        if held is None:
            create_fields.append(spec)
        elif (conflict := field_conflict(spec, held)) is not None:
            conflicts.append(conflict)
        else:
            differences += field_differences(spec, held)
            unbounded += [held] if held.unbounded else []
            unpublished += [f"field {spec.name}"] if held.staged else []
    create_mappings: list[MappingSpec] = []
    for wanted in required.mappings:
        same = [m for m in account.mappings if (m.field, m.stream) == (wanted.field, wanted.stream)]
        match, difference = mapping_fit(wanted, same)
        if not same:
            create_mappings.append(wanted)
        elif match is None:
            found = "; ".join(f"`{m.expr}`" for m in same)
            conflicts.append(
                Conflict(
                    f"mapping {wanted.field} <- {wanted.stream}",
                    f"the account maps it by {found}, which does not read {wanted.source}, the "
                    f"stream field the target sends (it needs `{wanted.expr}`), so the field "
                    "would stay empty",
                )
            )
        else:
            differences += [difference] if difference else []
            unpublished += [f"mapping {wanted.describe()}"] if match.staged else []
    return SchemaPlan(
        create_fields=tuple(create_fields),
        create_mappings=tuple(create_mappings),
        unpublished=tuple(unpublished),
        conflicts=tuple(conflicts),
        differences=tuple(differences),
        unbounded=tuple(unbounded),
    )


def _our_field(
    change: PendingChange, required: RequiredSchema, held: AccountSchema, made: frozenset[str]
) -> bool:
    if change.name in made:
        return True
    spec = next((spec for spec in required.fields if spec.name == change.name), None)
    shown = change.field or held.fields.get(change.name)
    return (
        spec is not None
        and shown is not None
        and field_conflict(spec, shown) is None
        and not field_differences(spec, shown)
    )


def _our_mapping(change: PendingChange, required: RequiredSchema) -> bool:
    shown = change.mapping
    return shown is not None and any(
        (spec.field, spec.stream) == (shown.field, shown.stream) and _same_expr(spec, shown)
        for spec in required.mappings
    )


def foreign_changes(
    pending: list[PendingChange],
    required: RequiredSchema,
    held: AccountSchema,
    made: frozenset[str] = frozenset(),
) -> list[PendingChange]:
    """The draft's changes the target did not make: a publish would ship them too.

    Ours are additions of exactly what the mapping needs (left by this run, ``made``, or by an
    interrupted one); a change, a removal, or anything else is someone else's.
    """
    foreign = []
    for change in pending:
        added = change.status.lower() in ADDED_STATUSES or not change.status
        if change.kind == "field":
            ours = added and _our_field(change, required, held, made)
        else:
            ours = added and _our_mapping(change, required)
        if not ours:
            foreign.append(change)
    return foreign


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
