"""A faithful local Wistia Data API, for trying the pipeline and for every test."""

from tap_wistia.sandbox.account import Account, AccountSpec, EventError, EventQuery
from tap_wistia.sandbox.api import DEFAULT_TOKENS, SANDBOX_TOKEN
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
