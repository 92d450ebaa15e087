"""The wire faults both sandboxes inject, in one style: a `msgspec.Struct` each one extends.

Settings are plain data, set from Python or as JSON through a sandbox's `/_sandbox/faults`;
every default means "behave". `from_mapping` refuses an unknown setting or a wrong value by
name, before anything changes. Each sandbox adds its own faults (Wistia's page drift, Lytics'
rejected records) and its own rule for which requests they hit; the counted ones are used up
by the requests they hit, one each.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

import msgspec

Count = Annotated[int, msgspec.Meta(ge=0)]
"""How many requests a one-shot fault hits."""
Seconds = Annotated[float, msgspec.Meta(ge=0)]


class FaultError(ValueError):
    """Fault settings that cannot be applied; the message names the setting."""


class WireFaults(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What both sandboxes can do to a request; a sandbox's own settings extend it.

    - `latency_ms`: every API request waits this long before it is answered.
    - `fail_paths`: path prefixes (which may go on into the query string) of the requests the
      one-shot faults hit; ``["/"]`` is every API request, each sandbox has its own default.
    - `fail_next`: statuses the next requests answer with, one each (e.g. ``[429, 503]``).
    - `retry_after_seconds`: the ``Retry-After`` an injected 429 carries (Wistia's 503s too;
      None: none).
    - `timeout_next`: how many requests hang `timeout_seconds`; then Wistia answers (late),
      Lytics hangs up without an answer (nothing stored).
    - `reset_next`: how many requests get their connection reset, no answer at all.
    """

    latency_ms: Seconds = 0
    fail_paths: list[str] = msgspec.field(default_factory=lambda: ["/"])
    fail_next: list[int] = msgspec.field(default_factory=list)
    retry_after_seconds: Seconds | None = None
    timeout_next: Count = 0
    timeout_seconds: Seconds = 30.0
    reset_next: Count = 0

    @classmethod
    def from_mapping(cls, data: Any) -> Self:
        """Settings from JSON-like data; settings left out keep their defaults.

        Raises:
            FaultError: a setting is unknown or its value is wrong (named in the message).
        """
        try:
            faults = msgspec.convert(data, cls, strict=True)
        except msgspec.ValidationError as error:
            msg = f"fault settings refused: {error}"
            raise FaultError(msg) from None
        faults.check()
        return faults

    def hits(self, target: str) -> bool:
        """Whether the one-shot faults hit this request (its path and query as sent)."""
        return any(target.startswith(prefix) for prefix in self.fail_paths)

    def check(self) -> None:
        """What types alone cannot say (a sandbox adds its own rules).

        Raises:
            FaultError: naming the setting.
        """
        bad = [status for status in self.fail_next if not 400 <= status <= 599]  # noqa: PLR2004
        if bad:
            msg = f"fail_next must list HTTP error statuses (400-599), got {bad}"
            raise FaultError(msg)

    def to_mapping(self) -> dict[str, Any]:
        """The settings as JSON-ready data (what ``GET /_sandbox/faults`` shows)."""
        data: dict[str, Any] = msgspec.to_builtins(self)
        return data

    def copy(self) -> Self:
        """An independent copy (the one-shot counters of the copy are used up, not these)."""
        return msgspec.convert(self.to_mapping(), type(self))
