"""The Lytics API the sandbox serves, independent of sockets: a request in, a reply out.

``LyticsApi`` authenticates (raw tokens, the legacy ``access_token`` query parameter, expired
tokens; a request acts on the token's own account, an ``account_id`` query parameter is no
documented way to another and is ignored, and counted), draws faults from the ``FaultDesk``,
and routes to collect (checked by ``collect``), accounts and their settings, entity lookups,
stream events and the schema API (``schema_api``); it answers ``/v2`` and ``/api`` each in its
own envelope (``replies``). Under ``/_sandbox/`` it offers inspection, accounts and fault
control (no auth).
"""

from __future__ import annotations

import itertools
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import msgspec

from target_lytics.sandbox.collect import MAX_BODY_BYTES, CollectError, Screened, screen_records
from target_lytics.sandbox.faults import Decision, FaultDesk, Faults
from target_lytics.sandbox.presets import PRESETS
from target_lytics.sandbox.profiles import iso_time
from target_lytics.sandbox.replies import (
    BadRequestError,
    Reply,
    Request,
    in_v2_shape,
    json_object,
    message,
    not_found,
    success,
)
from target_lytics.sandbox.schema import COMPARE_SHAPES
from target_lytics.sandbox.schema_api import SchemaRoutes
from target_lytics.sandbox.stats import Stats

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

    from target_lytics.sandbox.accounts import Account, AccountBook
    from target_lytics.sandbox.schema import CompareShape
    from target_lytics.sandbox.store import EventStore

_PAGE_LIMIT = 10_000
PATCHES_SETTING = "enable_schema_patches"


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
        compare_shape: CompareShape = "grouped",
    ) -> None:
        """Serve ``store`` to holders of the tokens of ``book``'s accounts.

        ``pause`` waits for a fault (latency, a hung request) and ends early when the sandbox
        stops; ``compare_shape`` is how the draft's diff is shown (no public source shows it).
        """
        if compare_shape not in COMPARE_SHAPES:
            msg = f"compare_shape must be one of {', '.join(COMPARE_SHAPES)}"
            raise ValueError(msg)
        self.store = store
        self.book = book
        self.schema_routes = SchemaRoutes(book, store, compare_shape)
        self.expired_tokens = frozenset(expired_tokens)
        self.desk = desk
        self.oversize_status = oversize_status
        self.stats = Stats()
        self._pause = pause
        self._request_ids = itertools.count(1)

    def handle(self, request: Request) -> Reply:
        """Answer one request."""
        with self.stats.in_flight.answering():
            return self._handle(request)

    def _handle(self, request: Request) -> Reply:
        if request.path[:1] == ["_sandbox"]:
            return self._admin(request)
        reply = self._api(request)
        if request.path[:2] == ["v2", "schema"]:
            self.stats.count(schema_requests=1, schema_writes=int(reply.wrote))
        if reply.body is not None:
            request_id = f"sbx-{next(self._request_ids):08d}"
            if request.path[:1] == ["v2"] and not reply.edge:
                reply.body = in_v2_shape(reply.body, request_id)
            elif reply.status >= HTTPStatus.BAD_REQUEST:
                reply.body.setdefault("request_id", request_id)
        outcome: int | str = {"drop": "timeout", "reset": "reset"}.get(reply.wire, reply.status)
        self.stats.answered(outcome, request.size)
        return reply

    # -- the Lytics API

    def _api(self, request: Request) -> Reply:
        decision = self.desk.decide(request.target, request.method)
        self._pause(decision.latency_s)
        if decision.action not in {"serve", "lose"}:
            return self._fault(decision)
        if request.size > MAX_BODY_BYTES:
            status = self.oversize_status
            reply = Reply(status, message(status, "Request Entity Too Large", data=None))
            reply.edge = True
            return reply
        if "access_token" in request.query:
            self.stats.count(legacy_query_token=1)
        token, account, refusal = self._account(request)
        if refusal is not None:
            return refusal
        try:
            reply = self._route(request, token, account)
        except BadRequestError as error:
            reply = Reply(400, message(400, str(error), data=None))
        wrote = request.method != "GET" and reply.status < HTTPStatus.BAD_REQUEST
        if decision.action == "lose":
            reply = self._lost(decision)
        reply.wrote = wrote
        return reply

    def _fault(self, decision: Decision) -> Reply:
        if decision.action == "timeout":
            self.stats.fault("timeout")
            self._pause(decision.timeout_s)
            return Reply(0, wire="drop", edge=True)
        if decision.action == "reset":
            self.stats.fault("reset")
            return Reply(0, wire="reset", edge=True)
        self.stats.fault(str(decision.status))
        headers = {}
        retry_after = decision.retry_after_seconds
        if decision.status == HTTPStatus.TOO_MANY_REQUESTS and retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        return Reply(decision.status, message(decision.status, data=None), headers, edge=True)

    def _lost(self, decision: Decision) -> Reply:
        """The answer of a request that was done, lost on its way back (``lose_answer_next``)."""
        self.stats.fault(f"lost answer ({decision.lost_as})")
        if decision.lost_as == "timeout":
            self._pause(decision.timeout_s)
            return Reply(0, wire="drop")
        if decision.lost_as == "reset":
            return Reply(0, wire="reset")
        status = HTTPStatus.SERVICE_UNAVAILABLE
        return Reply(status, message(status, data=None), edge=True)

    def _account(self, request: Request) -> tuple[str, str, Reply | None]:
        """(token, the account a request acts on, None) or the refusal Lytics gives.

        A request acts on the token's own account. ``account_id`` in the query is no documented
        way to act on another: it is ignored (and counted, so a test sees a client send it).
        """
        token = request.authorization
        if token is None:
            token = request.query.get("access_token")
        token = (token or "").strip()
        if token in self.expired_tokens:
            return token, "", Reply(401, message(401, "Expired Token"), edge=True)
        reachable = self.book.reachable(token)
        if not reachable:
            return token, "", Reply(401, message(401, "Not authorized"), edge=True)
        if "account_id" in request.query:
            self.stats.count(account_id_queries=1)
        return token, reachable[0].id, None

    def _route(  # noqa: PLR0911 - one return per route
        self, request: Request, token: str, account: str
    ) -> Reply:
        method, path = request.method, request.path
        match method, path:
            case "POST", ["collect", "json", stream] if stream:
                return self._collect(request, account, stream)
            case "POST", ["collect", "json", *_]:
                msg = "the stream name is missing: POST /collect/json/{stream}"
                raise CollectError(msg)
            case "GET", ["api", "account", "setting", *rest]:
                return self._settings(account, rest)
            case "GET", ["api", "account", *_] | ["v2", "account"]:
                return self._accounts(path, token)
            case "GET", ["api", "entity", "user", field_name, value]:
                return self._entity(account, field_name, value, missing_status=200)
            case "GET", ["v2", "identity", "user", field_name, value]:
                return self._entity(account, field_name, value, missing_status=404)
            case "GET", ["v2", "stream", stream, "events"]:
                limit, _ = _page(request.query, 20)
                events = self.store.events(stream, account=account, limit=limit)
                return success([event.record for event in events])
        return self.schema_routes.reply(request, account) or not_found()

    def _accounts(self, path: list[str], token: str) -> Reply:
        """``/api/account`` lists what the token reaches; one by id; ``/v2/account`` its family."""
        reachable = self.book.reachable(token)
        match path:
            case ["api", "account"]:
                return success([item.info() for item in reachable])
            case ["api", "account", wanted]:
                found = [item for item in reachable if wanted in (item.id, str(item.aid))]
                return success(found[0].info()) if found else not_found()
        return success(self.book.family(token))

    def _settings(self, account_id: str, rest: list[str]) -> Reply:
        """The account's public settings (``enable_schema_patches``), if its token may read them."""
        account = self.book.get(account_id)
        if account is None or not account.settings_readable:
            text = "Not authorized: this token may not read the account's settings"
            return Reply(403, message(403, text, data=None))
        settings = [_patches_setting(account)]
        match rest:
            case []:
                return success(settings)
            case [slug]:
                found = [item for item in settings if item["slug"] == slug]
                return success(found[0]) if found else not_found()
        return not_found()

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
    (
        'POST /_sandbox/accounts {"id", "token", "name"?, "preset"?, "schema_patches"?, '
        '"settings_readable"?}'
    ),
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


def _patches_setting(account: Account) -> dict[str, Any]:
    """``enable_schema_patches`` as ``GET /api/account/setting/{slug}`` shows a setting."""
    return {
        "slug": PATCHES_SETTING,
        "category": "schema",
        "sub_category": "",
        "value": account.schema.patches_enabled,
        "field": {
            "type": "bool",
            "name": PATCHES_SETTING,
            "label": "Enable Schema Patches",
            "description": "Schema changes go through patches",
        },
        "can_be_assigned": True,
        "subject": "account",
    }


def add_account(book: AccountBook, spec: Mapping[str, Any]) -> Account:
    """Create an account from the admin API's (or the CLI's) description of it.

    Raises:
        ValueError: a key is unknown or a value unusable (named).
    """
    known = {"id", "token", "name", "preset", "schema_patches", "settings_readable"}
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
    patches, readable = spec.get("schema_patches", False), spec.get("settings_readable", True)
    if not isinstance(patches, bool) or not isinstance(readable, bool):
        msg = "schema_patches and settings_readable must be true or false"
        raise TypeError(msg)
    name = spec.get("name")
    return book.add(
        account_id,
        token,
        name=name if isinstance(name, str) else None,
        preset=preset,
        schema_patches=patches,
        settings_readable=readable,
        now=iso_time(_now_us()),
    )
