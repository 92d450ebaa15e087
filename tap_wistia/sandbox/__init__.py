"""A faithful local Wistia Data API (v1 and the current API), for trying the pipeline and tests.

Run it with ``python -m tap_wistia.sandbox`` (or ``wistia-sandbox``), or in Python::

    with WistiaSandbox(Account(AccountSpec(events=5000, days=7))) as sandbox:
        ...  # point the tap's api_url at sandbox.url (v1), token SANDBOX_TOKEN, or at
        # sandbox.current_url with an api_version such as 2026-03

The account is generated deterministically from its spec; faults, rate limits and live events
are switched at runtime through ``WistiaSandbox`` methods or the admin API under ``/_sandbox/``.
"""

from tap_wistia.sandbox.account import Account, AccountSpec, EventError
from tap_wistia.sandbox.api import DEFAULT_TOKENS, SANDBOX_TOKEN
from tap_wistia.sandbox.days import EventQuery
from tap_wistia.sandbox.faults import FaultError, Faults
from tap_wistia.sandbox.server import WistiaSandbox

__all__ = [
    "DEFAULT_TOKENS",
    "SANDBOX_TOKEN",
    "Account",
    "AccountSpec",
    "EventError",
    "EventQuery",
    "FaultError",
    "Faults",
    "WistiaSandbox",
]
