"""target-lytics against servers that misbehave on purpose: answers that trickle, never end or
never stop growing, a token echoed back, a huge Retry-After, nothing listening at all."""

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

from target_lytics import retries
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
    assert "Gave up on the token check" in message
    assert "no whole answer within 1 s (request_timeout)" in message
    assert time.monotonic() - started < 40  # two tries of 1 s, not 85 s


def test_a_chunked_collect_answer_that_never_ends_is_abandoned_at_the_request_deadline():
    def collect(request: Seen) -> Script:
        return Script(200, endless(), {"Content-Type": "application/json"}, pause=0.3, chunked=True)

    with HostileServer(lytics(collect)) as server, pytest.raises(LyticsUnavailableError) as caught:
        run_target(settings(server, request_timeout=1), one_record())
    assert "Gave up on 1 records on stream 'wistia_activity'" in str(caught.value)
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
    monkeypatch.setattr(retries, "MAX_WAIT_SECONDS", 1.0)
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
    url = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    cfg = {"api_token": TOKEN, "api_url": url}  # the default 6 retries from 1 s: once ~63 s
    with caplog.at_level("WARNING"), pytest.raises(LyticsUnavailableError) as caught:
        run_target(cfg, one_record())
    message = str(caught.value)
    assert f"Nothing answers at {url} (connection refused) for the token check" in message
    assert "make sandboxes" in message
    assert "retry" not in caplog.text
    assert time.monotonic() - started < 20


def test_a_refused_connection_elsewhere_is_retried_and_names_api_url_and_its_host():
    # 0.0.0.0 reaches this machine but is no loopback address: it stands for a remote host.
    url = f"https://0.0.0.0:{closed_port()}"
    with pytest.raises(LyticsUnavailableError) as caught:
        run_target({"api_token": TOKEN, "api_url": url, "max_retries": 1,
                    "retry_backoff_seconds": 0.01}, one_record())  # fmt: skip
    message = str(caught.value)
    assert "after 2 attempts" in message
    assert f"connection refused by 0.0.0.0: check api_url ({url})" in message


@pytest.mark.parametrize(
    "url",
    ["http://127.attacker.example/", "http://127.0.0.1.nip.io/", "http://localhost.evil:8702"],
)
def test_plain_http_to_a_host_that_only_looks_local_is_refused(url):
    with pytest.raises(ConfigValidationError) as caught:
        settings_from_config({"api_token": TOKEN, "api_url": url})
    assert any("would send the token unencrypted" in error for error in caught.value.errors)
