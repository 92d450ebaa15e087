"""A sandbox listening on every interface: where it says it listens, and who may use its admin API.

`--host 0.0.0.0` used to print `http://127.0.0.1:…` while every interface was open, and its
admin API (reset, faults, accounts) answered anyone who could reach it. It answers clients of
this machine only, unless the sandbox was started with an admin token that others then send.
The tests reach the sandbox through an address of this machine that is not a loopback one, as
a client elsewhere would.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import requests

from sandbox_http.shell import ADMIN_TOKEN_HEADER, ADMIN_TOKEN_VARIABLE
from tap_wistia.sandbox.account import Account, AccountSpec
from tap_wistia.sandbox.api import SANDBOX_TOKEN as TOKEN
from tap_wistia.sandbox.server import WistiaSandbox
from target_lytics.sandbox.server import DEFAULT_TOKEN, LyticsSandbox

if TYPE_CHECKING:
    from collections.abc import Iterator


def outside_address() -> str | None:
    """An address of this machine that is not a loopback one (None when it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # a documentation address: no packet is sent
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - what is tested
OUTSIDE = outside_address()
needs_outside = pytest.mark.skipif(OUTSIDE is None, reason="this machine has no other address")


@pytest.fixture
def everywhere() -> Iterator[LyticsSandbox]:
    with LyticsSandbox(host=EVERY_INTERFACE) as sandbox:
        yield sandbox


def from_outside(sandbox: LyticsSandbox, path: str, **headers: str) -> requests.Response:
    return requests.get(
        f"http://{OUTSIDE}:{sandbox.url.rsplit(':', 1)[1]}{path}", headers=headers, timeout=5
    )


@needs_outside
def test_the_admin_api_answers_this_machine_and_refuses_clients_elsewhere(everywhere):
    refused = from_outside(everywhere, "/_sandbox/stats")
    assert refused.status_code == 403
    assert "answers clients on its own machine only" in refused.json()["message"]
    assert requests.post(f"http://{OUTSIDE}:{everywhere.url.rsplit(':', 1)[1]}/_sandbox/faults",
                         json={"fail_next": [500]}, timeout=5).status_code == 403  # fmt: skip
    assert requests.get(f"{everywhere.url}/_sandbox/stats", timeout=5).status_code == 200
    # The API itself answers anyone holding its token, as Lytics does.
    account = from_outside(everywhere, "/api/account", Authorization=DEFAULT_TOKEN)
    assert account.status_code == 200
    assert everywhere.stats()["by_status"] == {"200": 1}  # the refused fault was never set


@needs_outside
def test_with_an_admin_token_clients_elsewhere_that_send_it_may_use_the_admin_api():
    with LyticsSandbox(host=EVERY_INTERFACE, admin_token="adm-7f3") as sandbox:
        assert from_outside(sandbox, "/_sandbox/stats", **{ADMIN_TOKEN_HEADER: "adm-7f3"}).ok
        wrong = from_outside(sandbox, "/_sandbox/stats", **{ADMIN_TOKEN_HEADER: "adm-7f4"})
        assert wrong.status_code == 403
        assert from_outside(sandbox, "/_sandbox/stats").status_code == 403


def test_the_sandbox_says_which_address_it_really_listens_on(everywhere):
    assert everywhere.bound_url == f"http://0.0.0.0:{everywhere.url.rsplit(':', 1)[1]}"
    assert everywhere.url.startswith("http://127.0.0.1:")  # where this machine reaches it


def first_line(module: str, *args: str) -> tuple[str, str]:
    """Start a sandbox CLI, read the line it prints when listening, stop it: (it, the rest)."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
    finally:
        process.terminate()
        rest, _ = process.communicate(timeout=15)
    return first, rest


@pytest.mark.e2e  # runs a process
@pytest.mark.parametrize(
    ("host", "shown"),
    [
        (
            EVERY_INTERFACE,
            "listening on http://0.0.0.0:{port} (from this machine: http://127.0.0.1:{port})",
        ),
        (
            "127.0.0.1",
            "listening on http://127.0.0.1:{port}; admin API /_sandbox/: this machine only",
        ),
    ],
)
def test_the_cli_prints_the_address_it_binds(host, shown, monkeypatch):
    monkeypatch.delenv(ADMIN_TOKEN_VARIABLE, raising=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    first, _ = first_line("target_lytics.sandbox", "--host", host, "--port", str(port), "--quiet")
    assert shown.format(port=port) in first, first


@pytest.mark.e2e  # runs a process
def test_the_cli_takes_the_admin_token_from_the_environment(monkeypatch):
    monkeypatch.setenv(ADMIN_TOKEN_VARIABLE, "adm-env-1")
    first, out = first_line(
        "target_lytics.sandbox", "--host", EVERY_INTERFACE, "--port", "0", "--quiet"
    )
    assert f"others sending {ADMIN_TOKEN_HEADER}" in first
    assert "adm-env-1" not in first + out


@needs_outside
def test_the_wistia_sandbox_refuses_its_admin_api_elsewhere_too():
    with WistiaSandbox(Account(AccountSpec(events=50, days=1)), host=EVERY_INTERFACE) as sandbox:
        port = sandbox.port
        outside = f"http://{OUTSIDE}:{port}"
        assert requests.get(f"{outside}/_sandbox/stats", timeout=5).status_code == 403
        refused = requests.post(f"{outside}/_sandbox/faults", json={"latency_ms": 1}, timeout=5)
        assert refused.status_code == 403
        for alias in ("/v1/_sandbox/faults", "/modern/_sandbox/faults"):  # the same admin API
            assert requests.get(f"{outside}{alias}", timeout=5).status_code == 403
            assert requests.get(f"{sandbox.base_url}{alias}", timeout=5).ok
        assert requests.get(f"{sandbox.base_url}/_sandbox/stats", timeout=5).ok
        medias = requests.get(
            f"{outside}/v1/medias.json", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
        )
        assert medias.ok  # the API answers anyone with its token
        assert sandbox.bound_url == f"http://0.0.0.0:{port}"


@pytest.mark.e2e  # runs a process
def test_the_wistia_cli_prints_the_address_it_binds(monkeypatch):
    monkeypatch.delenv(ADMIN_TOKEN_VARIABLE, raising=False)
    first, _ = first_line(
        "tap_wistia.sandbox", "--host", EVERY_INTERFACE, "--port", "0", "--events", "50",
        "--days", "1",
    )  # fmt: skip
    assert "Wistia sandbox listening on http://0.0.0.0:" in first
    assert "(from this machine: http://127.0.0.1:" in first
    assert "admin API /_sandbox/: this machine only" in first
