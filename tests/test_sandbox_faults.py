"""Both sandboxes take the same wire-fault settings by the same names, and do the same with them.

The same JSON goes to each sandbox's ``POST /_sandbox/faults``; a client then sees the same
thing from both over real HTTP: the failure status with its ``Retry-After``, a reset, a hang,
the latency. Unknown or wrong settings are refused by both with a 400 that names them.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
import requests

from sandbox_http.faults import WireFaults
from tap_wistia.sandbox import SANDBOX_TOKEN, Account, AccountSpec, WistiaSandbox
from target_lytics.sandbox import DEFAULT_TOKEN, LyticsSandbox

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

Timeout = float | tuple[float, float]
EVERY_REQUEST = {"fail_paths": ["/"]}
"""Both sandboxes' default fail_paths are their own; this one is every API request in both."""
END = datetime(2025, 3, 10, tzinfo=UTC)
SMALL = AccountSpec(seed=3, events=50, days=1, visitors=5, medias=2, end=END)


@dataclass(frozen=True)
class Running:
    """A running sandbox: where its admin API is, and one API request a client would make."""

    base_url: str
    call: Callable[[Timeout], requests.Response]


@contextlib.contextmanager
def wistia() -> Iterator[Running]:
    with WistiaSandbox(Account(SMALL), rate_limit_per_minute=None) as sandbox:
        headers = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}

        def call(timeout: Timeout = 5) -> requests.Response:
            return requests.get(f"{sandbox.url}/medias.json", headers=headers, timeout=timeout)

        yield Running(sandbox.base_url, call)


@contextlib.contextmanager
def lytics() -> Iterator[Running]:
    with LyticsSandbox() as sandbox:
        headers = {"Authorization": DEFAULT_TOKEN}

        def call(timeout: Timeout = 5) -> requests.Response:
            url = f"{sandbox.url}/collect/json/wistia_activity"
            return requests.post(url, json={"email": "a@b.co"}, headers=headers, timeout=timeout)

        yield Running(sandbox.url, call)


@pytest.fixture(params=[wistia, lytics], ids=["wistia", "lytics"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[Running]:
    with request.param() as running:
        yield running


def set_faults(sandbox: Running, **settings: Any) -> requests.Response:
    return requests.post(f"{sandbox.base_url}/_sandbox/faults", json=settings, timeout=5)


def test_both_show_every_wire_fault_by_its_shared_name(sandbox):
    shown = requests.get(f"{sandbox.base_url}/_sandbox/faults", timeout=5).json()
    shared = {field.name for field in msgspec.structs.fields(WireFaults)}
    assert shared <= set(shown)


def test_the_same_failure_settings_answer_the_same_status_and_retry_after(sandbox):
    settings = {"fail_next": [429], "retry_after_seconds": 2, **EVERY_REQUEST}
    assert set_faults(sandbox, **settings).status_code == 200
    failed = sandbox.call(5)
    assert (failed.status_code, failed.headers.get("Retry-After")) == (429, "2")
    assert sandbox.call(5).status_code == 200  # used up


def test_the_same_reset_settings_reset_the_connection_once(sandbox):
    assert set_faults(sandbox, reset_next=1, **EVERY_REQUEST).status_code == 200
    with pytest.raises(requests.ConnectionError):
        sandbox.call(5)
    assert sandbox.call(5).status_code == 200


def test_the_same_timeout_settings_leave_the_client_without_an_answer(sandbox):
    assert (
        set_faults(sandbox, timeout_next=1, timeout_seconds=5, **EVERY_REQUEST).status_code == 200
    )
    with pytest.raises(requests.ReadTimeout):
        sandbox.call((2, 0.3))


def test_the_same_latency_delays_every_api_request(sandbox):
    assert set_faults(sandbox, latency_ms=400).status_code == 200
    started = time.monotonic()
    assert sandbox.call(5).status_code == 200
    assert time.monotonic() - started >= 0.4


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"retry_after": 2}, "retry_after"),  # the Lytics sandbox's old name
        ({"scope": "api"}, "scope"),  # likewise: fail_paths now
        ({"latency": 5}, "latency"),
        ({"reset_next": -1}, "reset_next"),
        ({"fail_next": [200]}, "fail_next"),
        ({"fail_paths": "/"}, "fail_paths"),
    ],
)
def test_unknown_or_wrong_settings_get_a_400_naming_them_and_change_nothing(
    sandbox, settings, named
):
    before = requests.get(f"{sandbox.base_url}/_sandbox/faults", timeout=5).json()
    refused = set_faults(sandbox, **settings)
    assert refused.status_code == 400
    assert named in refused.text
    assert requests.get(f"{sandbox.base_url}/_sandbox/faults", timeout=5).json() == before
