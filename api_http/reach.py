"""Why a connection failed: a setting that names no reachable API, or a moment's trouble.

Before an API has answered once, a host that does not resolve, a port nothing listens on or a
TLS handshake that fails say that `api_url` is wrong (or the sandbox is not running): retrying
them for a minute only delays the message the user needs. Once the API has answered, the same
failures are a restart or a network blip, and are retried. requests wraps the socket's error in
urllib3's (`reason`, `args`, `__cause__`); the chain is walked to find it.
"""

from __future__ import annotations

import socket
import ssl
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterator


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error` and every error linked to it, each once."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += list(current.args)
        pending += [item for item in linked if isinstance(item, BaseException)]


def is_refused(error: BaseException) -> bool:
    """Whether nothing listened at the host and port (the request surely never arrived)."""
    return any(isinstance(item, ConnectionRefusedError) for item in _chain(error))


def unreachable_problem(error: BaseException, url: str) -> str | None:
    """What makes `url` unreachable, in words naming its host; None for a transient failure.

    Unreachable: the host name does not resolve, the connection is refused, the TLS handshake
    fails. A reset, a timeout or a dropped connection is no proof of a wrong setting.
    """
    parts = urlsplit(url)
    host = parts.hostname or url
    for item in _chain(error):
        if isinstance(item, socket.gaierror):
            return f"the host name {host} does not resolve"
        if isinstance(item, ConnectionRefusedError):
            return f"{parts.netloc or host} refused the connection (nothing listens there)"
        if isinstance(item, ssl.SSLError):
            said = getattr(item, "verify_message", None) or getattr(item, "reason", None)
            return f"the TLS handshake with {host} failed ({said or type(item).__name__})"
    return None
