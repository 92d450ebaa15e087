"""One HTTP API at one base URL, reached the way both plugins reach theirs.

`ApiClient` is what tap-wistia and target-lytics share about talking HTTP; each plugin's client
subclasses it and says only what is its API's own (which statuses mean "not now", which mean
a refusal, and in what words), through a few methods:

- a session per API, its environment (proxies, CA bundle) read once, with no cookies and no
  ~/.netrc (an entry there could replace the token), and no retries of its own;
- every try bounded as a whole, the answer included (`request_timeout`-style deadline), and
  by size (`api_http.answers`);
- retries with `backoff`: the API's own `Retry-After` (capped), otherwise exponential backoff
  with full jitter; a write that must not be sent twice is retried only when the API surely
  did not act on it;
- before the API has answered once, a host that does not resolve, refuses the connection or
  fails the TLS handshake stops the run at once naming `api_url` and its host (`reach`).

The waits between tries happen in `pause`, not in backoff's own sleep, so a plugin can cut
them short (the target, on a stop signal).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import TYPE_CHECKING, Any, ClassVar, Final
from urllib.parse import urlsplit

import backoff
import requests
from requests.adapters import HTTPAdapter
from requests.exceptions import ChunkedEncodingError

from api_http.answers import (
    Answer,
    AnswerCutOffError,
    AnswerTooLargeError,
    AnswerTooSlowError,
    read_body,
)
from api_http.reach import is_refused, unreachable_problem
from api_http.retry_after import parse_retry_after
from api_http.transport import is_loopback_url, start_sandbox_hint

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Mapping

    from requests.auth import AuthBase

MAX_WAIT_SECONDS: Final = 60.0
"""The longest wait before a retry, whoever asks for it (backoff or `Retry-After`). Neither API
documents a longer one (Wistia's rate window is a minute; Lytics says "wait and retry"): a
server asking for hours (an edge proxy's 99999, a date next year) is waited for a minute, and
when the retries run out the run fails with its bookmark kept, for the next run to resume."""
RETRY_AFTER_SPREAD_SECONDS: Final = 0.25
"""Added at random to a `Retry-After`, so the requests told to wait together do not all come
back in the same instant."""


class ApiError(Exception):
    """A failure of a request the run cannot get past (subclasses raise their own kinds)."""


class RetryLaterError(Exception):
    """One try failed in a way worth another (429, 5xx, a timeout, a dropped connection).

    `retry_after` is the wait the API asked for (already capped), when it asked. `unsent`
    says the API surely did not act on the request (429, a refused connection); otherwise (a
    timeout, a 5xx, a reset) it may have, which matters for a write that must not happen twice.
    """

    def __init__(
        self, reason: str, retry_after: float | None = None, *, unsent: bool = False
    ) -> None:
        """Keep why the try failed, the wait asked for, and whether it surely went unacted."""
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.unsent = unsent


def next_wait(
    attempt: int,
    failure: BaseException | None,
    *,
    base: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number `attempt + 1`.

    The `Retry-After` the failure carries (plus up to `RETRY_AFTER_SPREAD_SECONDS`); otherwise
    full jitter, a random time up to `base` times 2^attempt, so clients failing together
    spread out. Never more than `MAX_WAIT_SECONDS`.
    """
    asked = getattr(failure, "retry_after", None)
    if asked is not None:
        return min(float(asked), MAX_WAIT_SECONDS) + rand() * RETRY_AFTER_SPREAD_SECONDS
    return rand() * min(MAX_WAIT_SECONDS, base * 2.0**attempt)


def open_session(
    base_url: str, headers: Mapping[str, str], *, auth: AuthBase | None = None, connections: int = 1
) -> requests.Session:
    """A session for one API: `connections` kept alive, its environment read once.

    requests reads proxies, the CA bundle and ~/.netrc again on every request (a third of its
    CPU time per request); every request here goes to one host, so once gives the same
    settings, and a ~/.netrc entry can no longer replace the token. No cookies are kept, so
    no answer changes what the next request sends, and urllib3 retries nothing by itself.
    """
    session = requests.Session()
    session.headers.update(headers)
    session.auth = auth
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=connections, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    found = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies.update(found["proxies"])
    session.verify = found["verify"]
    session.trust_env = False
    return session


@dataclass(frozen=True, slots=True)
class _Call:
    """One request as the retries send it again: its parts and how its answer is read."""

    method: str
    path: str  # without its leading slash
    what: str
    params: dict[str, Any]
    body: bytes | None
    passthrough: frozenset[int]
    read: Callable[[Answer], Any] | None


@dataclass(frozen=True, slots=True)
class ApiErrors:
    """The exception each kind of failure is raised as (a plugin's own error classes)."""

    unreachable: type[Exception] = ApiError
    gave_up: type[Exception] = ApiError
    answer_lost: type[Exception] = ApiError
    answer_refused: type[Exception] = ApiError


class ApiClient:
    """Requests to one API: bounded tries, retries, and failures worded for the user.

    A subclass names its API (`api_name`, `default_url`, `sandbox_command`), its error classes
    (`errors`) and says what a non-2xx answer means (`refusal`); it may bound a try
    (`try_timeout`) or a wait (`pause`) by more than the settings, and count retries
    (`retrying`). The messages are worded here, once for both plugins.
    """

    api_name: ClassVar[str] = "the API"
    #: The API's own base URL, named when `api_url` points nowhere (per instance where it varies).
    default_url: str = ""
    #: The console script that starts this API's local sandbox (named when it is not running).
    sandbox_command: ClassVar[str] = ""
    #: The setting a user changes to give a request more time (named in timeout messages).
    timeout_setting: ClassVar[str] = "request_timeout"
    errors: ClassVar[ApiErrors] = ApiErrors()
    #: What a failed request leaves for the next run, appended to the messages that end one.
    resume_note: ClassVar[str] = ""

    def __init__(  # noqa: PLR0913 - the client's settings, keyword-only
        self,
        base_url: str,
        session: requests.Session,
        *,
        timeout: float,
        max_tries: int,
        backoff_base: float,
        logger: logging.Logger | None = None,
    ) -> None:
        """Prepare; nothing is sent before the first `request`."""
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).hostname or self.base_url
        self.session = session
        self.timeout = timeout
        self.max_tries = max_tries
        self.backoff_base = backoff_base
        self.logger = logger or logging.getLogger(type(self).__module__)
        #: The API has answered with a success: connection failures are transient from now on.
        self.answered = False

    # -- what subclasses say -------------------------------------------------------------------

    def refusal(self, answer: Answer, what: str, path: str) -> Exception:  # noqa: ARG002
        """What a non-2xx answer to `path` means: a `RetryLaterError` (`retry_later`), or not."""
        if answer.status == 429 or answer.status >= 500:  # noqa: PLR2004
            return self.retry_later(answer, what, f"HTTP {answer.status}")
        return ApiError(f"{self.api_name} answered HTTP {answer.status} to {what}")

    def heard(self, answer: Answer) -> None:
        """An answer came (any status): subclasses count them."""

    def try_timeout(self, what: str) -> float:  # noqa: ARG002 - for overrides
        """Seconds the next try of `what` may take, its answer included."""
        return self.timeout

    def pause(self, seconds: float, what: str) -> None:  # noqa: ARG002 - for overrides
        """Wait before the next try of `what`."""
        time.sleep(seconds)

    def retrying(self, attempt: int, failure: RetryLaterError, delay: float, what: str) -> None:
        """A retry of `what` is coming in `delay` seconds (logged; subclasses also count it)."""
        self.logger.warning(
            "%s: %s for %s; retry %d of %d in %.2fs",
            self.api_name,
            failure.reason,
            what,
            attempt + 1,
            self.max_tries - 1,
            delay,
        )

    # -- what subclasses use -------------------------------------------------------------------

    def retry_later(
        self, answer: Answer, what: str, reason: str, *, unsent: bool = False
    ) -> RetryLaterError:
        """A `RetryLaterError` for `answer`, waiting its `Retry-After` (`asked_wait`)."""
        return RetryLaterError(reason, self.asked_wait(answer, what), unsent=unsent)

    def asked_wait(self, answer: Answer, what: str) -> float | None:
        """The answer's `Retry-After` in seconds, at most `MAX_WAIT_SECONDS` (said when cut)."""
        header = answer.headers.get("Retry-After")
        asked = parse_retry_after(header)
        if asked is not None and asked > MAX_WAIT_SECONDS:
            self.logger.warning(
                "%s asked to wait %s (Retry-After: %s) for %s; waiting %g s instead",
                self.api_name,
                f"{asked:,.0f} s" if asked < 1e12 else "for ever",  # noqa: PLR2004
                (header or "")[:40],
                what,
                MAX_WAIT_SECONDS,
            )
            asked = MAX_WAIT_SECONDS
        return asked

    def request(  # noqa: PLR0913 - one request's parts, keyword-only after the path
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        passthrough: frozenset[int] = frozenset(),
        resend: bool = True,
        read: Callable[[Answer], Any] | None = None,
    ) -> Any:
        """Send until the API gives a final answer; return it (or `read(answer)`), or raise.

        2xx and the `passthrough` statuses are final answers; any other goes to `refusal`.
        `read` runs inside the retries, so an answer it finds unusable (raising
        `RetryLaterError`) is asked for again. Without `resend` (a write that must not happen
        twice) only failures the API surely did not act on are retried.

        Raises:
            Exception: a `refusal`, or one of `errors`: the API is unreachable, kept failing,
                lost the answer to a write, or answered too much.
        """
        call = _Call(method, path.lstrip("/"), what, dict(params or {}), body, passthrough, read)
        tries = self.max_tries
        send = backoff.on_exception(
            lambda: self._waits(what),
            RetryLaterError,
            max_tries=tries,
            jitter=None,
            logger=None,
            giveup=lambda failure: not (resend or failure.unsent),
        )(self._try)
        try:
            return send(call)
        except RetryLaterError as failure:
            if not (resend or failure.unsent):
                msg = f"{self.api_name} gave no answer to {what} ({failure.reason})"
                msg += "; it may have been done"
                raise self.errors.answer_lost(msg) from None
            msg = (
                f"{self.api_name} kept failing on {what} at {self.base_url}: gave up after {tries} "
                f"attempts (last: {failure.reason}){self.resume_note}"
            )
            raise self.errors.gave_up(msg) from None

    # -- inside ----------------------------------------------------------------------------------

    def _waits(self, what: str) -> Generator[float, BaseException | None, None]:
        """The wait generator given to backoff: it waits itself (`pause`) and hands backoff zero."""
        attempt = 0
        failure = yield 0.0
        while True:
            delay = next_wait(attempt, failure, base=self.backoff_base)
            if isinstance(failure, RetryLaterError):
                self.retrying(attempt, failure, delay, what)
            self.pause(delay, what)
            attempt += 1
            failure = yield 0.0

    def _try(self, call: _Call) -> Any:
        timeout = self.try_timeout(call.what)
        deadline = time.monotonic() + timeout  # for the whole request, the answer included
        try:
            response = self.session.request(
                call.method, f"{self.base_url}/{call.path}", params=call.params, data=call.body,
                timeout=timeout, allow_redirects=False, stream=True,
            )  # fmt: skip
            content = read_body(response, deadline=deadline)
        except (requests.Timeout, AnswerTooSlowError):
            msg = f"no whole answer within {timeout:g} s ({self.timeout_setting})"
            raise RetryLaterError(msg) from None
        except requests.ConnectionError as error:
            raise self._connection_failure(error, call.what) from None
        except (ChunkedEncodingError, AnswerCutOffError) as error:
            msg = f"the answer was cut off ({type(error).__name__})"
            raise RetryLaterError(msg) from None
        except AnswerTooLargeError as error:
            request = f"{call.method} /{call.path}"
            msg = f"{self._theirs} answer to {call.what} ({request}) was refused: {error}"
            raise self.errors.answer_refused(msg) from None
        answer = Answer(response.status_code, response.reason or "", response.headers, content)
        self.heard(answer)
        if not (answer.ok or answer.status in call.passthrough):
            raise self.refusal(answer, call.what, call.path)
        self.answered = self.answered or answer.ok
        return answer if call.read is None else call.read(answer)

    def _connection_failure(self, error: requests.ConnectionError, what: str) -> Exception:
        """Unreachable before the API ever answered: at once; otherwise a retry."""
        problem = None if self.answered else unreachable_problem(error, self.base_url)
        if problem is not None:
            return self.errors.unreachable(self._unreachable_message(problem, what))
        if is_refused(error):
            return RetryLaterError(f"connection refused by {self.host}", unsent=True)
        return RetryLaterError(f"connection failed ({type(error).__name__})")

    @property
    def _theirs(self) -> str:
        """The API's name in the possessive: "Wistia's", "Lytics'"."""
        return f"{self.api_name}'" if self.api_name.endswith("s") else f"{self.api_name}'s"

    def _unreachable_message(self, problem: str, what: str) -> str:
        said = f"Cannot reach the {self.api_name} API at api_url {self.base_url} ({what})"
        said += f": {problem}."
        if not is_loopback_url(self.base_url):
            return f"{said} Check `api_url` ({self._theirs} is {self.default_url})."
        start = start_sandbox_hint(self.sandbox_command, self.base_url)
        return (
            f"{said} Is the local sandbox running? {start}; or set `api_url` to {self.default_url}."
        )
