"""Errors that point at the setting: an api_url that reaches nothing fails at once, naming it.

A refused connection or an unknown host at the first request is a wrong `api_url`, not a
transient fault: no retries. A 404 before the API ever answered says to check `api_url` (and
`api_version`). Later transient failures keep their retries. No message carries the token.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest

from tap_wistia.api_versions import ApiVersion
from tap_wistia.client import WistiaClient, WistiaError, _error_detail
from tap_wistia.sandbox.account import AccountSpec
from tests.clock import END
from tests.harness import run_tap, run_tap_process

TOKEN = "sandbox-wistia-token"


pytestmark = pytest.mark.usefixtures("pinned_clock")


@pytest.fixture
def sandbox(wistia_sandbox, pinned_clock):
    return wistia_sandbox(AccountSpec(seed=4, events=300, days=1, visitors=40, medias=4, end=END))


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def failing_run(config: dict[str, Any], caplog) -> tuple[str, int]:
    """Run the tap in-process; its error message and how many retries it made."""
    with caplog.at_level(logging.WARNING):
        out = run_tap({"api_token": TOKEN, **config}, expect_error=True)
    assert isinstance(out.error, WistiaError), out.error
    assert out.tap is not None
    message = str(out.error)
    assert TOKEN not in message
    assert TOKEN not in caplog.text
    return message, out.tap.client.stats.retries


def test_a_refused_connection_at_the_first_request_names_api_url_and_its_host(caplog):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    message, retries = failing_run({"api_url": url}, caplog)
    assert retries == 0
    assert "; retry " not in caplog.text
    assert f"api_url {url}" in message
    assert url.split("/")[2] in message  # host:port
    assert "refused" in message
    assert "`make sandboxes`" in message  # a loopback URL: the sandbox is not running


def test_an_unknown_host_at_the_first_request_names_api_url_and_the_host(caplog):
    url = "https://api.wistia.invalid/v1"  # .invalid never resolves (RFC 6761)
    message, retries = failing_run({"api_url": url}, caplog)
    assert retries == 0
    assert "api.wistia.invalid does not resolve" in message
    assert f"api_url {url}" in message


def test_a_404_at_the_first_request_says_to_check_api_url(sandbox, caplog):
    message, retries = failing_run({"api_url": f"{sandbox.base_url}/v2"}, caplog)
    assert retries == 0
    assert "HTTP 404" in message
    assert "check `api_url`" in message
    assert "https://api.wistia.com/v1" in message


def test_a_404_of_the_current_api_says_to_check_api_url_and_api_version(sandbox, caplog):
    config = {"api_url": f"{sandbox.base_url}/current", "api_version": "2026-03"}
    message, _ = failing_run(config, caplog)
    assert "check `api_url`" in message
    assert "`api_version`" in message
    assert "https://api.wistia.com/modern" in message


@pytest.mark.e2e  # runs a process
def test_the_cli_fails_fast_with_one_line_naming_the_setting():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    done = run_tap_process({"api_token": TOKEN, "api_url": url})
    assert done.returncode == 1
    assert f"api_url {url}" in done.stderr
    assert "; retry " not in done.stderr
    assert TOKEN not in done.stderr


def test_after_the_api_answered_a_refused_connection_is_retried(sandbox):
    client = WistiaClient(sandbox.url, TOKEN, max_tries=3, backoff_factor=0.01)
    assert client.get("medias.json", {"per_page": 1})
    sandbox.stop()  # the port now refuses connections, as a restarting server does
    with pytest.raises(WistiaError, match="kept failing") as raised:
        client.get("medias.json", {"per_page": 1})
    assert "api_url" not in str(raised.value)
    assert client.stats.retries == 2


def test_a_404_once_the_api_answered_is_not_blamed_on_api_url(sandbox):
    client = WistiaClient(sandbox.url, TOKEN, max_tries=2)
    assert client.get("medias.json", {"per_page": 1})
    with pytest.raises(WistiaError, match="HTTP 404") as raised:
        client.get("medias/nosuchmedia.json")
    assert "api_url" not in str(raised.value)


def test_the_rate_limit_text_is_read_as_text_never_as_json(sandbox):
    sandbox.set_faults(fail_next=[429, 429], fail_paths=["/modern/"], retry_after_seconds=0)
    client = WistiaClient(sandbox.current_url, TOKEN, max_tries=2, version=ApiVersion("2026-03"))
    with pytest.raises(WistiaError, match=r"HTTP 429 \(Rate limit exceeded\)"):
        client.get("stats/events", {"per_page": 1})
    # a text body that happens to look like JSON is still text: no JSON parser sees it
    assert _error_detail(b'{"error": "x"}', {"Content-Type": "text/plain"}) == '{"error": "x"}'
    assert _error_detail(b"<html>busy</html>", {"Content-Type": "text/html"}) == ""
    assert _error_detail(b'{"errors": ["a", "b"]}', {"Content-Type": "application/json"}) == "a; b"
