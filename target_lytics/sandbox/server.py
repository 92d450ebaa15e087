"""A faithful local Lytics API over real HTTP: collect, account, schema, entity and streams.

Users run it (``python -m target_lytics.sandbox``) to try the pipeline and inspect what Lytics
would hold; every target test, end-to-end test and benchmark talks to it. It enforces the
documented collect rules (raw-token auth, 10 MB bodies, 4 KB / 16 KB records, no arrays of
objects, 256-byte identifiers, ``rejected_count`` on a 200) and builds profiles only through each
account's published fields and mappings (``schema``, ``mapper``), so a loader that passes here
behaves against Lytics; it can inject the failures a loader must survive (see ``faults``).
Accounts (empty, as Lytics' Wistia import leaves them, with schema patches), inspection and
fault control live under ``/_sandbox/`` (no auth). It runs in the HTTP shell both sandboxes
share (``sandbox_http.shell``).
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import msgspec

from sandbox_http.shell import Answer, BodyError, Exchange, SandboxServer
from target_lytics.sandbox.accounts import Account, AccountBook
from target_lytics.sandbox.faults import Decision, FaultDesk, Faults
from target_lytics.sandbox.presets import PRESETS, Preset
from target_lytics.sandbox.profiles import iso_time, parse_event_time
from target_lytics.sandbox.replies import (
    BadRequestError,
    Reply,
    Request,
    json_object,
    message,
    not_found,
    success,
)
from target_lytics.sandbox.schema_api import SchemaRoutes
from target_lytics.sandbox.store import EventStore, NewEvent

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
    from types import TracebackType

DEFAULT_TOKEN = "sandbox-lytics-token"  # noqa: S105 - the sandbox's public, documented token
DEFAULT_ACCOUNT = "acct-sandbox"
EXPIRED_TOKEN = "at.expired.token"  # noqa: S105 - a documented fake that answers "Expired Token"
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_BATCH_RECORD_BYTES = 16 * 1024
MAX_SINGLE_RECORD_BYTES = 4 * 1024
MAX_IDENTIFIER_BYTES = 256
_SURELY_SHORT_IDENTIFIER = MAX_IDENTIFIER_BYTES // 4  # characters: UTF-8 uses at most 4 bytes
_PAGE_LIMIT = 10_000
_FOLD_WHEN_IDLE_SECONDS = 0.5

# --- collect rules (pure) -------------------------------------------------------------------


class CollectError(BadRequestError):
    """A collect body Lytics refuses as a whole (HTTP 400)."""


@dataclass(slots=True)
class Screened:
    """The outcome of checking one collect body against Lytics' record rules."""

    received: int
    accepted: list[NewEvent] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def rejected_count(self) -> int:
        """How many records Lytics would not ingest."""
        return sum(self.rejected.values())


def screen_records(
    payload: Any,
    *,
    timestamp_field: str,
    arrival: int,
    identity_values: Callable[[Mapping[str, Any]], Iterable[Any]] | None = None,
    refused: Callable[[Mapping[str, Any]], bool] | None = None,
) -> Screened:
    """Split a decoded collect body into storable events and rejections (counted by reason).

    ``identity_values`` gives the identifier values a record carries (through the account's
    published identifier mappings): Lytics rejects records whose values exceed 256 bytes.
    ``refused`` picks records to reject as invalid whatever they hold (the ``reject_where`` fault).

    Raises:
        CollectError: the body is neither a JSON object nor an array.
    """
    records: list[Any]
    if isinstance(payload, dict):
        records, limit = [payload], MAX_SINGLE_RECORD_BYTES
    elif isinstance(payload, list):
        records, limit = payload, MAX_BATCH_RECORD_BYTES
    else:
        msg = f"body must be a JSON object or an array of objects, not {type(payload).__name__}"
        raise CollectError(msg)
    screened = Screened(received=len(records))
    for record in records:
        if not isinstance(record, dict):
            screened.rejected["not_an_object"] += 1
            continue
        body = msgspec.json.encode(record)
        problem = record_problem(record, body, limit, identity_values)
        if problem is None and refused is not None and refused(record):
            problem = "reject_where"
        if problem:
            screened.rejected[problem] += 1
            continue
        event_time = parse_event_time(record.get(timestamp_field)) if timestamp_field else None
        moment = arrival if event_time is None else event_time
        screened.accepted.append(NewEvent(moment, body.decode()))
    return screened


def record_problem(
    record: Mapping[str, Any],
    body: bytes,
    limit: int,
    identity_values: Callable[[Mapping[str, Any]], Iterable[Any]] | None = None,
) -> str | None:
    """Why Lytics would reject this record (a short reason), or None when it is ingested."""
    if len(body) > limit:
        return "too_large"
    if (b"[{" in body or b",{" in body) and _holds_object_array(record):
        return "array_of_objects"
    for value in identity_values(record) if identity_values else ():
        if isinstance(value, str) and len(value) <= _SURELY_SHORT_IDENTIFIER:
            continue
        if len(str(value).encode()) > MAX_IDENTIFIER_BYTES:
            return "identifier_too_long"
    return None


def _holds_object_array(value: Any) -> bool:
    """Whether an object appears inside an array anywhere in ``value``."""
    if isinstance(value, dict):
        return any(_holds_object_array(item) for item in value.values())
    if isinstance(value, list):
        return any(isinstance(item, dict) or _holds_object_array(item) for item in value)
    return False


# --- requests, replies, stats ---------------------------------------------------------------


class Stats:
    """Counters for tests and people: what the loader sent and how the sandbox answered."""

    def __init__(self) -> None:
        """Start at zero."""
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._by_status: Counter[str] = Counter()
        self._rejected_by_reason: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._max_body_bytes = 0
        self._in_flight = 0
        self._max_in_flight = 0

    def reset(self) -> None:
        """Back to zero (``POST /_sandbox/reset-stats``)."""
        with self._lock:
            for counter in (self._counts, self._by_status, self._rejected_by_reason, self._faults):
                counter.clear()
            self._max_body_bytes = 0
            self._max_in_flight = 0

    def count(self, **counts: int) -> None:
        """Add to named counters."""
        with self._lock:
            self._counts.update(counts)

    def answered(self, outcome: int | str, body_size: int) -> None:
        """Record one API request's outcome (a status, or ``reset``/``timeout``)."""
        with self._lock:
            self._counts["requests"] += 1
            self._by_status[str(outcome)] += 1
            self._max_body_bytes = max(self._max_body_bytes, body_size)

    def begin(self) -> None:
        """A request is being answered (tracks a loader's real concurrency)."""
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def end(self) -> None:
        """A request is answered, however it ended (its answer is not written yet)."""
        with self._lock:
            self._in_flight -= 1

    def rejected(self, reasons: Counter[str]) -> None:
        """Record rejected records by reason."""
        with self._lock:
            self._counts["rejected"] += sum(reasons.values())
            self._rejected_by_reason.update(reasons)

    def fault(self, kind: str) -> None:
        """Record one injected fault."""
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as ``GET /_sandbox/stats`` shows them."""
        names = ("requests", "collect_requests", "records_received", "records_stored")
        more = (
            "rejected",
            "legacy_query_token",
            "dryrun_requests",
            "schema_requests",
            "schema_writes",
        )
        with self._lock:
            shown: dict[str, Any] = {name: self._counts[name] for name in names}
            shown["by_status"] = dict(sorted(self._by_status.items()))
            shown |= {name: self._counts[name] for name in more}
            shown["max_body_bytes"] = self._max_body_bytes
            shown["max_requests_in_flight"] = self._max_in_flight
            shown["rejected_by_reason"] = dict(sorted(self._rejected_by_reason.items()))
            shown["faults_injected"] = dict(sorted(self._faults.items()))
            return shown


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"true", "1", "yes"}


def _page(query: Mapping[str, str], default_limit: int) -> tuple[int, int]:
    """(limit, offset) from a query, refusing nonsense with a message that says what works."""
    try:
        limit = int(query.get("limit", default_limit))
        offset = int(query.get("offset", 0))
    except ValueError:
        msg = "limit and offset must be whole numbers"
        raise CollectError(msg) from None
    if not (0 <= limit <= _PAGE_LIMIT and offset >= 0):
        msg = f"limit must be 0..{_PAGE_LIMIT} and offset >= 0"
        raise CollectError(msg)
    return limit, offset


def _now_us() -> int:
    return time.time_ns() // 1_000


# --- the API --------------------------------------------------------------------------------


class LyticsApi:
    """The sandbox's behaviour, independent of sockets: a request in, a reply out."""

    def __init__(  # noqa: PLR0913 - the sandbox's documented options, all keyword-only
        self,
        *,
        store: EventStore,
        book: AccountBook,
        expired_tokens: Collection[str],
        desk: FaultDesk,
        oversize_status: int,
        pause: Callable[[float], bool],
    ) -> None:
        """Serve ``store`` to holders of the tokens of ``book``'s accounts.

        ``pause`` waits for a fault (latency, a hung request) and ends early when the sandbox
        stops.
        """
        self.store = store
        self.book = book
        self.schema_routes = SchemaRoutes(book, store)
        self.expired_tokens = frozenset(expired_tokens)
        self.desk = desk
        self.oversize_status = oversize_status
        self.stats = Stats()
        self._pause = pause
        self._request_ids = itertools.count(1)

    def handle(self, request: Request) -> Reply:
        """Answer one request."""
        self.stats.begin()
        try:
            return self._handle(request)
        finally:
            self.stats.end()

    def _handle(self, request: Request) -> Reply:
        if request.path[:1] == ["_sandbox"]:
            return self._admin(request)
        reply = self._api(request)
        if request.path[:2] == ["v2", "schema"]:
            wrote = request.method != "GET" and reply.status < HTTPStatus.BAD_REQUEST
            self.stats.count(schema_requests=1, schema_writes=int(wrote))
        if reply.body is not None and reply.status >= HTTPStatus.BAD_REQUEST:
            reply.body.setdefault("request_id", f"sbx-{next(self._request_ids):08d}")
        outcome: int | str = {"drop": "timeout", "reset": "reset"}.get(reply.wire, reply.status)
        self.stats.answered(outcome, request.size)
        return reply

    # -- the Lytics API

    def _api(self, request: Request) -> Reply:
        decision = self.desk.decide(request.target)
        self._pause(decision.latency_s)
        if decision.action != "serve":
            return self._fault(decision)
        if request.size > MAX_BODY_BYTES:
            status = self.oversize_status
            return Reply(status, message(status, "Request Entity Too Large", data=None))
        if "access_token" in request.query:
            self.stats.count(legacy_query_token=1)
        token, account, refusal = self._account(request)
        if refusal is not None:
            return refusal
        try:
            return self._route(request, token, account)
        except BadRequestError as error:
            return Reply(400, message(400, str(error), data=None))

    def _fault(self, decision: Decision) -> Reply:
        if decision.action == "timeout":
            self.stats.fault("timeout")
            self._pause(decision.timeout_s)
            return Reply(0, wire="drop")
        if decision.action == "reset":
            self.stats.fault("reset")
            return Reply(0, wire="reset")
        self.stats.fault(str(decision.status))
        headers = {}
        retry_after = decision.retry_after_seconds
        if decision.status == HTTPStatus.TOO_MANY_REQUESTS and retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        return Reply(decision.status, message(decision.status, data=None), headers)

    def _account(self, request: Request) -> tuple[str, str, Reply | None]:
        """(token, the account a request acts on, None) or the refusal Lytics gives.

        A token reaching several accounts acts on the first unless ``account_id`` names another
        it reaches (by id or aid).
        """
        token = request.authorization
        if token is None:
            token = request.query.get("access_token")
        token = (token or "").strip()
        if token in self.expired_tokens:
            return token, "", Reply(401, message(401, "Expired Token"))
        reachable = self.book.reachable(token)
        if not reachable:
            return token, "", Reply(401, message(401, "Unauthorized"))
        wanted = request.query.get("account_id")
        if wanted is None:
            return token, reachable[0].id, None
        for account in reachable:
            if wanted in (account.id, str(account.aid)):
                return token, account.id, None
        text = f"account_id {wanted!r} is not an account this token reaches"
        return token, "", Reply(403, message(403, text, data=None))

    def _route(self, request: Request, token: str, account: str) -> Reply:
        method, path = request.method, request.path
        match method, path:
            case "POST", ["collect", "json", stream] if stream:
                return self._collect(request, account, stream)
            case "POST", ["collect", "json", *_]:
                msg = "the stream name is missing: POST /collect/json/{stream}"
                raise CollectError(msg)
            case "GET", ["api", "account", *_] | ["v2", "account"]:
                return self._accounts(path, token, account)
            case "GET", ["api", "entity", "user", field_name, value]:
                return self._entity(account, field_name, value, missing_status=200)
            case "GET", ["v2", "identity", "user", field_name, value]:
                return self._entity(account, field_name, value, missing_status=404)
            case "GET", ["v2", "stream", stream, "events"]:
                limit, _ = _page(request.query, 20)
                events = self.store.events(stream, account=account, limit=limit)
                return success([event.record for event in events])
        return self.schema_routes.reply(request, account) or not_found()

    def _accounts(self, path: list[str], token: str, account: str) -> Reply:
        """``/api/account`` lists what the token reaches; one by id; ``/v2/account`` the current."""
        reachable = self.book.reachable(token)
        match path:
            case ["api", "account"]:
                return success([item.info() for item in reachable])
            case ["api", "account", wanted]:
                found = [item for item in reachable if wanted in (item.id, str(item.aid))]
                return success(found[0].info()) if found else not_found()
        current = [item for item in reachable if item.id == account]
        return success(current[0].info()) if current else not_found()

    def _collect(self, request: Request, account: str, stream: str) -> Reply:
        query = request.query
        timestamp_field = query.get("timestamp_field", "")
        dryrun = _truthy(query.get("dryrun"))
        try:
            payload = msgspec.json.decode(request.body)
        except msgspec.DecodeError as error:
            msg = f"the body is not valid JSON: {error}"
            raise CollectError(msg) from None
        arrival = _now_us()
        mapper = self.store.live_mapper(account)
        screened = screen_records(
            payload,
            timestamp_field=timestamp_field,
            arrival=arrival,
            identity_values=(lambda record: mapper.identity_values(stream, record))
            if mapper
            else None,
            refused=self.desk.refuses,
        )
        self._inject_rejections(screened)
        stored = 0 if dryrun else self.store.append(account, stream, screened.accepted, arrival)
        self.stats.count(
            collect_requests=1,
            records_received=screened.received,
            records_stored=stored,
            dryrun_requests=int(dryrun),
        )
        self.stats.rejected(screened.rejected)
        return success(
            {
                "message_count": screened.received,
                "rejected_count": screened.rejected_count,
                "content-type": "application/json",
                "dryrun": dryrun,
                "timestamp_field": timestamp_field,
                "filename": query.get("filename", ""),
            }
        )

    def _inject_rejections(self, screened: Screened) -> None:
        """The ``reject_next`` fault: drop records that would otherwise be stored."""
        wanted = self.desk.rejections()
        dropped = min(wanted, len(screened.accepted))
        if dropped:
            del screened.accepted[len(screened.accepted) - dropped :]
            screened.rejected["injected"] += dropped
        if wanted:
            self.stats.fault("reject")

    def _entity(self, account: str, field_name: str, value: str, *, missing_status: int) -> Reply:
        mapper = self.store.live_mapper(account)
        identity_fields = mapper.profile_schema.identity_fields if mapper else ()
        if field_name not in identity_fields:
            text = (
                f"{field_name!r} is not an identity field of this account's published schema; "
                f"look up by one of {list(identity_fields)}"
            )
            return Reply(400, message(400, text, data=None))
        profile = self.store.profile(account, field_name, value)
        if profile is None:
            return Reply(missing_status, message(404, "Not Found", data=None))
        return success(profile)

    # -- read-only inspection and fault control

    def _admin(self, request: Request) -> Reply:
        try:
            return self._admin_route(request)
        except (ValueError, TypeError) as error:
            return Reply(400, message(400, str(error)))

    def _admin_route(  # noqa: C901, PLR0911 - one return per route
        self, request: Request
    ) -> Reply:
        query, account = request.query, request.query.get("account")
        match request.method, request.path[1:]:
            case "GET", []:
                return Reply(200, {"endpoints": list(_ADMIN_INDEX)})
            case _, ["accounts", *rest]:
                return self._accounts_admin(request, rest)
            case "GET", ["streams"]:
                return Reply(200, self.store.stream_counts(account))
            case "GET", ["streams", stream, "events"]:
                return Reply(200, self._listed_events(stream, query))
            case "GET", ["profiles"]:
                limit, offset = _page(query, 100)
                total, profiles = self.store.profiles(account, limit=limit, offset=offset)
                return Reply(200, {"total": total, "profiles": profiles})
            case "GET", ["stats"]:
                return Reply(200, self.stats.snapshot())
            case "POST", ["reset-stats"]:
                self.stats.reset()
                return Reply(200, self.stats.snapshot())
            case "GET", ["faults"]:
                return Reply(200, self.desk.faults.to_mapping())
            case "POST", ["faults"]:
                self.desk.replace(Faults.from_mapping(json_object(request.body)))
                return Reply(200, self.desk.faults.to_mapping())
            case "POST", ["reset"]:
                return self._reset()
        return not_found()

    def _reset(self) -> Reply:
        """Every account back to its preset, no events, no counts, no faults."""
        self.book.restart(iso_time(_now_us()))
        self.store.clear()
        self.stats.reset()
        self.desk.replace(Faults())
        return Reply(200, {"status": 200, "message": "reset"})

    def _accounts_admin(self, request: Request, rest: list[str]) -> Reply:
        match request.method, rest:
            case "GET", []:
                return Reply(200, {"accounts": [item.summary() for item in self.book.all()]})
            case "POST", []:
                return Reply(201, add_account(self.book, json_object(request.body)).summary())
            case "GET", [wanted, "schema"]:
                return self._schema_view(wanted)
            case "POST", [wanted, "idconfig"] if self.book.get(wanted) is not None:
                idconfig = json_object(request.body)
                self.book.change(wanted, lambda schema: setattr(schema, "idconfig", idconfig))
                return Reply(200, idconfig)
        return not_found()

    def _schema_view(self, account: str) -> Reply:
        """An account's schema for people: working fields and mappings, versions, patches."""
        if self.book.get(account) is None:
            return not_found()

        def view(schema: Any) -> dict[str, Any]:
            return {
                "enable_schema_patches": schema.patches_enabled,
                "fields": schema.fields(),
                "mappings": schema.mappings(),
                "versions": [version.summary() for version in schema.versions],
                "patches": [schema.patch_view(patch) for patch in schema.patches.values()],
                "idconfig": schema.idconfig,
            }

        return Reply(200, self.book.read(account, view))

    def _listed_events(self, stream: str, query: Mapping[str, str]) -> dict[str, Any]:
        limit, offset = _page(query, 100)
        account = query.get("account")
        events = self.store.events(stream, account=account, limit=limit, offset=offset)
        total = self.store.stream_counts(account).get(stream, 0)
        shown = [
            {
                "id": event.id,
                "account": event.account,
                "event_time": iso_time(event.event_time),
                "arrival": iso_time(event.arrival),
                "record": event.record,
            }
            for event in events
        ]
        return {"stream": stream, "total": total, "events": shown}


_ADMIN_INDEX = (
    "GET /_sandbox/accounts",
    'POST /_sandbox/accounts {"id", "token", "name"?, "preset"?, "schema_patches"?}',
    "GET /_sandbox/accounts/{id}/schema",
    "POST /_sandbox/accounts/{id}/idconfig",
    "GET /_sandbox/streams",
    "GET /_sandbox/streams/{stream}/events?limit&offset&account",
    "GET /_sandbox/profiles?limit&offset&account",
    "GET /_sandbox/stats",
    "POST /_sandbox/reset-stats",
    "GET /_sandbox/faults",
    "POST /_sandbox/faults",
    "POST /_sandbox/reset",
)
"""What ``GET /_sandbox/`` lists, for people exploring the sandbox."""


def add_account(book: AccountBook, spec: Mapping[str, Any]) -> Account:
    """Create an account from the admin API's (or the CLI's) description of it.

    Raises:
        ValueError: a key is unknown or a value unusable (named).
    """
    known = {"id", "token", "name", "preset", "schema_patches"}
    if unknown := sorted(set(spec) - known):
        msg = f"unknown account setting(s) {unknown}; known: {sorted(known)}"
        raise ValueError(msg)
    account_id, token = spec.get("id"), spec.get("token")
    if not isinstance(account_id, str) or not isinstance(token, str):
        msg = 'an account needs "id" and "token" (strings)'
        raise TypeError(msg)
    preset = spec.get("preset", "wistia-import")
    if preset not in PRESETS:
        msg = f"preset {preset!r}: use one of {', '.join(PRESETS)}"
        raise ValueError(msg)
    patches = spec.get("schema_patches", False)
    if not isinstance(patches, bool):
        msg = "schema_patches must be true or false"
        raise TypeError(msg)
    name = spec.get("name")
    return book.add(
        account_id,
        token,
        name=name if isinstance(name, str) else None,
        preset=preset,
        schema_patches=patches,
        now=iso_time(_now_us()),
    )


# --- the sandbox ----------------------------------------------------------------------------


class LyticsSandbox:
    """A local Lytics API on 127.0.0.1, persisting to SQLite; start it, point a loader at it.

    Use as a context manager (``with LyticsSandbox() as lytics: lytics.url``) or call
    ``start()``/``stop()``. Without ``db_path`` the data lives in a temporary file removed on
    stop; with one it survives restarts (accounts and schemas as they were, profiles rebuilt
    from the stored events). More accounts: ``add_account`` or ``POST /_sandbox/accounts``.
    """

    def __init__(  # noqa: PLR0913 - the sandbox's documented options, all keyword-only
        self,
        *,
        db_path: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Mapping[str, str | Sequence[str]] | None = None,
        preset: Preset = "wistia-import",
        schema_patches: bool = False,
        names: Mapping[str, str] | None = None,
        expired_tokens: Collection[str] = (EXPIRED_TOKEN,),
        faults: Faults | None = None,
        oversize_status: Literal[413, 400] = 413,
        log_requests: bool = False,
    ) -> None:
        """Configure the sandbox; nothing listens until ``start``.

        Args:
            db_path: SQLite file to keep events in (None or ":memory:": a temporary file).
            host: Interface to listen on.
            port: Port to listen on (0: any free port; see ``url``).
            tokens: Accepted tokens -> the account id (or ids) each reaches (default: the
                sandbox token and account). Accounts that do not exist yet are created.
            preset: How those accounts start: ``wistia-import`` (the fields and mappings
                Lytics' own Wistia import sets up) or ``empty``.
            schema_patches: Whether those accounts have ``enable_schema_patches``.
            names: Account id -> name, for accounts created here (default: from the id).
            expired_tokens: Tokens answered with 401 "Expired Token".
            faults: Initial fault settings (default: none).
            oversize_status: Status for bodies over 10 MB (unconfirmed for Lytics: 413 or 400).
            log_requests: Log each request to stderr (tokens in query strings are masked).
        """
        if oversize_status not in (413, 400):
            msg = f"oversize_status must be 413 or 400, got {oversize_status!r}"
            raise ValueError(msg)
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if db_path is None or str(db_path) == ":memory:":  # two connections need one file
            self._tempdir = tempfile.TemporaryDirectory(prefix="lytics-sandbox-")
            db_path = Path(self._tempdir.name) / "lytics.sqlite3"
        self.db_path = Path(db_path)
        self._shell = SandboxServer(
            self,
            host=host,
            port=port,
            name="lytics-sandbox",
            log_line=_log_to_stderr if log_requests else None,
        )
        self.book = AccountBook(self.db_path)
        self.store = EventStore(
            self.db_path, self.book.versions, fold_when_idle=_FOLD_WHEN_IDLE_SECONDS
        )
        self._first_token = ""
        for token, accounts in (tokens or {DEFAULT_TOKEN: DEFAULT_ACCOUNT}).items():
            self._first_token = self._first_token or token
            for account in [accounts] if isinstance(accounts, str) else accounts:
                self.add_account(
                    account,
                    token,
                    preset=preset,
                    schema_patches=schema_patches,
                    name=(names or {}).get(account),
                )
        self.api = LyticsApi(
            store=self.store,
            book=self.book,
            expired_tokens=expired_tokens,
            desk=FaultDesk(faults),
            oversize_status=oversize_status,
            pause=self._shell.pause,
        )
        self._stopped = False

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash, no path)."""
        return self._shell.base_url

    @property
    def token(self) -> str:
        """A token the sandbox accepts (the first configured one)."""
        return self._first_token

    @property
    def account_id(self) -> str:
        """The account ``token`` acts on."""
        return self.book.reachable(self.token)[0].id

    def add_account(
        self,
        account_id: str,
        token: str,
        *,
        preset: Preset = "wistia-import",
        schema_patches: bool = False,
        name: str | None = None,
    ) -> Account:
        """Create an account (``preset``: ``wistia-import`` or ``empty``) reached by ``token``.

        An existing account only gains the token (so one token can reach several accounts).
        """
        spec: dict[str, Any] = {"id": account_id, "token": token, "preset": preset}
        spec |= {"schema_patches": schema_patches} | ({"name": name} if name else {})
        return add_account(self.book, spec)

    @property
    def faults(self) -> Faults:
        """The live fault settings; change their fields, or assign new ``Faults``."""
        return self.api.desk.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.api.desk.replace(faults)

    def stats(self) -> dict[str, Any]:
        """The counters ``GET /_sandbox/stats`` shows."""
        return self.api.stats.snapshot()

    def reset_stats(self) -> None:
        """Zero the counters."""
        self.api.stats.reset()

    def start(self) -> Self:
        """Listen and serve in a background thread; returns self."""
        if self._shell.running:
            msg = "the sandbox is already running"
            raise RuntimeError(msg)
        if self._stopped:
            msg = (
                "a stopped sandbox cannot restart: create a new LyticsSandbox with the same db_path"
            )
            raise RuntimeError(msg)
        self._shell.start()
        return self

    def stop(self) -> None:
        """Stop serving, end hung requests and open connections, close the database."""
        if self._stopped:
            return
        self._stopped = True
        self._shell.stop()
        self.store.close()
        self.book.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    def __enter__(self) -> Self:
        """Start serving."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop serving."""
        self.stop()

    # -- the shell's app

    def answer(self, exchange: Exchange) -> Answer:
        """Answer one request (called by the shell on the connection's thread)."""
        return self.api.handle(Request.of(exchange)).answer()

    def refuse_body(self, error: BodyError) -> Answer:
        """A body far too large (the oversize status) or badly framed (400), as Lytics would."""
        status = self.api.oversize_status if error.too_large else 400
        return Reply(status, message(status, str(error), data=None)).answer()


def _log_to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
