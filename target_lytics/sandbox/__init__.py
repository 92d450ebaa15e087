"""A faithful local Lytics API (collect, accounts, schema, entity, streams), for tries and tests.

``LyticsSandbox`` (``server``) serves it over real HTTP (``python -m target_lytics.sandbox``
from a shell); ``api`` answers requests, ``collect`` holds Lytics' record rules, ``stats`` the
counters, ``faults`` the failures it can inject.
Profiles are built only through each account's published fields and mappings: ``schema`` holds
the schema workflow, ``lql`` and ``mapper`` turn stream records into user-field values, and
``profiles`` holds the pure merge that folds those into user profiles.
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
