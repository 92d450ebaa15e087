"""The Singer SDK's standard target tests, run against the Lytics sandbox over real HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests
from singer_sdk.testing import get_target_test_class

from target_lytics.sandbox.server import LyticsSandbox
from target_lytics.target import TargetLytics

if TYPE_CHECKING:
    from collections.abc import Iterator

# Filled in with the sandbox's URL before any test creates a target (runners share this dict).
SANDBOX_CONFIG: dict[str, Any] = {
    "api_token": "sandbox-lytics-token",
    "retry_backoff_seconds": 0.01,
    "request_timeout": 5,
}

StandardTargetTests = get_target_test_class(TargetLytics, config=SANDBOX_CONFIG)


class TestTargetLytics(StandardTargetTests):  # type: ignore[misc, valid-type]
    """Standard suite: CLI prints, schema changes, STATE relaying, odd names and data."""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def lytics_sandbox(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LyticsSandbox]:
        """One sandbox for the suite; at the end, Lytics must have stored all it received."""
        db_path = tmp_path_factory.mktemp("lytics") / "lytics.db"
        with LyticsSandbox(db_path=db_path) as sandbox:
            SANDBOX_CONFIG["api_url"] = sandbox.url
            yield sandbox
            stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()
            assert stats["records_received"] > 0
            assert stats["rejected"] == 0
            assert stats["records_stored"] == stats["records_received"]
