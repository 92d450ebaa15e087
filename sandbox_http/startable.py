"""What a `with` block starts and stops: the sandboxes, their processes, the playground's stack.

`with WistiaSandbox() as wistia:` is `wistia.start()`, then `wistia.stop()` however the block
ends. One base class holds that, so each server only says how it starts and stops.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Startable"]


class Startable(ABC):
    """Something started and stopped; a `with` block does both."""

    @abstractmethod
    def start(self) -> Self:
        """Start; return self."""

    @abstractmethod
    def stop(self) -> object:
        """Stop, releasing what `start` took; safe to call when stopped."""

    def __enter__(self) -> Self:
        """Start."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop, however the block ended."""
        self.stop()
