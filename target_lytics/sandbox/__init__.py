"""A faithful local Lytics API (collect, account, entity, profile merge), for tries and tests.

``LyticsSandbox`` serves it over real HTTP (``python -m target_lytics.sandbox`` from a shell);
``profiles`` holds the pure merge that turns stored events into user profiles.
"""

from target_lytics.sandbox.faults import Faults
from target_lytics.sandbox.profiles import ProfileBook, ProfileSchema, merge_fragments
from target_lytics.sandbox.server import (
    DEFAULT_ACCOUNT,
    DEFAULT_TOKEN,
    EXPIRED_TOKEN,
    LyticsSandbox,
)

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_TOKEN",
    "EXPIRED_TOKEN",
    "Faults",
    "LyticsSandbox",
    "ProfileBook",
    "ProfileSchema",
    "merge_fragments",
]
