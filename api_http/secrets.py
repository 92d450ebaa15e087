"""Configured tokens never appear in what a plugin writes, even when a server echoes them.

`keep_secret(token)` registers a token for the process: from then on every log record (its
message and its traceback, whatever the logger) and every uncaught exception printed has it
replaced by `[redacted]`. `redact(text)` does the same for text built by hand.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import TracebackType

MASK = "[redacted]"
_MIN_SECRET = 4  # shorter values would mask ordinary words; no real token is this short

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()
_installed = False


def redact(text: str) -> str:
    """`text` with every registered token replaced by `[redacted]`."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def keep_secret(token: object) -> None:
    """Register `token` (and its parts around whitespace) so that nothing written shows it."""
    global _secrets  # noqa: PLW0603 - one registry per process, as logging is
    if not isinstance(token, str):
        return
    candidates = {token.strip(), *token.split()}
    fresh = {value for value in candidates if len(value) >= _MIN_SECRET}
    with _lock:
        # Longest first, so a token that contains another is masked whole.
        _secrets = tuple(sorted(set(_secrets) | fresh, key=len, reverse=True))
        _install()


def _install() -> None:
    global _installed  # noqa: PLW0603
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def redacting_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if not _secrets:
            return record
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed call; logging reports it itself
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[0] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text)
        return record

    logging.setLogRecordFactory(redacting_record)
    print_exception = sys.excepthook

    def redacting_hook(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        if not _secrets:
            print_exception(kind, value, tb)
            return
        import traceback  # noqa: PLC0415 - only when a plugin crashes

        text = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(redact(text))

    sys.excepthook = redacting_hook
