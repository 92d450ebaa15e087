"""The Wistia sandbox server: v1, the current API and an admin API over real HTTP on 127.0.0.1.

``WistiaSandbox`` wraps ``WistiaApi`` in what only a server can do (latency, the per-account
rate limit, timeouts, resets, truncated bodies, invalid JSON), counts traffic, and offers every
admin action both as a Python method and under ``/_sandbox/`` for tests and benchmarks running
in other processes. It runs in the HTTP shell both sandboxes share (``sandbox_http.shell``).
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import time
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import unquote

import msgspec

from sandbox_http.shell import Answer, BodyError, Exchange, SandboxServer, Wire
from sandbox_http.startable import Startable
from tap_wistia.sandbox.account import Account, EventError
from tap_wistia.sandbox.api import CURRENT, V1, Reply, Route, WistiaApi, json_reply, text_reply
from tap_wistia.sandbox.endpoints import LibraryAndStats
from tap_wistia.sandbox.faults import FaultError, Faults, FaultState, WireFault
from tap_wistia.sandbox.limits import RateLimiter
from tap_wistia.sandbox.traffic import Traffic

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["WistiaSandbox"]

_LOG = logging.getLogger(__name__)
ADMIN_PREFIX = "/_sandbox/"
"""The admin API's home; also under ``/v1/_sandbox/`` and ``/modern/_sandbox/``, so that
``url`` or ``current_url`` + path works too."""
ADMIN_API: dict[str, str] = {
    "GET /_sandbox/": "this list",
    "GET /_sandbox/stats": "traffic counters (requests, by_path, by_status, rate_limited, ...)",
    "POST /_sandbox/reset-stats": "forget the traffic seen so far",
    "GET /_sandbox/faults": "the fault settings in force",
    "POST /_sandbox/faults": "replace the fault settings: a JSON object of Faults fields "
    "(400 for an unknown or wrong one)",
    "POST /_sandbox/rate-limit": '{"per_minute": 600} (null or 0: no limit); a fresh window',
    "POST /_sandbox/events": 'a list of events to add, or {"generate": n, "at": "ISO time"}',
    "POST /_sandbox/events/{event_key}": "change fields of an event (e.g. a late percent_viewed)",
}
"""What ``GET /_sandbox/`` lists."""
RETRY_AFTER_STYLES = ("seconds", "http-date", "none")
"""How rate-limit answers give ``Retry-After``: seconds, an HTTP date, or not at all."""
RATE_LIMIT_TEXT = "Rate limit exceeded"
"""Wistia's 429 body: plain text (``text/plain`` in its OpenAPI spec), not JSON."""
MAX_BODY = 64 * 1024 * 1024
_INTERNAL_ERROR = json_reply(500, {"error": "Internal server error"})
_NOT_FOUND = json_reply(404, {"error": "Not found."})
_FAILURE_BODIES = {
    500: {"error": "Internal server error"},
    502: {"error": "Bad gateway"},
    503: {"error": "Service unavailable. Retry later."},
    504: {"error": "Gateway timeout"},
}


class WistiaSandbox(Startable):
    """A local Wistia Data API serving an ``Account`` over HTTP.

    Use as a context manager, or ``start()`` / ``stop()``. ``url`` is the API base
    (``http://127.0.0.1:PORT/v1``) to give a client as its ``api_url``.
    """

    def __init__(  # noqa: PLR0913 - every option of the sandbox, all keyword-only
        self,
        account: Account | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Mapping[str, frozenset[str]] | None = None,
        rate_limit_per_minute: int | None = 600,
        faults: Faults | None = None,
        rate_limit_status: int = 429,
        retry_after_style: str = "seconds",
        rate_limit_window_seconds: float = 60.0,
        admin_token: str | None = None,
    ) -> None:
        """Configure the sandbox; nothing listens until ``start()``.

        ``rate_limit_status`` (429, or 503 as older docs say) and ``retry_after_style``
        ("seconds", "http-date", or "none": no ``Retry-After`` at all, as a public pipeline
        reports of Wistia's 503) shape rate-limit answers. ``rate_limit_per_minute=None`` (or
        0) disables the limit; ``rate_limit_window_seconds`` shortens the window for fast tests.
        ``admin_token`` lets clients on other machines use the admin API (``/_sandbox/``) by
        sending it as ``X-Sandbox-Admin-Token`` (None: this machine only).
        """
        if rate_limit_status not in (429, 503):
            msg = f"rate_limit_status must be 429 or 503, got {rate_limit_status}"
            raise ValueError(msg)
        if retry_after_style not in RETRY_AFTER_STYLES:
            msg = (
                f"retry_after_style must be one of {RETRY_AFTER_STYLES}, got {retry_after_style!r}"
            )
            raise ValueError(msg)
        self.account = account or Account()
        self._faults = FaultState(faults)
        self._api = WistiaApi(self.account, self._faults, tokens)
        self._more = LibraryAndStats(self.account, self._faults)
        self._limiter = RateLimiter(rate_limit_per_minute, rate_limit_window_seconds)
        self._rate_limit_status = rate_limit_status
        self._retry_after_style = retry_after_style
        self._traffic = Traffic()
        self._shell = SandboxServer(
            self,
            host=host,
            port=port,
            name="wistia-sandbox",
            max_body=MAX_BODY,
            admin_token=admin_token,
            admin_prefixes=tuple(root + ADMIN_PREFIX for root in ("", V1, CURRENT)),
        )

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Listen and serve in a background thread; returns self for chaining."""
        self._shell.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping requests and close every open connection."""
        self._shell.stop()

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 was asked for)."""
        return self._shell.port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` (the admin API lives under ``/_sandbox/``)."""
        return self._shell.base_url

    @property
    def bound_url(self) -> str:
        """The address really listened on, e.g. ``http://0.0.0.0:8701`` (every interface)."""
        return self._shell.bound_url

    @property
    def url(self) -> str:
        """The v1 API base URL for clients: ``http://127.0.0.1:PORT/v1``."""
        return f"{self.base_url}{V1}"

    @property
    def current_url(self) -> str:
        """The current API's base URL: ``http://127.0.0.1:PORT/modern`` (send a release)."""
        return f"{self.base_url}{CURRENT}"

    # ---- admin, in Python -------------------------------------------------------------------

    @property
    def requests_seen(self) -> dict[str, Any]:
        """Traffic counters (the same document as ``GET /_sandbox/stats``)."""
        return self._traffic.snapshot()

    def stats(self) -> dict[str, Any]:
        """Traffic counters: requests, by_path, by_status, rate_limited, timestamps..."""
        return self._traffic.snapshot()

    def reset_stats(self) -> None:
        """Forget the traffic seen so far."""
        self._traffic.reset()

    @property
    def faults(self) -> Faults:
        """A copy of the fault settings in force (one-shot counters as they stand now)."""
        return self._faults.snapshot()

    def set_faults(self, faults: Faults | Mapping[str, Any] | None = None, **changes: Any) -> None:
        """Replace the fault settings; ``changes`` are applied on top (``set_faults()`` clears).

        Raises:
            FaultError: a setting is unknown or invalid (the old settings stay in force).
        """
        base = faults.to_mapping() if isinstance(faults, Faults) else dict(faults or {})
        self._faults.replace(Faults.from_mapping({**base, **changes}))

    def set_rate_limit(self, per_minute: int | None) -> None:
        """Change the rate limit (None or 0 disables it) and start a fresh window."""
        self._limiter.configure(per_minute)

    def add_events(self, events: list[dict[str, Any]]) -> None:
        """Add events to the account (see ``Account.add_events``)."""
        self.account.add_events(events)

    def generate_events(self, count: int, at: datetime | None = None) -> list[dict[str, Any]]:
        """Add ``count`` realistic events at ``at`` (default: the live edge); returns them."""
        return self.account.generate(count, at)

    def update_event(self, event_key: str, **fields: Any) -> dict[str, Any]:
        """Change fields of an event; returns the updated event."""
        return self.account.update_event(event_key, **fields)

    # ---- requests ---------------------------------------------------------------------------

    def answer(self, exchange: Exchange) -> Answer:
        """Answer one request (called by the shell on the connection's thread)."""
        path = exchange.path.removeprefix(V1).removeprefix(CURRENT)
        if path.startswith(ADMIN_PREFIX):
            return _answer(self._admin(exchange.method, path, exchange.body), None)
        with self._traffic.in_flight.answering():  # benchmarks check parallel paging
            return self._serve_api(exchange)

    def refuse_body(self, error: BodyError) -> Answer:
        """A body too large or badly framed: refused, as any front end would."""
        status = 413 if error.too_large else 400
        return _answer(json_reply(status, {"error": str(error)}), None)

    def _serve_api(self, exchange: Exchange) -> Answer:
        path, query = exchange.path, exchange.query
        generation = self._faults.generation
        route = (
            (self._api.resolve(path) or self._more.resolve(path))
            if exchange.method == "GET"
            else None
        )
        try:
            self._shell.pause(self._faults.latency_seconds)
            reply, fault, rate_limited = self._decide(exchange, route, query)
        except Exception:  # noqa: BLE001 - any bug must still answer 500, as Wistia does
            _LOG.exception("the sandbox failed to answer %s %s", exchange.method, path)
            reply, fault, rate_limited = _INTERNAL_ERROR, None, False
        current = route is not None and route.current
        self._traffic.record(
            route.template if route is not None else "(unknown)",
            "reset" if fault is not None and fault.kind == "reset" else str(reply.status),
            rate_limited=rate_limited,
            events=len(reply.event_keys),
            size=len(reply.body),
            release=exchange.headers.get("X-Wistia-Api-Version", "") if current else None,
        )
        if reply.status == HTTPStatus.OK:
            self._after_served(reply, generation)
        return _answer(reply, fault)

    def _decide(
        self, exchange: Exchange, route: Route | None, query: str
    ) -> tuple[Reply, WireFault | None, bool]:
        """The reply, the wire fault to suffer, and whether the rate limiter refused."""
        if route is None:
            return _NOT_FOUND, None, False
        refused = self._api.check_release(route, exchange.headers.get("X-Wistia-Api-Version"))
        if refused is not None:
            return refused, None, False
        denied = self._api.authorize(exchange.headers.get("Authorization"), route.permission)
        if denied is not None:
            return denied, None, False
        wait = self._limiter.admit()
        if wait is not None:
            return self._rate_limited(wait), None, True
        fault = self._faults.take(exchange.target)  # with its query: fail_paths may name one
        return self._faulted(fault) or self._api.answer(route, query), fault, False

    def _after_served(self, reply: Reply, generation: int) -> None:
        """Late updates of events just served, then page drift and moves after an events page."""
        try:
            for event_key, percent in self._faults.late_updates_due(reply.event_keys, generation):
                with contextlib.suppress(KeyError):
                    self.account.update_event(event_key, percent_viewed=percent)
            if reply.events_page and self._faults.page_drift:
                self.account.generate(self._faults.page_drift)
            deleting, adding = self._faults.while_paging()
            if reply.day_past is not None and reply.event_keys:
                if deleting:
                    self.account.delete_events(reply.event_keys[:deleting])
                if adding:
                    self.account.add_late_events(reply.day_past, adding)
        except Exception:  # noqa: BLE001 - the answer is sent; log and keep serving
            _LOG.exception("the sandbox failed to apply late updates, page drift or moves")

    def _retry_after(self, seconds: float) -> tuple[tuple[str, str], ...]:
        if self._retry_after_style == "none":
            return ()
        if self._retry_after_style == "http-date":
            return (("Retry-After", email.utils.formatdate(time.time() + seconds, usegmt=True)),)
        return (("Retry-After", f"{seconds:g}"),)

    def _rate_limited(self, wait: int) -> Reply:
        return self._limit_reply(self._rate_limit_status, wait)

    def _limit_reply(self, status: int, wait: float | None) -> Reply:
        """429 as Wistia sends it (plain text), or 503 as older docs say (JSON, as every 5xx).

        `wait` is the Retry-After to send (None: none).
        """
        headers = () if wait is None else self._retry_after(wait)
        if status == 429:  # noqa: PLR2004
            return text_reply(status, RATE_LIMIT_TEXT, headers)
        later = "later" if wait is None else f"in {wait:g} seconds"
        return json_reply(status, {"error": f"Service unavailable. Retry {later}."}, headers)

    def _faulted(self, fault: WireFault | None) -> Reply | None:
        """The reply an injected failure replaces the real one with (timeouts wait first)."""
        if fault is None:
            return None
        if fault.kind == "timeout":
            self._shell.pause(fault.seconds)
            return None
        if fault.kind != "fail":
            return None
        if fault.status in (429, 503):
            return self._limit_reply(fault.status, self._faults.retry_after_seconds)
        return json_reply(fault.status, _FAILURE_BODIES[fault.status])

    # ---- admin over HTTP --------------------------------------------------------------------

    def _admin(self, method: str, path: str, body: bytes) -> Reply:
        """The admin API: stats, faults, rate limit and live events (no auth)."""
        try:
            if method == "GET":
                return self._admin_read(path)
            if method == "POST":
                data = msgspec.json.decode(body) if body.strip() else {}
                return self._admin_change(path, data)
        except (EventError, FaultError, msgspec.DecodeError, ValueError, TypeError) as error:
            # fault settings are refused with 400, as the Lytics sandbox refuses them
            status = 400 if isinstance(error, FaultError) else 422
            return json_reply(status, {"error": str(error)})
        except KeyError as error:
            return json_reply(404, {"error": str(error.args[0]) if error.args else "Not found."})
        except Exception:  # noqa: BLE001 - any bug must still answer 500
            _LOG.exception("the sandbox admin API failed on %s %s", method, path)
            return _INTERNAL_ERROR
        return _NOT_FOUND

    def _admin_read(self, path: str) -> Reply:
        if path in ("/_sandbox/", "/_sandbox"):
            return json_reply(200, {"admin_api": ADMIN_API, "v1": V1, "current": CURRENT})
        if path == "/_sandbox/stats":
            return json_reply(200, self.stats())
        if path == "/_sandbox/faults":
            return json_reply(200, self.faults.to_mapping())
        return _NOT_FOUND

    def _admin_change(self, path: str, data: Any) -> Reply:
        if path.startswith("/_sandbox/events/"):
            key = unquote(path.removeprefix("/_sandbox/events/"))
            fields = _expect(data, dict, "a JSON object of event fields")
            return json_reply(200, self.update_event(key, **fields))
        change = {
            "/_sandbox/reset-stats": self._admin_reset_stats,
            "/_sandbox/faults": self._admin_faults,
            "/_sandbox/rate-limit": self._admin_rate_limit,
            "/_sandbox/events": self._admin_add,
        }.get(path)
        return _NOT_FOUND if change is None else json_reply(200, change(data))

    def _admin_reset_stats(self, _: Any) -> dict[str, Any]:
        self.reset_stats()
        return {"ok": True}

    def _admin_faults(self, data: Any) -> dict[str, Any]:
        self.set_faults(_expect(data, dict, "a JSON object of fault settings"))
        return self.faults.to_mapping()

    def _admin_rate_limit(self, data: Any) -> dict[str, Any]:
        limit = _expect(data, dict, 'a JSON object like {"per_minute": 600}').get("per_minute")
        self.set_rate_limit(_expect(limit, (int, type(None)), "per_minute: an integer or null"))
        return {"per_minute": self._limiter.per_minute}

    def _admin_add(self, data: Any) -> dict[str, Any]:
        """``[events...]`` adds them; ``{"generate": n, "at": iso}`` generates n live events."""
        if isinstance(data, list):
            self.add_events(data)
            return {"added": data}
        request = _expect(data, dict, 'a list of events or {"generate": n, "at": "ISO time"}')
        count = _expect(request.get("generate"), int, '"generate": a number of events')
        at = request.get("at")
        moment = datetime.fromisoformat(_expect(at, str, '"at": an ISO time')) if at else None
        return {"added": self.generate_events(count, moment)}


def _expect(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        msg = f"expected {what}, got {value!r}"
        raise TypeError(msg)
    return value


def _answer(reply: Reply, fault: WireFault | None) -> Answer:
    """The shell's answer for a reply, mangled as the wire fault says."""
    kind = fault.kind if fault is not None else ""
    if kind == "reset":
        return Answer(0, wire="reset")
    body = reply.body
    if kind == "bad_json":
        body = body[: len(body) // 2] + b"<!-- upstream error -->"
    wire: Wire = "truncate" if kind == "truncate" else "send"
    return Answer(reply.status, body, reply.content_type, reply.headers, wire)
