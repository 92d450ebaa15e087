"""The Singer SDK's standard tap tests, run against the Wistia sandbox over real HTTP."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_wistia.sandbox.account import Account, AccountSpec
from tap_wistia.sandbox.server import WistiaSandbox
from tap_wistia.tap import TapWistia
from tests.harness import catalog_selecting

if TYPE_CHECKING:
    from collections.abc import Iterator

ACCOUNT = Account(AccountSpec(seed=3, events=600, days=2, visitors=60, medias=5))
# Filled in with the sandbox's URL before any test creates a tap (the runners share this dict).
SANDBOX_CONFIG: dict[str, Any] = {
    "api_token": "sandbox-wistia-token",
    "start_date": (ACCOUNT.spec.end_at - dt.timedelta(days=2)).date().isoformat(),
}

STREAMS = {
    "wistia_activity",
    "wistia_events",
    "wistia_medias",
    "wistia_visitors",
    "wistia_folders",
    "wistia_tags",
    "wistia_captions",
    "wistia_media_stats",
    "wistia_media_engagement",
    "wistia_media_daily_stats",
    "wistia_account_daily_stats",
}

# Every stream selected, those off by default included, so that the suite's checks of records
# against the catalog see each stream's schema.
StandardTapTests = get_tap_test_class(
    TapWistia,
    config=SANDBOX_CONFIG,
    suite_config=SuiteConfig(max_records_limit=None),
    catalog=catalog_selecting(SANDBOX_CONFIG, STREAMS),
)


class TestTapWistia(StandardTapTests):  # type: ignore[misc, valid-type]
    """Standard suite: CLI, discovery, sync of every stream, schema/record agreement."""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def wistia_sandbox(cls) -> Iterator[WistiaSandbox]:
        with WistiaSandbox(ACCOUNT, rate_limit_per_minute=None) as sandbox:
            SANDBOX_CONFIG["api_url"] = sandbox.url
            yield sandbox
            assert sandbox.stats()["requests"] > 0
