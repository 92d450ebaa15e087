"""target-lytics against servers that misbehave on purpose: answers that trickle, never end or
never stop growing, a token echoed back, a huge Retry-After, nothing listening at all, a host
that does not resolve, a TLS handshake that fails."""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from api_http import client as api_client
from target_lytics.client import ClientSettings, LyticsClient
from target_lytics.errors import LyticsAuthError, LyticsResponseError, LyticsUnavailableError
from target_lytics.settings import settings_from_config
from tests.hostile import HUGE_ANSWERS, HostileServer, Script, Seen
from tests.lytics_runs import run_target, session, singer_lines

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

TOKEN = "hostile-lytics-token-7f3a"
ACCOUNTS = {"data": [{"id": "acct-h", "aid": 1, "name": "Hostile"}], "status": 200}


def accepted(request: Seen) -> Script:
    """Lytics' answer to a collect that stores everything."""
    count = len(json.loads(request.body))
    return Script.json({"status": 200, "data": {"message_count": count, "rejected_count": 0}})


def lytics(collect: Callable[[Seen], Script] = accepted) -> Callable[[Seen], Script]:
    """A server answering the account check like Lytics, and collects with `collect`."""

    def answer(request: Seen) -> Script:
        if request.path in {"/v2/account", "/api/account"}:
            return Script.json(ACCOUNTS)
        return collect(request)

    return answer


def settings(server: HostileServer, **more: Any) -> dict[str, Any]:
    return {
        "api_token": TOKEN,
        "api_url": server.url,
        "schema_mode": "off",
        "request_timeout": 3,
        "max_retries": 1,
        "retry_backoff_seconds": 0.01,
        **more,
    }


def one_record() -> str:
    return singer_lines([session(1)])


def trickle(body: bytes) -> Iterator[bytes]:
    for byte in body:
        yield bytes([byte])


def endless() -> Iterator[bytes]:
    while True:
        yield b" " * 10


# -- answers that never end ----------------------------------------------------------------------


def test_an_answer_trickled_a_byte_a_second_is_abandoned_at_the_request_deadline():
    # The attack as filed: an 85-byte answer at 1 byte/s with request_timeout 3 took 88 s.
    body = json.dumps(ACCOUNTS).encode().ljust(85)

    def answer(request: Seen) -> Script:
        return Script(200, trickle(body), {"Content-Type": "application/json"}, pause=1.0)

    started = time.monotonic()
    with HostileServer(answer) as server, pytest.raises(LyticsUnavailableError) as caught:
        run_target(settings(server, request_timeout=1), one_record())
    message = str(caught.value)
    assert f"Lytics kept failing on the token check at {server.url}: gave up after 2" in message
    assert "no whole answer within 1 s (request_timeout)" in message
    assert time.monotonic() - started < 40  # two tries of 1 s, not 85 s


def test_a_chunked_collect_answer_that_never_ends_is_abandoned_at_the_request_deadline():
    def collect(request: Seen) -> Script:
        return Script(200, endless(), {"Content-Type": "application/json"}, pause=0.3, chunked=True)

    with HostileServer(lytics(collect)) as server, pytest.raises(LyticsUnavailableError) as caught:
        run_target(settings(server, request_timeout=1), one_record())
    assert "Lytics kept failing on 1 records on stream 'wistia_activity'" in str(caught.value)
    assert "no whole answer within 1 s (request_timeout)" in str(caught.value)


# -- answers that never stop growing ------------------------------------------------------------


@HUGE_ANSWERS
def test_a_huge_answer_is_refused_by_its_size_not_read_into_memory(script):
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1_000_000  # KB, before
    with HostileServer(lambda _: script()) as server, pytest.raises(LyticsResponseError) as caught:
        run_target(settings(server), one_record())
    message = str(caught.value)
    assert "Lytics' answer to the token check (GET /v2/account) was refused" in message
    assert "67,108,864 bytes (decoded)" in message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1_000_000  # under 1 GB after


# -- a token echoed back -------------------------------------------------------------------------


def echo_token(request: Seen) -> Script:
    echoed = request.headers.get("Authorization", "")
    return Script.json({"status": 401, "message": f"bad token {echoed}"}, status=401)


def test_a_token_echoed_by_the_server_is_masked_in_errors_and_logs(caplog):
    caplog.set_level("DEBUG")
    with HostileServer(echo_token) as server, pytest.raises(LyticsAuthError) as caught:
        run_target(settings(server), one_record())
    assert TOKEN not in str(caught.value)
    assert "HTTP 401 bad token [redacted]" in str(caught.value)
    assert caplog.records
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


def test_a_token_echoed_where_the_quote_is_cut_leaves_no_part_of_it():
    # A text answer: 190 characters, then the token across the 200th: no prefix of it is shown.
    def answer(request: Seen) -> Script:
        text = "x" * 190 + " " + request.headers.get("Authorization", "")
        return Script(401, text.encode(), {"Content-Type": "text/plain"})

    with HostileServer(answer) as server, pytest.raises(LyticsAuthError) as caught:
        run_target(settings(server), one_record())
    assert TOKEN[:9] not in str(caught.value)
    assert "[redact" in str(caught.value)


@pytest.mark.e2e  # runs a process
def test_a_token_echoed_by_the_server_never_reaches_the_cli_output(tmp_path):
    with HostileServer(echo_token) as server:
        config_file = tmp_path / "config.json"
        config_file.write_text(json.dumps(settings(server)))
        done = subprocess.run(
            [sys.executable, "-m", "target_lytics", "--config", str(config_file)],
            input=one_record(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert TOKEN not in done.stderr + done.stdout
    assert "bad token [redacted]" in done.stderr


# -- a huge Retry-After ---------------------------------------------------------------------------


def test_a_huge_retry_after_is_waited_for_the_cap_not_for_hours(monkeypatch, caplog):
    monkeypatch.setattr(api_client, "MAX_WAIT_SECONDS", 1.0)
    answers = iter([Script(429, b"slow down", {"Retry-After": "99999"})])

    def collect(request: Seen) -> Script:
        return next(answers, None) or accepted(request)

    started = time.monotonic()
    with HostileServer(lytics(collect)) as server, caplog.at_level("WARNING"):
        run_target(settings(server), one_record())
        assert len(server.seen("/collect/json/wistia_activity")) == 2
    assert time.monotonic() - started < 30
    assert "Lytics asked to wait 99,999 s (Retry-After: 99999)" in caplog.text
    assert "waiting 1 s instead" in caplog.text


# -- nothing listening -----------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_nothing_listening_at_a_loopback_api_url_fails_at_once_with_the_command_to_start_it(
    caplog,
):
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    cfg = {"api_token": TOKEN, "api_url": url}  # the default 6 retries from 1 s: once ~63 s
    with caplog.at_level("WARNING"), pytest.raises(LyticsUnavailableError) as caught:
        run_target(cfg, one_record())
    message = str(caught.value)
    assert f"Cannot reach the Lytics API at api_url {url} (the token check)" in message
    assert f"127.0.0.1:{port} refused the connection (nothing listens there)" in message
    assert f"`lytics-sandbox --port {port}`" in message
    assert "retry" not in caplog.text
    assert time.monotonic() - started < 20


PORT = closed_port()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        # 0.0.0.0 reaches this machine but is no loopback address: it stands for a remote host.
        (f"https://0.0.0.0:{PORT}", f"0.0.0.0:{PORT} refused the connection (nothing listens"),
        ("https://api.lytics.invalid", "the host name api.lytics.invalid does not resolve"),
    ],
    ids=["refused", "unresolvable"],
)
def test_an_unreachable_host_fails_the_first_request_at_once_naming_api_url_and_its_host(
    url, problem, caplog
):
    # The repro: a misspelt host retried for about 51 s, then blamed the state.
    started = time.monotonic()
    with caplog.at_level("WARNING"), pytest.raises(LyticsUnavailableError) as caught:
        run_target({"api_token": TOKEN, "api_url": url}, one_record())
    message = str(caught.value)
    assert f"Cannot reach the Lytics API at api_url {url} (the token check): {problem}" in message
    assert "Check `api_url` (Lytics' is https://api.lytics.io)" in message
    assert "retry" not in caplog.text
    assert time.monotonic() - started < 15


def test_a_failed_tls_handshake_fails_the_first_request_at_once():
    # A plain-HTTP server spoken to in TLS: the handshake fails, as with a proxy or a bad cert.
    with HostileServer(lytics()) as server, pytest.raises(LyticsUnavailableError) as caught:
        run_target(settings(server, api_url=server.url.replace("http:", "https:")), one_record())
    message = str(caught.value)
    assert "(the token check): the TLS handshake with 127.0.0.1 failed" in message
    assert not server.requests  # no HTTP request ever reached it


def test_once_lytics_answered_a_refused_connection_is_retried_then_named():
    url = f"http://127.0.0.1:{closed_port()}"
    client = LyticsClient(ClientSettings(url, TOKEN, max_retries=2, retry_backoff=0.01))
    client.answered = True  # as after the token check: from then on, a restart is transient
    with pytest.raises(LyticsUnavailableError) as caught:
        client.call("GET", "/v2/account", what="the token check")
    assert client.retries == 2
    assert "gave up after 3 attempts (last: connection refused by 127.0.0.1)" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["http://127.attacker.example/", "http://127.0.0.1.nip.io/", "http://localhost.evil:8702"],
)
def test_plain_http_to_a_host_that_only_looks_local_is_refused(url):
    with pytest.raises(ConfigValidationError) as caught:
        settings_from_config({"api_token": TOKEN, "api_url": url})
    assert any("would send the token unencrypted" in error for error in caught.value.errors)
