"""The one place that talks HTTP to Lytics.

Lytics' collect API answers 200 even when it drops records (`rejected_count`), documents no
rate-limit headers and only says "wait and retry" on 429 and 5xx. This module turns all of that
into two outcomes the sink can rely on: a request returns once Lytics has durably accepted every
record it carried, or it raises an exception whose message says what to fix. Along the way it
retries transient failures with exponential backoff and jitter (honouring `Retry-After`), splits a
request Lytics finds too large, and keeps several requests in flight at once. The account check
and the schema API (`schema_api`) go through the same retry path (`call`).

The token travels only in the `Authorization` header (never in a URL, a log line or a message).
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from requests.exceptions import ChunkedEncodingError
from singer_sdk.exceptions import FatalAPIError

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)

#: Lytics' documented limits for `POST /collect/json/{stream}`.
MAX_REQUEST_BYTES: Final = 10 * 1024 * 1024
MAX_RECORD_BYTES: Final = 16 * 1024
MAX_IDENTIFIER_BYTES: Final = 256
#: Longest wait between two attempts, whatever the backoff or `Retry-After` asks for.
MAX_BACKOFF_SECONDS: Final = 60.0
MAX_RETRY_AFTER_SECONDS: Final = 300.0

_RETRIABLE_STATUSES: Final = frozenset({408, 425, 429})


class LyticsError(FatalAPIError):
    """A failure the user has to act on; the CLI prints its message and exits with status 1."""


class LyticsAuthError(LyticsError):
    """Lytics refused the token (401/403)."""


class LyticsRequestError(LyticsError):
    """Lytics refused a request for a reason retrying cannot fix (400, 404, 422, ...)."""


class LyticsRejectedError(LyticsError):
    """Lytics answered 2xx but did not ingest some records (`rejected_count` > 0)."""


class LyticsResponseError(LyticsError):
    """A 2xx answer that does not confirm delivery (not JSON, no counts, records missing)."""


class LyticsUnavailableError(LyticsError):
    """Lytics kept failing (429, 5xx, timeouts, resets) until the retries ran out."""


class _AbortedError(Exception):
    """Another request of the same batch failed, so this one stops retrying."""


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """What the client needs from the target's settings."""

    api_url: str
    api_token: str = field(repr=False)
    dryrun: bool = False
    account_id: str | None = None
    max_in_flight: int = 8
    rows_per_request: int = 1000
    max_request_bytes: int = MAX_REQUEST_BYTES
    request_timeout: float = 60.0
    max_retries: int = 6
    retry_backoff: float = 1.0


@dataclass(slots=True)
class CollectReport:
    """What it took to deliver some records: counts for the sink's log line."""

    records: int = 0
    requests: int = 0
    retries: int = 0
    splits: int = 0

    def add(self, other: CollectReport) -> None:
        """Fold another request's report into this one."""
        self.records += other.records
        self.requests += other.requests
        self.retries += other.retries
        self.splits += other.splits


# --------------------------------------------------------------------------------------------
# Pure rules: when and how long to wait, how to describe an answer
# --------------------------------------------------------------------------------------------


def is_retriable(status: int) -> bool:
    """Statuses Lytics (or its edge) uses for "not now": 408, 425, 429 and every 5xx."""
    return status in _RETRIABLE_STATUSES or status >= 500  # noqa: PLR2004


def backoff_delay(attempt: int, base: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number `attempt + 1`: exponential, capped, half jittered.

    Half the delay is fixed so the wait really grows; the other half is random so many targets
    failing together do not retry in lockstep.
    """
    ceiling = min(MAX_BACKOFF_SECONDS, base * 2.0**attempt)
    return ceiling / 2 + rand() * ceiling / 2


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (seconds or HTTP date), capped; None if absent."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def describe_answer(response: requests.Response) -> str:
    """Lytics' own words for an answer: status, its `message` and `request_id` when present."""
    detail = ""
    try:
        body = response.json()
    except ValueError:
        detail = " ".join(response.text.split())[:200]
    else:
        if isinstance(body, dict):
            detail = str(body.get("message") or body.get("error") or "").strip()
            if body.get("request_id"):
                detail += f", request_id {body['request_id']}"
    reason = detail or response.reason or "no message"
    return f"HTTP {response.status_code} {reason}"


def accepted_count(body: Any, sent: int) -> tuple[int, int | None]:
    """Read (`rejected_count`, `message_count`) of a collect answer; raise if it confirms nothing.

    Raises:
        LyticsResponseError: the answer has no `data.rejected_count`, so delivery is unconfirmed.
    """
    data = body.get("data") if isinstance(body, dict) else None
    rejected = data.get("rejected_count") if isinstance(data, dict) else None
    if not isinstance(rejected, int):
        msg = (
            f"Lytics answered a collect of {sent} records without a rejected_count, so their "
            "delivery is unconfirmed; check that api_url points at the Lytics API"
        )
        raise LyticsResponseError(msg)
    count = data.get("message_count") if isinstance(data, dict) else None
    return rejected, count if isinstance(count, int) else None


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------


class _RawTokenAuth(AuthBase):
    """Lytics' scheme: the raw token as the `Authorization` header (no "Bearer", no URL)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the header to one outgoing request."""
        request.headers["Authorization"] = self._token
        return request

    def __repr__(self) -> str:
        """Never show the token."""
        return "_RawTokenAuth(<hidden>)"


class LyticsClient:
    """HTTP access to one Lytics account: token check, durable collect, concurrent deliveries."""

    def __init__(self, settings: ClientSettings, *, user_agent: str = "target-lytics") -> None:
        """Prepare pooled connections; nothing is sent until the first call."""
        self.settings = settings
        self._base = settings.api_url.rstrip("/")
        self._auth = _RawTokenAuth(settings.api_token)
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": user_agent,
        }
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(settings.max_in_flight)

    # -- plumbing ------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        """This thread's keep-alive session (requests' Session is not documented thread-safe)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self._headers)
            session.auth = self._auth  # also keeps a ~/.netrc entry from replacing the token
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _params(
        self, extra: dict[str, str] | None = None, *, collect: bool = True
    ) -> dict[str, str]:
        params = dict(extra or {})
        if self.settings.dryrun and collect:
            params["dryrun"] = "true"
        if self.settings.account_id:
            params["account_id"] = self.settings.account_id
        return params

    def _send(  # noqa: PLR0913
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, str],
        body: bytes | None = None,
        report: CollectReport | None = None,
        abort: threading.Event | None = None,
        passthrough: frozenset[int] = frozenset(),
    ) -> requests.Response:
        """Send until Lytics gives a final answer, which is returned or raised.

        2xx, 413 and the ``passthrough`` statuses are returned; other refusals raise.
        """
        settings = self.settings
        attempt = 0
        while True:
            if abort is not None and abort.is_set():
                raise _AbortedError
            outcome = self._attempt(
                method, self._base + path, params, body, what, passthrough=passthrough
            )
            if isinstance(outcome, requests.Response):
                return outcome
            reason, wait_for = outcome
            if attempt == settings.max_retries:
                msg = (
                    f"Gave up on {what} at {self._base} after {attempt + 1} attempts (last: "
                    f"{reason}); the STATE was not advanced, so a later run resends"
                )
                raise LyticsUnavailableError(msg)
            delay = (
                wait_for if wait_for is not None else backoff_delay(attempt, settings.retry_backoff)
            )
            logger.warning(
                "Lytics: %s for %s; retry %d of %d in %.2fs",
                reason,
                what,
                attempt + 1,
                settings.max_retries,
                delay,
            )
            if report is not None:
                report.retries += 1
            if abort is None:
                time.sleep(delay)
            elif abort.wait(delay):
                raise _AbortedError
            attempt += 1

    def _attempt(  # noqa: PLR0913 - one request's parts
        self,
        method: str,
        url: str,
        params: dict[str, str],
        body: bytes | None,
        what: str,
        *,
        passthrough: frozenset[int] = frozenset(),
    ) -> requests.Response | tuple[str, float | None]:
        """One try: a final answer, or why to retry and how long Lytics asked us to wait."""
        try:
            response = self._session().request(
                method,
                url,
                params=params,
                data=body,
                timeout=self.settings.request_timeout,
                allow_redirects=False,
            )
        except (requests.Timeout, requests.ConnectionError, ChunkedEncodingError) as exc:
            return _network_reason(exc), None
        status = response.status_code
        if 200 <= status < 300 or status == 413 or status in passthrough:  # noqa: PLR2004
            return response
        if not is_retriable(status):
            raise self._refusal(response, what)
        return describe_answer(response), retry_after_seconds(response.headers.get("Retry-After"))

    def _refusal(self, response: requests.Response, what: str) -> LyticsError:
        answer = describe_answer(response)
        status = response.status_code
        if status in {401, 403}:
            return LyticsAuthError(
                f"Lytics refused the api_token ({answer}) for {what}: set api_token to a valid "
                "Lytics API token with access to this account (and account_id if it has several)"
            )
        if 300 <= status < 400:  # noqa: PLR2004
            where = response.headers.get("Location", "elsewhere")
            return LyticsRequestError(
                f"Lytics redirected {what} to {where} ({answer}): set api_url to the API's base URL"
            )
        return LyticsRequestError(f"Lytics refused {what}: {answer}")

    # -- calls ---------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        payload: Any = None,
        passthrough: frozenset[int] = frozenset(),
    ) -> tuple[int, Any]:
        """One JSON request to the API, retried like collects; returns (status, decoded body).

        Statuses in ``passthrough`` (say 404, 409) come back for the caller to judge; other
        refusals raise with Lytics' own words. The token travels only in the header.

        Raises:
            LyticsError: Lytics refused the request, or kept failing until the retries ran out.
        """
        body = None if payload is None else json.dumps(payload).encode()
        params = self._params(collect=False)
        response = self._send(
            method, path, what=what, params=params, body=body, passthrough=passthrough
        )
        if response.status_code == 413:  # noqa: PLR2004 - only collects split
            raise self._refusal(response, what)
        try:
            decoded = response.json() if response.content else None
        except ValueError:
            decoded = None
        return response.status_code, decoded

    def check_token(self) -> Any:
        """Confirm the token works before any input is read (`GET /api/account`).

        Returns the answer's ``data``: the accounts the token reaches (a list, or one object).
        The listing is asked without ``account_id``, so a wrong one is reported with the
        accounts the token does reach (`account.choose_account`).

        Raises:
            LyticsAuthError: the token is missing, wrong, expired or lacks access.
            LyticsResponseError: the answer is not Lytics' account listing.
        """
        response = self._send("GET", "/api/account", what="the token check", params={})
        if response.status_code != 200:  # noqa: PLR2004
            raise self._refusal(response, "the token check")
        try:
            body = response.json()
        except ValueError:
            body = None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict | list):
            msg = (
                f"{self._base}/api/account did not answer like Lytics "
                f"({describe_answer(response)}): check api_url"
            )
            raise LyticsResponseError(msg)
        return data

    def collect(
        self,
        stream: str,
        records: list[bytes],
        *,
        timestamp_field: str | None = None,
        abort: threading.Event | None = None,
    ) -> CollectReport:
        """Deliver JSON-encoded records to a stream; return only once Lytics accepted all of them.

        A 413 splits the request in halves and sends each (down to single records).

        Raises:
            LyticsError: some records were not durably accepted; the message says why.
        """
        path = "/collect/json/" + quote(stream, safe="")
        params = self._params({"timestamp_field": timestamp_field} if timestamp_field else None)
        report = CollectReport()
        pending = [records]
        while pending:
            part = pending.pop()
            what = f"{len(part)} records on stream {stream!r}"
            body = b"[" + b",".join(part) + b"]"
            response = self._send(
                "POST", path, what=what, params=params, body=body, report=report, abort=abort
            )
            report.requests += 1
            if response.status_code == 413:  # noqa: PLR2004
                if len(part) == 1:
                    msg = (
                        f"Lytics refused a single {len(body)}-byte record on stream {stream!r} as "
                        f"too large ({describe_answer(response)}); shrink it through the mapping"
                    )
                    raise LyticsRequestError(msg)
                half = len(part) // 2
                pending += [part[half:], part[:half]]
                report.splits += 1
                logger.info("Lytics: %s too large (413), split in two", what)
                continue
            self._confirm(response, stream, len(part))
            report.records += len(part)
        return report

    def _confirm(self, response: requests.Response, stream: str, sent: int) -> None:
        try:
            body = response.json()
        except ValueError:
            body = None
        rejected, counted = accepted_count(body, sent)
        request_id = body.get("request_id") if isinstance(body, dict) else None
        ref = f" (request_id {request_id})" if request_id else ""
        if rejected:
            msg = (
                f"Lytics rejected {rejected} of {sent} records on stream {stream!r}{ref}: Lytics "
                "drops records over 16 KB, holding arrays of objects, or with identifier values "
                "over 256 bytes; fix the data or the mapping, then rerun (the STATE was not "
                "advanced)"
            )
            raise LyticsRejectedError(msg)
        if counted is not None and counted < sent:
            msg = (
                f"Lytics counted {counted} of {sent} records sent to stream {stream!r}{ref}; "
                "the rest are unconfirmed, so the run stops (the STATE was not advanced)"
            )
            raise LyticsResponseError(msg)

    # -- concurrency ---------------------------------------------------------------------------

    def start_delivery(self, stream: str, timestamp_field: str | None) -> Delivery:
        """Open a delivery: records sent as requests fill, all confirmed by `Delivery.finish`."""
        return Delivery(self, stream, timestamp_field)

    def _submit(self, job: Callable[[], CollectReport]) -> Future[CollectReport]:
        """Run `job` on a worker; blocks while `max_in_flight` requests are already out."""
        self._slots.acquire()
        try:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self.settings.max_in_flight,
                        thread_name_prefix="lytics-collect",
                    )
                future = self._executor.submit(job)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return future

    def close(self) -> None:
        """Wait for workers and close pooled connections."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


def _network_reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return f"no answer within the request timeout ({type(exc).__name__})"
    return f"connection failed ({type(exc).__name__})"


class Delivery:
    """One sink batch on its way to one Lytics stream.

    Records are added one by one (already JSON-encoded); a request leaves as soon as it holds
    `rows_per_request` records or would outgrow `max_request_bytes`, so reading input overlaps
    with sending. `finish` sends the rest, waits for every request and raises the first failure.
    The first failure also stops the batch's other requests from retrying: the run is going to
    stop, and its STATE will not pass any of these records.
    """

    def __init__(self, client: LyticsClient, stream: str, timestamp_field: str | None) -> None:
        """Start empty; nothing is sent before the first request fills."""
        self.stream = stream
        self.timestamp_field = timestamp_field
        self._client = client
        self._rows = client.settings.rows_per_request
        self._max_bytes = client.settings.max_request_bytes - 2  # the array's brackets
        self._buffer: list[bytes] = []
        self._buffer_bytes = 0
        self._futures: list[Future[CollectReport]] = []
        self._error: BaseException | None = None
        self._abort = threading.Event()

    @property
    def pending_records(self) -> int:
        """Records added but not yet handed to a request."""
        return len(self._buffer)

    def add(self, record: bytes) -> None:
        """Queue one encoded record; may send a full request (and block when too many are out).

        Raises:
            LyticsError: an earlier request of this batch already failed.
        """
        size = len(record) + 1  # the comma
        if self._buffer and self._buffer_bytes + size > self._max_bytes:
            self._send_buffer()
        self._buffer.append(record)
        self._buffer_bytes += size
        if len(self._buffer) >= self._rows:
            self._send_buffer()

    def _send_buffer(self) -> None:
        """Hand the buffered records to a request.

        The buffer is emptied only once the request is registered: if a SIGTERM arrives while
        this blocks, the SDK drains from the signal handler and `finish` still finds (and sends)
        these records, so the STATE it then prints never passes them. At worst they go twice.
        """
        if self._error is not None:
            raise self._error
        records = self._buffer
        stream, timestamp_field, abort = self.stream, self.timestamp_field, self._abort

        def job() -> CollectReport:
            return self._client.collect(
                stream, records, timestamp_field=timestamp_field, abort=abort
            )

        future = self._client._submit(job)  # noqa: SLF001 - the client's own helper class
        future.add_done_callback(self._note_failure)
        self._futures.append(future)
        if self._buffer is records:
            self._buffer, self._buffer_bytes = [], 0

    def _note_failure(self, future: Future[CollectReport]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None and not isinstance(error, _AbortedError) and self._error is None:
            self._error = error
            self._abort.set()

    def finish(self) -> CollectReport:
        """Send what is left and wait for every request; return only if all were accepted.

        Raises:
            LyticsError: the first failure among the batch's requests.
        """
        try:
            if self._buffer:
                self._send_buffer()
        finally:
            wait(self._futures)
        failures = (future.exception() for future in self._futures)
        error = self._error or next(
            (exc for exc in failures if exc and not isinstance(exc, _AbortedError)), None
        )
        if error is not None:
            raise error
        report = CollectReport()
        for future in self._futures:
            report.add(future.result())
        self._futures = []
        return report
