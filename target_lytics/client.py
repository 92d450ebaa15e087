"""The one place that talks HTTP to Lytics.

Lytics' collect API answers 200 even when it drops records (`rejected_count`), documents no
rate-limit headers and only says "wait and retry" on 429 and 5xx. This module turns all of that
into two outcomes the sink can rely on: a request returns once Lytics has durably accepted every
record it carried (or the records it rejected are parked in the dead-letter file, within
`max_rejected_records`), or it raises a `LyticsError` whose message says what to fix. Along the
way it retries transient failures (`retries`: backoff, `Retry-After`, full jitter), splits a
request Lytics finds too large, and keeps several requests in flight at once (`delivery`). The
account check and the schema API (`schema_api`) go through the same path (`call`).

Every answer is read whole within a deadline (`request_timeout`, for the whole request, body
included) and a size cap, so a server trickling bytes or sending gigabytes cannot hold the run.
The token travels only in the `Authorization` header (never in a URL, a log line or a message).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlsplit

import backoff
import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from requests.exceptions import ChunkedEncodingError

from api_http.answers import AnswerCutOffError, AnswerTooLargeError, AnswerTooSlowError, read_body
from api_http.retry_after import parse_retry_after
from api_http.transport import is_loopback_url, start_sandbox_hint
from target_lytics import retries
from target_lytics.answer import Answer, collect_counts, describe, request_id
from target_lytics.dead_letters import Rejection, find_rejected
from target_lytics.delivery import CollectReport, Delivery
from target_lytics.errors import (
    LyticsAnswerLostError,
    LyticsAuthError,
    LyticsError,
    LyticsRejectedError,
    LyticsRequestError,
    LyticsResponseError,
    LyticsUnavailableError,
)
from target_lytics.retries import (
    AbortedError,
    Pauses,
    RetryLaterError,
    is_retriable,
    retry_waits,
)
from target_lytics.stopping import worker_pool

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future, ThreadPoolExecutor

    from target_lytics.dead_letters import DeadLetters

logger = logging.getLogger(__name__)

#: Lytics' documented limits for `POST /collect/json/{stream}`.
MAX_REQUEST_BYTES: Final = 10 * 1024 * 1024
MAX_RECORD_BYTES: Final = 16 * 1024
MAX_IDENTIFIER_BYTES: Final = 256


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """What the client needs from the target's settings."""

    api_url: str
    api_token: str = field(repr=False)
    dryrun: bool = False
    max_in_flight: int = 8
    rows_per_request: int = 1000
    max_request_bytes: int = MAX_REQUEST_BYTES
    request_timeout: float = 60.0
    max_retries: int = 6
    retry_backoff: float = 1.0


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


def is_connection_refused(error: BaseException) -> bool:
    """Whether a connection failure was a refusal (nothing listens at that host and port).

    requests wraps the socket's `ConnectionRefusedError` in urllib3's errors (`reason`,
    `__cause__`); the chain is walked to find it.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return True
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += list(current.args)
        pending += [item for item in linked if isinstance(item, BaseException)]
    return False


class LyticsClient:
    """HTTP access to one Lytics account: token check, durable collect, concurrent deliveries.

    One `requests.Session` serves every thread (the deliveries' workers and the main thread,
    where the account check and the schema step run), as in tap-wistia: its pool holds one
    keep-alive connection per request that may be in flight, whichever worker sends it.
    Sharing is safe because nothing about the session changes after it is built: headers,
    auth, adapters, proxies and CA bundle are set here once (the environment is read once, not
    per request, which also keeps a ~/.netrc entry from replacing the token), and it takes no
    cookies, so no request's answer changes what the next one sends. urllib3's pool is what
    threads share, and it is made for that.
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        user_agent: str = "target-lytics",
        dead_letters: DeadLetters | None = None,
    ) -> None:
        """Prepare pooled connections; nothing is sent until the first call."""
        self.settings = settings
        self.dead_letters = dead_letters
        self.pauses = Pauses()
        self._base = settings.api_url.rstrip("/")
        self._local_api = is_loopback_url(self._base)
        self._host = urlsplit(self._base).hostname or self._base
        self._session = self._new_session(user_agent)
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(settings.max_in_flight)

    def _new_session(self, user_agent: str) -> requests.Session:
        session = requests.Session()
        session.headers.update(
            {
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": user_agent,
            }
        )
        session.auth = _RawTokenAuth(self.settings.api_token)
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        # One connection per request in flight, and one for the main thread's calls.
        size = self.settings.max_in_flight + 1
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        found = session.merge_environment_settings(self._base, {}, None, None, None)
        session.proxies.update(found["proxies"])
        session.verify = found["verify"]
        session.trust_env = False
        return session

    def stop_by(self, deadline: float) -> None:
        """A signal arrived: what is in flight may finish by `deadline` (`time.monotonic`).

        Waits for a retry that would end later stop at once, and later requests get only the
        time left, so the run ends within the deadline whatever Lytics does.
        """
        self.pauses.stop_by(deadline)

    # -- one request, retried ------------------------------------------------------------------

    def _send(  # noqa: PLR0913 - one request's parts and its batch's bookkeeping
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
        resend: bool = True,
    ) -> Answer:
        """Send until Lytics gives a final answer, which is returned or raised.

        2xx, 413 and the ``passthrough`` statuses are returned; other refusals raise. Without
        ``resend`` (a write that must not happen twice) only failures Lytics surely did not
        act on are retried (429, a refused connection); a lost answer raises at once.

        Raises:
            LyticsAnswerLostError: without ``resend``: a timeout, a 5xx or a reset.
            LyticsError: a refusal, an unusable answer, or retries run out.
            AbortedError: another request of the batch failed meanwhile.
        """
        settings = self.settings

        def announce(attempt: int, failure: RetryLaterError, delay: float) -> None:
            logger.warning(
                "Lytics: %s for %s; retry %d of %d in %.2fs",
                failure.reason,
                what,
                attempt + 1,
                settings.max_retries,
                delay,
            )
            if report is not None:
                report.retries += 1

        tries = settings.max_retries + 1
        retrying = backoff.on_exception(
            lambda: retry_waits(
                self.pauses, base=settings.retry_backoff, what=what, abort=abort, announce=announce
            ),
            RetryLaterError,
            max_tries=tries,
            jitter=None,
            logger=None,
            giveup=lambda failure: not (resend or failure.unsent),
        )(self._attempt)
        try:
            return retrying(
                method, path, what=what, params=params, body=body, passthrough=passthrough,
                abort=abort,
            )  # fmt: skip
        except RetryLaterError as exc:
            if not (resend or exc.unsent):
                msg = f"Lytics gave no answer to {what} ({exc.reason}); it may have been done"
                raise LyticsAnswerLostError(msg) from None
            msg = (
                f"Gave up on {what} at {self._base} after {tries} attempts (last: {exc.reason}); "
                "the STATE was not advanced, so a later run resends"
            )
            raise LyticsUnavailableError(msg) from None

    def _attempt(  # noqa: PLR0913 - one request's parts
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, str],
        body: bytes | None,
        passthrough: frozenset[int],
        abort: threading.Event | None,
    ) -> Answer:
        """One try: Lytics' final answer, or `RetryLaterError` saying why to try again."""
        if abort is not None and abort.is_set():
            raise AbortedError
        timeout = self.pauses.time_left(self.settings.request_timeout, what)
        deadline = time.monotonic() + timeout  # for the whole request, the answer included
        try:
            response = self._session.request(
                method,
                self._base + path,
                params=params,
                data=body,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
            content = read_body(response, deadline=deadline)
        except (requests.Timeout, AnswerTooSlowError):
            msg = f"no whole answer within {timeout:g} s (request_timeout)"
            raise RetryLaterError(msg) from None
        except requests.ConnectionError as exc:
            raise self._connection_failure(exc, what) from None
        except (ChunkedEncodingError, AnswerCutOffError) as exc:
            msg = f"the answer was cut off ({type(exc).__name__})"
            raise RetryLaterError(msg) from None
        except AnswerTooLargeError as exc:
            msg = f"Lytics' answer to {what} ({method} {path}) was refused: {exc}"
            raise LyticsResponseError(msg) from None
        answer = Answer(response.status_code, response.reason or "", response.headers, content)
        if answer.ok or answer.status == 413 or answer.status in passthrough:  # noqa: PLR2004
            return answer
        if not is_retriable(answer.status):
            raise self._refusal(answer, what)
        unsent = answer.status < 500  # noqa: PLR2004 - 408, 425, 429: refused before acting
        asked = parse_retry_after(answer.headers.get("Retry-After"))
        if asked is not None and asked > retries.MAX_WAIT_SECONDS:
            logger.warning(
                "Lytics asked to wait %s (Retry-After: %s) for %s; waiting %g s instead",
                f"{asked:,.0f} s" if asked < 1e12 else "for ever",  # noqa: PLR2004
                answer.headers.get("Retry-After", "")[:40],
                what,
                retries.MAX_WAIT_SECONDS,
            )
        raise RetryLaterError(describe(answer), asked, unsent=unsent)

    def _connection_failure(self, error: requests.ConnectionError, what: str) -> Exception:
        """A refused connection to this machine fails at once; anything else is retried."""
        if not is_connection_refused(error):
            return RetryLaterError(f"connection failed ({type(error).__name__})")
        if self._local_api:
            return LyticsUnavailableError(
                f"Nothing answers at {self._base} (connection refused) for {what}: the local "
                f"Lytics sandbox is not running. {start_sandbox_hint('lytics-sandbox', self._base)}"
                "; or set api_url to https://api.lytics.io"
            )
        return RetryLaterError(
            f"connection refused by {self._host}: check api_url ({self._base}) and that "
            f"{self._host} accepts connections",
            unsent=True,
        )

    def _refusal(self, answer: Answer, what: str) -> LyticsError:
        quoted = describe(answer)
        status = answer.status
        if status in {401, 403}:
            return LyticsAuthError(
                f"Lytics refused the api_token ({quoted}) for {what}: set api_token to a valid "
                "Lytics API token of the account to write to"
            )
        if 300 <= status < 400:  # noqa: PLR2004
            where = urlsplit(answer.headers.get("Location", "")).hostname or "elsewhere"
            return LyticsRequestError(
                f"Lytics redirected {what} to {where} ({quoted}): set api_url to the API's base URL"
            )
        return LyticsRequestError(f"Lytics refused {what}: {quoted}")

    def _params(
        self, extra: dict[str, str] | None = None, *, collect: bool = True
    ) -> dict[str, str]:
        params = dict(extra or {})
        if self.settings.dryrun and collect:
            params["dryrun"] = "true"
        return params

    # -- calls ---------------------------------------------------------------------------------

    def call(  # noqa: PLR0913 - one request's parts, keyword-only after the path
        self,
        method: str,
        path: str,
        *,
        what: str,
        payload: Any = None,
        passthrough: frozenset[int] = frozenset(),
        resend: bool = True,
    ) -> tuple[int, Any]:
        """One JSON request to the API, retried like collects; returns (status, decoded body).

        Statuses in ``passthrough`` (say 404) come back for the caller to judge; other
        refusals raise with Lytics' own words. The token travels only in the header. A write
        that must not be done twice passes ``resend=False``: its lost answer is raised, for
        the caller to read back what Lytics holds before sending it again.

        Raises:
            LyticsAnswerLostError: without ``resend``: no answer came (a timeout, 5xx, reset).
            LyticsError: Lytics refused the request, or kept failing until the retries ran out.
        """
        body = None if payload is None else json.dumps(payload).encode()
        params = self._params(collect=False)
        answer = self._send(
            method, path, what=what, params=params, body=body, passthrough=passthrough,
            resend=resend,
        )  # fmt: skip
        if answer.status == 413:  # noqa: PLR2004 - only collects split
            raise self._refusal(answer, what)
        return answer.status, answer.json()

    def collect(
        self,
        stream: str,
        records: list[bytes],
        *,
        timestamp_field: str | None = None,
        abort: threading.Event | None = None,
    ) -> CollectReport:
        """Deliver JSON-encoded records to a stream; return once Lytics accepted all of them.

        A 413 splits the request in halves and sends each (down to single records). Records
        Lytics rejects are found and parked in the dead-letter file (`_park_rejected`).

        Raises:
            LyticsError: some records were not durably accepted (nor parked); the message says why.
        """
        path = "/collect/json/" + quote(stream, safe="")
        params = self._params({"timestamp_field": timestamp_field} if timestamp_field else None)
        report = CollectReport()
        pending = [records]
        while pending:
            part = pending.pop()
            what = f"{len(part)} records on stream {stream!r}"
            answer = self._send(
                "POST", path, what=what, params=params, body=_array(part), report=report,
                abort=abort,
            )  # fmt: skip
            report.requests += 1
            if answer.status == 413:  # noqa: PLR2004
                if len(part) == 1:
                    msg = (
                        f"Lytics refused a single {len(part[0]) + 2}-byte record on stream "
                        f"{stream!r} as too large ({describe(answer)}); shrink it through the "
                        "mapping"
                    )
                    raise LyticsRequestError(msg)
                half = len(part) // 2
                pending += [part[half:], part[:half]]
                report.splits += 1
                logger.info("Lytics: %s too large (413), split in two", what)
                continue
            body = answer.json()
            rejected, counted = collect_counts(body, len(part))
            ref = f" (request_id {request_id(body)})" if request_id(body) else ""
            if counted is not None and counted < len(part):
                msg = (
                    f"Lytics counted {counted} of {len(part)} records sent to stream "
                    f"{stream!r}{ref}; the rest are unconfirmed, so the run stops (the STATE "
                    "was not advanced)"
                )
                raise LyticsResponseError(msg)
            if rejected:
                self._park_rejected(
                    stream, part, rejected, body, params=params, report=report, abort=abort
                )
            report.records += len(part) - rejected
        return report

    def _park_rejected(  # noqa: PLR0913 - the request rejected and its batch's bookkeeping
        self,
        stream: str,
        part: list[bytes],
        rejected: int,
        body: Any,
        *,
        params: dict[str, str],
        report: CollectReport,
        abort: threading.Event | None,
    ) -> None:
        """Find which records of `part` Lytics rejected, and park them in the dead-letter file.

        Lytics' answer only counts rejections. Halves of the request are sent again with
        `dryrun=true` (Lytics validates them as before and stores nothing, so the records it
        accepted the first time are not stored twice), down to single records.

        Raises:
            LyticsRejectedError: no dead-letter file is set, the rejected records cannot all be
                found, or parking them passes `max_rejected_records`.
        """
        ref = f" (request_id {request_id(body)})" if request_id(body) else ""
        where = f"{rejected} of {len(part)} records on stream {stream!r}{ref}"
        if self.dead_letters is None:
            msg = (
                f"Lytics rejected {where}: Lytics drops records over 16 KB, holding arrays of "
                "objects, with identifier values over 256 bytes, or that fail its validation; "
                "fix the data or the mapping, then rerun (the STATE was not advanced), or set "
                "dead_letter_path and max_rejected_records to park such records and go on"
            )
            raise LyticsRejectedError(msg)
        path = "/collect/json/" + quote(stream, safe="")
        dry_params = {**params, "dryrun": "true"}

        def probe(records: list[bytes]) -> tuple[int, Any]:
            answer = self._send(
                "POST", path, what=f"a dry run of {len(records)} records on stream {stream!r}",
                params=dry_params, body=_array(records), report=report, abort=abort,
            )  # fmt: skip
            report.dry_runs += 1
            if not answer.ok:
                msg = (
                    f"Lytics refused a dry run of {len(records)} records on stream {stream!r} "
                    f"while looking for the records it rejected: {describe(answer)}"
                )
                raise LyticsRequestError(msg)
            found = answer.json()
            return collect_counts(found, len(records))[0], found

        logger.warning("Lytics rejected %s; looking for them with dry runs", where)
        found = find_rejected(part, rejected, body, probe)
        if len(found) < rejected:
            msg = (
                f"Lytics rejected {where}, but dry runs of them find only {len(found)}: the "
                "others cannot be named, so the run stops (the STATE was not advanced; a later "
                "run resends them)"
            )
            raise LyticsRejectedError(msg)
        if len(found) > rejected:
            logger.warning(
                "Dry runs reject %d of the records where Lytics rejected %d (%s); all %d are "
                "parked, though some may have been stored",
                len(found), rejected, where, len(found),
            )  # fmt: skip
        self.dead_letters.park(stream, [Rejection(record, answer) for record, answer in found])
        report.parked += len(found)

    # -- concurrency ---------------------------------------------------------------------------

    def start_delivery(self, stream: str, timestamp_field: str | None) -> Delivery:
        """Open a delivery: records sent as requests fill, all confirmed by `Delivery.finish`."""
        return Delivery(self, stream, timestamp_field)

    def submit(self, job: Callable[[], CollectReport]) -> Future[CollectReport]:
        """Run `job` on a worker; blocks while `max_in_flight` requests are already out."""
        self._slots.acquire()
        try:
            with self._lock:
                if self._executor is None:
                    self._executor = worker_pool(self.settings.max_in_flight, "lytics-collect")
                future = self._executor.submit(job)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return future

    def close(self) -> None:
        """Wait for workers (not past a stop's deadline) and close pooled connections."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=self.pauses.deadline is None, cancel_futures=True)
        self._session.close()


def _array(records: list[bytes]) -> bytes:
    return b"[" + b",".join(records) + b"]"
