"""The one place that talks HTTP to Wistia: the request budget, Wistia's statuses, its words.

What every API client needs (a session, a deadline for the whole request and a size cap on its
answer, retries with backoff and `Retry-After`, the fast failure on an unreachable host) is
`api_http.client`; this module adds what is Wistia's own. Every request of a run goes through
one `WistiaClient`, so the account-wide limit of 600 requests per minute is held by one
`RequestBudget`, a rate-limit answer pauses every worker at once, and each failure becomes
either a retry or one `WistiaError` whose message a user can act on (which permission is
missing, which parameter is wrong). The token is sent only in the `Authorization` header; no
message built here contains it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

import msgspec

from api_http import client as api_client
from api_http.client import ApiClient, ApiErrors, RetryLaterError, open_session
from api_http.secrets import redact
from tap_wistia import heap
from tap_wistia.api_versions import ApiVersion
from tap_wistia.settings import SETTING_DEFAULTS

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterator, Mapping

    from api_http.answers import Answer

USER_AGENT = "tap-wistia/0.1 (+singer)"
RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
RATE_LIMIT_STATUSES = frozenset({429, 503})
"""Wistia's rate limit: 429 today, 503 in its older documents (with or without `Retry-After`,
as a public pipeline reports): either pauses every worker."""
RATE_LIMIT_PAUSE_SECONDS = 5.0
"""The shared pause after a rate-limit answer without `Retry-After`: doubled at each such answer
that comes once the previous pause is over (5, 10, 20, 40 s), at most a minute (Wistia's rate
window, `api_http.client.MAX_WAIT_SECONDS`), back to 5 s after a success. Eight tries then span
more than that window, so a token shared with another job waits its turn instead of running out
of retries."""

# Which token permission each endpoint family needs, in Wistia's own words.
STATS_PERMISSION = "Read detailed stats"
MEDIA_PERMISSION = "Read all folder and media data"
ALL_DATA_PERMISSION = "Read all data"
"""What Wistia's tag list asks for, as its spec says (the media permission is not enough)."""


_Shape = TypeVar("_Shape")


class WistiaError(Exception):
    """A failure the run cannot get past; its message says what to do."""


class WistiaAuthError(WistiaError):
    """401/403: the token is wrong or lacks a permission. Retrying cannot help."""


class WistiaNotFoundError(WistiaError):
    """404 once the API has answered: the thing asked for is gone (a media deleted meanwhile)."""


class RunInterruptedError(Exception):
    """The run was asked to stop (SIGINT, SIGTERM): no request goes out any more."""


def check_running(stopping: Callable[[], bool]) -> None:
    """Go on while the run is not stopping.

    Raises:
        RunInterruptedError: `stopping()` says the run is stopping.
    """
    if stopping():
        msg = "the run is stopping"
        raise RunInterruptedError(msg)


class RateLimitedError(RetryLaterError):
    """Wistia's rate limit answered: every worker waits `retry_after`, a pause logged once."""


def shaped(answer: object, kind: type[_Shape], where: str, noun: str) -> _Shape:
    """`answer` when it is a `kind`; else the run stops, naming the request and what came.

    For answers that are JSON but not what the endpoint documents (a page that is no list, a
    statistics answer that is no object): a retry would get the same.

    Raises:
        WistiaError: the answer is not a `kind` (`noun` says what was wanted).
    """
    if not isinstance(answer, kind):
        msg = f"Wistia answered GET /{where} with a {type(answer).__name__}, not {noun}."
        raise WistiaError(msg)
    return answer


def permission_for(path: str) -> str:
    """Name the token permission a path needs, as Wistia's token settings page names it."""
    resource = path.lstrip("/")
    if resource.startswith("stats"):
        return STATS_PERMISSION
    return ALL_DATA_PERMISSION if resource.startswith("tags") else MEDIA_PERMISSION


class RequestBudget:
    """A client-side limit of N requests in any sliding window, shared by every worker.

    Wistia counts requests per account in a 60 s window. The window here is a little longer
    than Wistia's (`margin`), so clock skew and network jitter between sending and arrival
    never let the server see one request too many; that costs under 2% of the throughput.
    A sliding window (rather than an even pace) keeps budget the pager could not use at once
    available for later, so a moment with few pages ready is caught up afterwards.
    `pause_for` makes every worker wait after a `Retry-After`, and `rate_limited` after any
    rate-limit answer, with or without one.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        window: float = 60.0,
        margin: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """Allow `per_minute` requests in every `window + margin` seconds.

        Waiting ends early when `stop` is called (`sleep` replaces the wait in tests).
        """
        self.per_minute = per_minute
        self._span = window + margin
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._pauses_in_a_row = 0  # rate-limit pauses without Retry-After since a success
        self._lock = threading.Lock()
        self._clock = clock
        self._stopped = threading.Event()
        self._sleep = sleep or self._stopped.wait

    def stop(self) -> None:
        """Let no request through any more: waiting callers get `RunInterruptedError` now."""
        self._stopped.set()

    @property
    def stopped(self) -> bool:
        """Whether `stop` was called."""
        return self._stopped.is_set()

    def acquire(self) -> None:
        """Block until one more request fits in the budget, then count it.

        Raises:
            RunInterruptedError: the run is stopping.
        """
        while True:
            check_running(self._stopped.is_set)
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self._span:
                    self._sent.popleft()
                wait = self._paused_until - now
                if wait <= 0 and len(self._sent) < self.per_minute:
                    self._sent.append(now)
                    return
                if wait <= 0:
                    wait = self._sent[0] + self._span - now
            self._sleep(max(wait, 0.001))

    def sent_last_minute(self) -> int:
        """Requests sent in the budget's window (a minute and its margin): never over the budget."""
        with self._lock:
            now = self._clock()
            while self._sent and self._sent[0] <= now - self._span:
                self._sent.popleft()
            return len(self._sent)

    def pause_for(self, seconds: float) -> None:
        """Hold every worker back for `seconds` (Wistia's `Retry-After`)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def rate_limited(self, retry_after: float | None) -> tuple[float, bool]:
        """Hold every worker back after a rate-limit answer; (the pause, whether it is new).

        Without `Retry-After` the pause is `RATE_LIMIT_PAUSE_SECONDS`, doubled for each such
        answer that arrives once the previous pause is over: answers arriving during a pause
        come from requests sent before it and say nothing new. A pause is new when none was
        running: the caller logs it once, not once per worker.
        """
        with self._lock:
            now = self._clock()
            running = now < self._paused_until
            if retry_after is not None:
                seconds = retry_after
            elif running:
                seconds = 0.0  # the pause running holds this worker too
            else:
                self._pauses_in_a_row += 1
                doubled = RATE_LIMIT_PAUSE_SECONDS * 2 ** (self._pauses_in_a_row - 1)
                seconds = min(doubled, api_client.MAX_WAIT_SECONDS)
            self._paused_until = max(self._paused_until, now + seconds)
            return self._paused_until - now, not running

    def answered(self) -> None:
        """A request succeeded: the next pause without `Retry-After` starts short again."""
        self._pauses_in_a_row = 0

    def wait(self, seconds: float) -> None:
        """Wait `seconds` (before a retry), unless the run stops meanwhile.

        Raises:
            RunInterruptedError: the run is stopping.
        """
        self._sleep(seconds)
        check_running(self._stopped.is_set)


@dataclass
class ClientStats:
    """What the run cost, for the log and for benchmarks."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, status: int) -> None:
        """Count one answered request."""
        with self._lock:
            self.requests += 1
            self.by_status[status] = self.by_status.get(status, 0) + 1
            if status in RATE_LIMIT_STATUSES:
                self.rate_limited += 1

    def count_retry(self) -> None:
        """Count one retry."""
        with self._lock:
            self.retries += 1


class WistiaClient(ApiClient):
    """GETs JSON from the Wistia Data API within the account's request budget."""

    api_name = "Wistia"
    sandbox_command = "wistia-sandbox"
    timeout_setting = "request_timeout_seconds"
    errors = ApiErrors(
        unreachable=WistiaError, gave_up=WistiaError, answer_lost=WistiaError,
        answer_refused=WistiaError,
    )  # fmt: skip

    def __init__(  # noqa: PLR0913
        self,
        api_url: str,
        token: str,
        *,
        max_requests_per_minute: int = SETTING_DEFAULTS["max_requests_per_minute"],
        max_parallel_requests: int = SETTING_DEFAULTS["max_parallel_requests"],
        timeout: float = SETTING_DEFAULTS["request_timeout_seconds"],
        max_tries: int = SETTING_DEFAULTS["max_retries"],
        backoff_factor: float = 1.0,
        logger: logging.Logger | None = None,
        version: ApiVersion | None = None,
    ) -> None:
        """Prepare a pooled session; nothing is sent until the first `get`.

        `version` is the API the run speaks (v1 when None): its header goes with every request.
        """
        heap.map_large_blocks()  # pages are held encoded by other threads than read them
        self.version = version or ApiVersion()
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **self.version.headers,
        }
        session = open_session(api_url, headers, connections=max(4, max_parallel_requests))
        super().__init__(
            api_url,
            session,
            timeout=timeout,
            max_tries=max_tries,
            backoff_base=backoff_factor,
            logger=logger,
        )
        self.default_url = self.version.default_url
        self.budget = RequestBudget(max_requests_per_minute)
        self.stats = ClientStats()

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET `path` (e.g. `stats/events.json`) and return its decoded JSON body.

        Raises:
            WistiaError: a failure that retrying did not or cannot fix, with the fix.
        """
        return self._get(path, params, _decode)

    def get_array(self, path: str, params: Mapping[str, Any] | None = None) -> Sequence[Any]:
        """GET a JSON array, checked whole but decoded only item by item as items are read.

        A page held until its turn (see `EncodedArray`) then costs its bytes, not its objects.

        Raises:
            WistiaError: as `get`, and when the answer is valid JSON but not an array.
        """
        answer = self._get(path, params, _read_array)
        if not isinstance(answer, EncodedArray):
            msg = (
                f"Wistia answered {_describe(path, params)} with a JSON "
                f"{type(answer).__name__}, not the array of the API's documentation."
            )
            raise WistiaError(msg)
        return answer

    def _get(
        self, path: str, params: Mapping[str, Any] | None, read: Callable[[bytes], Any]
    ) -> Any:
        def read_answer(answer: Answer) -> Any:
            value = read(answer.body)  # an unreadable body raises RetryLaterError: asked again
            self.budget.answered()
            return value

        what = _describe(path, params)
        return self.request("GET", path, what=what, params=params, read=read_answer)

    # -- Wistia's rules ----------------------------------------------------------------------------

    def try_timeout(self, what: str) -> float:  # noqa: ARG002 - the base's signature
        """Wait for room in the request budget (shared by every worker), then the timeout.

        Raises:
            RunInterruptedError: the run is stopping.
        """
        self.budget.acquire()
        return self.timeout

    def pause(self, seconds: float, what: str) -> None:  # noqa: ARG002 - the base's signature
        """Wait before a retry, unless the run stops meanwhile (`RunInterruptedError`)."""
        self.budget.wait(seconds)

    def heard(self, answer: Answer) -> None:
        """Count every answer, by status."""
        self.stats.count(answer.status)

    def retrying(self, attempt: int, failure: RetryLaterError, delay: float, what: str) -> None:
        """Count the retry; log it, unless it waits out a rate-limit pause (logged once)."""
        self.stats.count_retry()
        if not isinstance(failure, RateLimitedError):
            super().retrying(attempt, failure, delay, what)

    def refusal(self, answer: Answer, what: str, path: str) -> Exception:
        """429/503 pause every worker; 5xx are retried; 401, 403, 404, 422 named for the user."""
        status = answer.status
        detail = _error_detail(answer.body, answer.headers)
        if status in RETRIABLE_STATUSES:
            return self._not_now(answer, what, detail)
        if status in {401, 403}:
            return WistiaAuthError(_refusal(status, answer.body, detail, path, what))
        if status == 422:  # noqa: PLR2004
            return WistiaError(
                f"Wistia rejected a parameter of {what} (HTTP 422: {detail or 'no detail'})."
            )
        msg = f"Wistia answered HTTP {status} on {what}" + (f": {detail}" if detail else ".")
        if status != 404:  # noqa: PLR2004
            return WistiaError(msg)
        if not self.answered:  # the very first request: the setting, not the thing asked for
            return WistiaError(f"{msg} {self._where_to_look()}")
        return WistiaNotFoundError(msg)

    def _not_now(self, answer: Answer, what: str, detail: str) -> RetryLaterError:
        """A retry: after a pause of every worker on a rate-limit answer or a `Retry-After`."""
        status = answer.status
        retry_after = self.asked_wait(answer, what)
        reason = f"HTTP {status}" + (f" ({detail})" if detail else "")
        if status in RATE_LIMIT_STATUSES:
            return RateLimitedError(reason, self._pause_everyone(status, retry_after, what))
        if retry_after is not None:
            self.budget.pause_for(retry_after)
        return RetryLaterError(reason, retry_after)

    def _pause_everyone(self, status: int, retry_after: float | None, where: str) -> float:
        """One pause for every worker after a rate-limit answer, logged when it begins.

        Returns how long this worker waits: until the pause ends.
        """
        seconds, new = self.budget.rate_limited(retry_after)
        if new:
            told = "its Retry-After" if retry_after is not None else "no Retry-After: a default"
            self.logger.warning(
                "Wistia's rate limit answered HTTP %d on %s (%s): every request waits %.0f s.",
                status,
                where,
                told,
                seconds,
            )
        return seconds

    def _where_to_look(self) -> str:
        """What to check when the very first request finds no such endpoint."""
        version = self.version
        if version.current:
            return (
                f"Nothing of {version.describe()} answers at api_url {self.base_url}: check "
                f"`api_url` (Wistia's is {version.default_url}) and `api_version`."
            )
        return (
            f"Nothing of {version.describe()} answers at api_url {self.base_url}: check `api_url` "
            f"(Wistia's is {version.default_url}; the current API needs `api_version` too)."
        )


_decode_json = msgspec.json.Decoder().decode
_split_array = msgspec.json.Decoder(list[msgspec.Raw]).decode


def _decode(body: bytes | msgspec.Raw) -> Any:
    """Decode a 200 body; an invalid one is worth a retry, not a crash.

    msgspec decodes a page of events three times faster than `json`; the few documents only
    `json` accepts are still read as before.
    """
    try:
        return _decode_json(body)
    except ValueError:
        pass
    try:  # what msgspec refuses but Python's json reads: NaN, 1e400, UTF-16, lone surrogates
        return _without_lone_surrogates(json.loads(bytes(body)))
    except ValueError:
        msg = f"the response was not valid JSON ({len(body)} bytes)"
        raise RetryLaterError(msg) from None


def _read_array(body: bytes) -> Any:
    """Check a 200 body whole and split it into still encoded items (`EncodedArray`).

    msgspec's split checks the JSON syntax, so a cut-off or mangled body is found now, while
    the request can be retried. It does not check the UTF-8 inside strings (checking costs 1%
    of the tap's time): a string that is not UTF-8, a fault of the server that no retry mends,
    is reported when its item is decoded. Bodies the split refuses (another type, or what only
    `json` reads) are decoded whole.
    """
    try:
        return EncodedArray(_split_array(body))
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    value = _decode(body)
    return EncodedArray(value) if isinstance(value, list) else value


class EncodedArray(Sequence[Any]):
    """A JSON array read and checked whole, each item decoded only when it is read.

    Decoded, a page of 100 Wistia events takes about 260 KB; encoded, about 100 KB. The pager
    holds up to a hundred pages ahead of their turn, so it holds them encoded.
    """

    __slots__ = ("_items",)

    def __init__(self, items: list[Any]) -> None:
        """`items`: `msgspec.Raw` items still encoded, or values already decoded."""
        self._items = items

    def __len__(self) -> int:
        """The number of items."""
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        """One item decoded (or a list of them, for a slice)."""
        if isinstance(index, slice):
            return [_item_value(item) for item in self._items[index]]
        return _item_value(self._items[index])

    def __iter__(self) -> Iterator[Any]:
        """The items decoded, one at a time."""
        for item in self._items:
            yield _item_value(item)


def _item_value(item: Any) -> Any:
    """Decode an item of an `EncodedArray` (its body's syntax was checked whole)."""
    if not isinstance(item, msgspec.Raw):
        return item
    try:
        return _decode(item)
    except RetryLaterError:  # a string that is not UTF-8: Wistia sent it so, a retry would too
        msg = (
            f"Wistia sent an event that cannot be decoded ({len(item)} bytes, not valid UTF-8 "
            "JSON); the run stops here, before any bookmark passes it. Report it to Wistia."
        )
        raise WistiaError(msg) from None


def _without_lone_surrogates(value: Any) -> Any:
    r"""The document with each unpaired UTF-16 surrogate (`"\ud83d"` alone) replaced by U+FFFD.

    `json` reads such escapes into strings that no UTF-8 output can hold: writing the record
    would fail. Only documents msgspec refused come here, so the walk costs nothing usually.
    """
    if isinstance(value, str):
        if any("\ud800" <= char <= "\udfff" for char in value):
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return value
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {
            _without_lone_surrogates(key): _without_lone_surrogates(item)
            for key, item in value.items()
        }
    return value


def _error_detail(body: bytes, headers: Mapping[str, str]) -> str:
    """Wistia's own words from an error body, or nothing.

    Errors are JSON objects (`error`, `code`, `errors`, `message`), except the 429 of the rate
    limit: plain text ("Rate limit exceeded", `text/plain`), which is taken as it reads and
    never handed to a JSON parser. A body without a content type is tried as JSON.
    """
    if not body:
        return ""
    kind = headers.get("Content-Type", "").partition(";")[0].strip().lower()
    if kind.startswith("text/"):
        text = body.decode("utf-8", "replace").strip()
        return redact(" ".join(text.split()))[:300] if kind == "text/plain" else ""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts = [str(data[k]) for k in ("error", "code", "message") if data.get(k)]
    errors = data.get("errors")
    if isinstance(errors, list):
        parts += [str(item) for item in errors]
    return redact("; ".join(parts))[:300]


def _refusal(status: int, body: bytes, detail: str, path: str, where: str) -> str:
    """What a 401 or 403 means, in words a user can act on.

    Wistia's spec: a token missing a permission is a 401 whose `code` is `unauthorized_scope`;
    `unauthorized_credentials` a token that is no (longer a) token; `account_inactive` an
    account switched off. A 403 is a valid token whose account's plan lacks the feature.
    """
    code = _error_code(body)
    said = f" ({detail})" if detail else ""
    permission = permission_for(path)
    if status == 403:  # noqa: PLR2004
        return (
            f"Wistia answered {where} with HTTP 403{said}: the API token is valid, but this "
            "Wistia account's plan does not include the feature. Check the account's plan with "
            "Wistia (Account > Billing); a new token will not help."
        )
    if code == "unauthorized_scope":
        return (
            f"Wistia refused {where} (HTTP 401 unauthorized_scope): the API token lacks the "
            f'"{permission}" permission. Give it that permission, or set `api_token` to a '
            "token that has it (Wistia account > Settings > API Access)."
        )
    if code == "account_inactive":
        return (
            f"Wistia refused {where} (HTTP 401 account_inactive): the Wistia account of this "
            "API token is inactive. Reactivate it with Wistia, or set `api_token` to a token of "
            "an active account."
        )
    return (
        f"Wistia refused the API token on {where} (HTTP 401{said}). Check `api_token`: it must "
        f'be a valid Wistia API token (not revoked or expired) with the "{permission}" '
        "permission (Wistia account > Settings > API Access)."
    )


def _error_code(body: bytes) -> str | None:
    """The `code` of a JSON error body (Wistia's 401s carry one), or None."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return None
    code = data.get("code") if isinstance(data, dict) else None
    return code if isinstance(code, str) else None


def _describe(path: str, params: Mapping[str, Any] | None) -> str:
    """A request as a user reads it in a log: path and non-secret parameters only."""
    shown = ", ".join(f"{k}={v}" for k, v in (params or {}).items())
    return f"GET /{path.lstrip('/')}" + (f" ({shown})" if shown else "")
