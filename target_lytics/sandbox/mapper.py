"""A published schema version at work: stream records in, user-field values out.

Lytics stores a stream's records raw; a profile gets a value only where a published mapping
from that record's stream fills a published field. ``ProfileMapper`` is one version compiled
for that: per stream, each mapping's parsed expression and guard, and the field's type (values
are converted to it, or dropped when they cannot be) and merge op. Fields no mapping fills, and
stream fields no mapping reads, never reach a profile. Pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from target_lytics.sandbox.definitions import merge_op_of, type_family
from target_lytics.sandbox.lql import Call, Expression, Guard, parse_expression, parse_guard
from target_lytics.sandbox.profiles import Op, ProfileSchema, iso_time, parse_event_time

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from target_lytics.sandbox.definitions import Version


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _string(value: Any) -> str | None:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text if text.strip() else None


def _float(value: Any) -> float | None:
    number = _number(value)
    return None if number is None else float(number)


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and float(number).is_integer() else None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(str(value).strip().lower())


def _date(value: Any) -> str | None:
    moment = parse_event_time(value)
    return None if moment is None else iso_time(moment)


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "string": _string,
    "number": _float,
    "int": _int,
    "bool": _bool,
    "date": _date,
}


def _scalar(value: Any, kind: str) -> Any:
    """``value`` as a Lytics scalar of type ``kind``, or None when it is not one."""
    if value is None or isinstance(value, dict | list):
        return None
    return _SCALARS[kind](value)


def convert(value: Any, type_name: str) -> Any:
    """A mapped value in the field's type: what the profile keeps (None: nothing)."""
    family = type_family(type_name)
    if family == "set":
        items = value if isinstance(value, list) else [value]
        kind = "date" if type_name == "[]time" else "string"
        kept = [converted for item in items if (converted := _scalar(item, kind)) is not None]
        return kept or None
    if family == "map":
        if not isinstance(value, dict):
            return None
        kind = type_name.removeprefix("map[string]")
        kind = {"time": "date", "value": ""}.get(kind, kind)
        pairs = {str(key): item if not kind else _scalar(item, kind) for key, item in value.items()}
        return {key: item for key, item in pairs.items() if item is not None} or None
    return _scalar(value, family)


@dataclass(frozen=True, slots=True)
class _Rule:
    field: str
    type: str
    expression: Expression
    guard: Guard | None
    counted: bool = False  # a ``count`` field counts records with a value, of any type


class ProfileMapper:
    """One published version: which user fields each stream's records fill, and how they merge."""

    def __init__(self, version: Version) -> None:
        """Compile the version's mappings (their expressions were checked when created)."""
        self.marker = version.marker
        self.number = version.number
        fields = version.fields
        self._rules: dict[str, list[_Rule]] = {}
        for mapping in sorted(version.mappings.values(), key=lambda m: m.id):
            definition = fields.get(mapping.field)
            if definition is None:
                continue
            guard = parse_guard(mapping.guard_expr) if mapping.guard_expr else None
            rule = _Rule(
                mapping.field,
                definition.type,
                parse_expression(mapping.expr),
                guard,
                counted=merge_op_of(definition) == "count",
            )
            self._rules.setdefault(mapping.stream, []).append(rule)
        identifiers = tuple(sorted(name for name, d in fields.items() if d.identifier))
        self._identifier_rules = {
            stream: [rule for rule in rules if rule.field in identifiers]
            for stream, rules in self._rules.items()
        }
        emails = {
            rule.field
            for rules in self._identifier_rules.values()
            for rule in rules
            if isinstance(rule.expression, Call) and rule.expression.name == "email"
        }
        self.profile_schema = ProfileSchema(
            identity_fields=identifiers,
            ops={
                name: cast("Op", merge_op_of(d)) for name, d in fields.items() if not d.identifier
            },
            email_fields=tuple(sorted(emails)),  # looked up as email() stored them: lower-cased
        )

    def user_values(self, stream: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """The user-field values one record of ``stream`` gives (empty: it reaches no profile)."""
        values: dict[str, Any] = {}
        for rule in self._rules.get(stream, ()):
            if rule.field in values or (rule.guard is not None and not rule.guard.holds(record)):
                continue
            value = rule.expression.evaluate(record)
            if not rule.counted:
                value = convert(value, rule.type)
            if value is not None:
                values[rule.field] = value
        return values

    def identity_values(self, stream: str, record: Mapping[str, Any]) -> Iterator[Any]:
        """The identifier values a record of ``stream`` carries (Lytics limits their size)."""
        for rule in self._identifier_rules.get(stream, ()):
            value = rule.expression.evaluate(record)
            if value is not None:
                yield value

    def reads(self, stream: str) -> frozenset[str]:
        """The stream fields the mappings from ``stream`` read."""
        return frozenset().union(*(rule.expression.reads for rule in self._rules.get(stream, ())))
