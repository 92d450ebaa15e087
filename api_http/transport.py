"""Where a plugin may send its token over plain http: to this machine only (a local sandbox)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback IP literals (127.0.0.0/8, ::1), nothing else.

    A name that only starts like one (`127.attacker.example`) is a remote host.
    """
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """True when `url`'s host is this machine (where plain http is acceptable)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return host is not None and is_loopback_host(host)


def start_sandbox_hint(command: str, url: str) -> str:
    """How to start the local sandbox a loopback `url` names, installed or from a clone.

    The sandboxes come with the plugins as console scripts (`wistia-sandbox`, `lytics-sandbox`);
    `make sandboxes` exists only in a clone of the repository.
    """
    try:
        port = urlsplit(url).port
    except ValueError:
        port = None
    where = f" --port {port}" if port else ""
    return (
        f"Start it with `{command}{where}` (installed with the plugins), or both sandboxes with "
        "`make sandboxes` in a clone of the repository"
    )
