"""The one place that talks HTTP to Wistia: auth, the request budget, retries, error translation.

Every request of a run goes through one `WistiaClient`, so the account-wide limit of 600
requests per minute is held by one `RequestBudget`, a `Retry-After` from Wistia pauses every
worker at once, and each failure becomes either a retry or one `WistiaError` whose message a
user can act on (which permission is missing, which parameter is wrong). The token is sent only
in the `Authorization` header; no message built here contains it.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload
from urllib.parse import urlsplit

import backoff
import msgspec
import requests
from requests.adapters import HTTPAdapter

from api_http.answers import (
    AnswerCutOffError,
    AnswerTooLargeError,
    AnswerTooSlowError,
    read_body,
)
from api_http.retry_after import parse_retry_after
from api_http.secrets import redact
from api_http.transport import is_loopback_url, start_sandbox_hint
from tap_wistia import heap
from tap_wistia.api_versions import ApiVersion
from tap_wistia.settings import SETTING_DEFAULTS

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Generator, Iterator, Mapping

USER_AGENT = "tap-wistia/0.1 (+singer)"
RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
RATE_LIMIT_STATUSES = frozenset({429, 503})
"""Wistia's rate limit: 429 today, 503 in its older documents (with or without `Retry-After`,
as a public pipeline reports): either pauses every worker."""
MAX_RETRY_AFTER_SECONDS = 60.0
"""The longest wait a `Retry-After` can impose: Wistia's rate window is one minute, so a longer
wait (99999 s, a date in 2100) is a broken server, not a limit to honour for hours."""
RATE_LIMIT_PAUSE_SECONDS = 5.0
"""The shared pause after a rate-limit answer without `Retry-After`: doubled at each such answer
that comes once the previous pause is over (5, 10, 20, 40 s), at most `MAX_RETRY_AFTER_SECONDS`,
back to 5 s after a success. Eight tries then span more than Wistia's one-minute window, so a
token shared with another job waits its turn instead of running out of retries."""

# Which token permission each endpoint family needs, in Wistia's own words.
STATS_PERMISSION = "Read detailed stats"
MEDIA_PERMISSION = "Read all folder and media data"
ALL_DATA_PERMISSION = "Read all data"
"""What Wistia's tag list asks for, as its spec says (the media permission is not enough)."""


class WistiaError(Exception):
    """A failure the run cannot get past; its message says what to do."""


class WistiaAuthError(WistiaError):
    """401/403: the token is wrong or lacks a permission. Retrying cannot help."""


class WistiaNotFoundError(WistiaError):
    """404 once the API has answered: the thing asked for is gone (a media deleted meanwhile)."""


class RunInterruptedError(Exception):
    """The run was asked to stop (SIGINT, SIGTERM): no request goes out any more."""


class RetriableError(Exception):
    """A failure worth another try; `retry_after` is the wait every worker keeps, if any.

    `rate_limited`: Wistia's rate limit answered; the shared pause was logged once, so the
    retry itself is not.
    """

    def __init__(
        self, message: str, retry_after: float | None = None, *, rate_limited: bool = False
    ) -> None:
        """Keep the wait to keep next to the message."""
        super().__init__(message)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


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
            if self._stopped.is_set():
                msg = "the run is stopping"
                raise RunInterruptedError(msg)
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
                seconds = min(doubled, MAX_RETRY_AFTER_SECONDS)
            self._paused_until = max(self._paused_until, now + seconds)
            return self._paused_until - now, not running

    def answered(self) -> None:
        """A request succeeded: the next pause without `Retry-After` starts short again."""
        self._pauses_in_a_row = 0


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
            if status in {429, 503}:
                self.rate_limited += 1

    def count_retry(self) -> None:
        """Count one retry."""
        with self._lock:
            self.retries += 1


def _wait_times(factor: float, cap: float) -> Generator[float, Any, None]:
    """Backoff's wait generator: Wistia's `Retry-After` when given, else full-jitter expo.

    `backoff` sends each caught exception into the generator, which lets one policy honour the
    server's own wait and otherwise spread retries out randomly.
    """
    attempt = 0
    exc = yield 0.0
    while True:
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            delay = min(float(retry_after), cap) + random.uniform(0, 0.25)  # noqa: S311
        else:
            delay = random.uniform(0, min(cap, factor * 2**attempt))  # noqa: S311
        attempt += 1
        exc = yield delay


class WistiaClient:
    """GETs JSON from the Wistia Data API within the account's request budget."""

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
        backoff_cap: float = 60.0,
        logger: logging.Logger | None = None,
        version: ApiVersion | None = None,
    ) -> None:
        """Prepare a pooled session; nothing is sent until the first `get`.

        `version` is the API the run speaks (v1 when None): its header goes with every request.
        """
        heap.map_large_blocks()  # pages are held encoded by other threads than read them
        self.api_url = api_url.rstrip("/")
        self.version = version or ApiVersion()
        self._reached = False  # the API has answered with success at least once
        self.timeout = timeout
        self.budget = RequestBudget(max_requests_per_minute)
        self.stats = ClientStats()
        self._logger = logger
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(4, max_parallel_requests))
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
                **self.version.headers,
            }
        )
        self._settle_environment()
        self._get_with_retries = backoff.on_exception(
            lambda: _wait_times(backoff_factor, backoff_cap),
            RetriableError,
            max_tries=max_tries,
            jitter=None,
            on_backoff=self._on_backoff,
            on_giveup=self._on_giveup,
            raise_on_giveup=True,
            logger=None,
        )(self._get_once)

    def _settle_environment(self) -> None:
        """Read proxies and the CA bundle from the environment once, for the API's host.

        `requests` reads them (and ~/.netrc) again on every request: a third of its CPU time
        per page. Every request goes to one host, so once per run gives the same settings;
        and with ~/.netrc no longer consulted, an entry there can never replace the token.
        """
        found = self._session.merge_environment_settings(self.api_url, {}, None, None, None)
        self._session.proxies.update(found["proxies"])
        self._session.verify = found["verify"]
        self._session.trust_env = False

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

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
        try:
            return self._get_with_retries(path, dict(params or {}), read)
        except RetriableError as exc:
            msg = f"Wistia kept failing on {_describe(path, params)}: {exc}. Gave up after retries."
            raise WistiaError(msg) from None

    # -- one attempt -------------------------------------------------------------------------

    def _get_once(self, path: str, params: dict[str, Any], read: Callable[[bytes], Any]) -> Any:
        self.budget.acquire()
        url = f"{self.api_url}/{path.lstrip('/')}"
        deadline = time.monotonic() + self.timeout  # for the whole request, body included
        try:
            response = self._session.get(url, params=params, timeout=self.timeout, stream=True)
            body = read_body(response, deadline=deadline)
        except (requests.Timeout, AnswerTooSlowError):
            msg = f"no whole answer within {self.timeout:g} s (request_timeout_seconds)"
            raise RetriableError(msg) from None
        except requests.ConnectionError as exc:
            self._check_reachable(exc)
            msg = f"connection failed ({_short(exc)})"
            raise RetriableError(msg) from None
        except (requests.exceptions.ChunkedEncodingError, AnswerCutOffError) as exc:
            msg = f"the response was cut off ({_short(exc)})"
            raise RetriableError(msg) from None
        except AnswerTooLargeError as exc:
            msg = f"Wistia's answer to {_describe(path, params)} was refused: {exc}."
            raise WistiaError(msg) from None
        status = response.status_code
        self.stats.count(status)
        if status == 200:  # noqa: PLR2004
            value = read(body)
            self._reached = True
            self.budget.answered()
            return value
        self._raise_for(status, body, response.headers, path, params)
        return None  # pragma: no cover - _raise_for always raises

    def _check_reachable(self, exc: requests.ConnectionError) -> None:
        """Before the API ever answered, a refused connection or unknown host is the setting.

        Retrying those for a minute only delays the message the user needs: `api_url` names a
        host that does not exist or a port nothing listens on. Once the API has answered, the
        same failures are transient (a restart, a network blip) and are retried.
        """
        if self._reached:
            return
        cause = _root_cause(exc)
        host = urlsplit(self.api_url).netloc
        if isinstance(cause, socket.gaierror):
            problem = f"the host name {urlsplit(self.api_url).hostname} does not resolve"
        elif isinstance(cause, ConnectionRefusedError):
            problem = f"{host} refused the connection (nothing listens there)"
        else:
            return
        fix = f"Check `api_url` (Wistia's is {self.version.default_url})."
        if is_loopback_url(self.api_url):
            start = start_sandbox_hint("wistia-sandbox", self.api_url)
            fix = (
                f"Is the local sandbox running? {start}; otherwise check `api_url` (Wistia's is "
                f"{self.version.default_url})."
            )
        msg = f"Cannot reach the Wistia API at api_url {self.api_url}: {problem}. {fix}"
        raise WistiaError(msg) from None

    def _raise_for(
        self,
        status: int,
        body: bytes,
        headers: Mapping[str, str],
        path: str,
        params: Mapping[str, Any],
    ) -> None:
        detail = _error_detail(body, headers)
        where = _describe(path, params)
        if status in RETRIABLE_STATUSES:
            retry_after = self._server_wait(headers.get("Retry-After"), where)
            msg = f"HTTP {status}" + (f" ({detail})" if detail else "")
            if status in RATE_LIMIT_STATUSES:
                pause = self._pause_everyone(status, retry_after, where)
                raise RetriableError(msg, pause, rate_limited=True)
            if retry_after is not None:
                self.budget.pause_for(retry_after)
            raise RetriableError(msg, retry_after)
        if status in {401, 403}:
            raise WistiaAuthError(_refusal(status, body, detail, path, where))
        if status == 422:  # noqa: PLR2004
            msg = f"Wistia rejected a parameter of {where} (HTTP 422: {detail or 'no detail'})."
            raise WistiaError(msg)
        msg = f"Wistia answered HTTP {status} on {where}" + (f": {detail}" if detail else ".")
        if status == 404 and not self._reached:  # noqa: PLR2004
            msg += " " + self._where_to_look()
        elif status == 404:  # noqa: PLR2004
            raise WistiaNotFoundError(msg)
        raise WistiaError(msg)

    def _server_wait(self, header: str | None, where: str) -> float | None:
        """The server's `Retry-After` in seconds, at most the rate window (said when cut)."""
        retry_after = parse_retry_after(header)
        if retry_after is not None and retry_after > MAX_RETRY_AFTER_SECONDS:
            if self._logger:
                self._logger.warning(
                    "Wistia asked to wait %s (Retry-After: %s) on %s; waiting %g s, "
                    "its rate window, instead",
                    f"{retry_after:,.0f} s" if retry_after < 1e12 else "for ever",  # noqa: PLR2004
                    (header or "")[:40],
                    where,
                    MAX_RETRY_AFTER_SECONDS,
                )
            return MAX_RETRY_AFTER_SECONDS
        return retry_after

    def _pause_everyone(self, status: int, retry_after: float | None, where: str) -> float:
        """One pause for every worker after a rate-limit answer, logged when it begins.

        Returns how long this worker waits: until the pause ends.
        """
        seconds, new = self.budget.rate_limited(retry_after)
        if new and self._logger:
            told = "its Retry-After" if retry_after is not None else "no Retry-After: a default"
            self._logger.warning(
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
                f"Nothing of {version.describe()} answers at api_url {self.api_url}: check "
                f"`api_url` (Wistia's is {version.default_url}) and `api_version`."
            )
        return (
            f"Nothing of {version.describe()} answers at api_url {self.api_url}: check `api_url` "
            f"(Wistia's is {version.default_url}; the current API needs `api_version` too)."
        )

    # -- backoff hooks -----------------------------------------------------------------------

    def _on_backoff(self, details: Mapping[str, Any]) -> None:
        self.stats.count_retry()
        if self._logger and not getattr(details.get("exception"), "rate_limited", False):
            path, params = details["args"][0], details["args"][1]
            self._logger.warning(
                "Retrying %s in %.1f s (try %d): %s",
                _describe(path, params),
                details.get("wait") or 0.0,
                details["tries"],
                details.get("exception"),
            )

    def _on_giveup(self, details: Mapping[str, Any]) -> None:
        if self._logger:
            path, params = details["args"][0], details["args"][1]
            self._logger.error(
                "Giving up on %s after %d tries", _describe(path, params), details["tries"]
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
        raise RetriableError(msg) from None


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
    except RetriableError:  # a string that is not UTF-8: Wistia sent it so, a retry would too
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


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost error behind a requests/urllib3 failure (socket errors sit at the bottom)."""
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        inner = current.__cause__ or current.__context__
        if inner is None and current.args and isinstance(current.args[0], BaseException):
            inner = current.args[0]
        if inner is None:
            inner = getattr(current, "reason", None)
        if not isinstance(inner, BaseException):
            return current
        current = inner
    return current


def _describe(path: str, params: Mapping[str, Any] | None) -> str:
    """A request as a user reads it in a log: path and non-secret parameters only."""
    shown = ", ".join(f"{k}={v}" for k, v in (params or {}).items())
    return f"GET /{path.lstrip('/')}" + (f" ({shown})" if shown else "")


def _short(exc: BaseException) -> str:
    """The exception's class name: urllib3 messages repeat the whole URL and pool internals."""
    return type(exc).__name__
