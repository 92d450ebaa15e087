"""The HTTP shell of both sandboxes: a threaded server handing `Exchange`s to an app.

The app (the Wistia or the Lytics sandbox) decides everything an API decides and returns an
`Answer`; the shell reads requests (keep-alive, a body by Content-Length or chunked, refused
past a size), writes answers, and carries out the answers only the wire can give: `drop` (close
without a word, as after a timeout), `reset` (a TCP reset, no response), `truncate` (headers
and half the body, then the connection is shut). `pause` waits for an app (latency, a hung
request) and wakes when the sandbox stops. Stopping waits a little for busy handlers, then
hangs up on every client so none waits on a dead sandbox.

The admin API (`/_sandbox/...`: reset, faults, accounts) changes what every client sees, so a
sandbox listening on other interfaces (`--host 0.0.0.0`) answers it only to clients on this
machine, unless started with an admin token, which other clients then send as
`X-Sandbox-Admin-Token`. The API itself answers anyone with its token, as the real one does.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import re
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self

from api_http.transport import is_loopback_host
from sandbox_http.startable import Startable

if TYPE_CHECKING:
    from collections.abc import Callable
    from email.message import Message

_LOG = logging.getLogger(__name__)
_QUERY = re.compile(r"\?(\S*)")
_SECRET_NAME = re.compile(r"(?i)token|key|secret|pass|auth|sig")
_MASK = "***"
IDLE_CONNECTION_SECONDS = 120
"""An idle keep-alive connection is closed after this long."""
ADMIN_PREFIX = "/_sandbox"
ADMIN_TOKEN_HEADER = "X-Sandbox-Admin-Token"  # noqa: S105 - a header's name
ADMIN_TOKEN_VARIABLE = "SANDBOX_ADMIN_TOKEN"  # noqa: S105 - an environment variable's name

Wire = Literal["send", "drop", "reset", "truncate"]
"""How an answer leaves: whole, not at all (drop, reset), or cut off half-way (truncate)."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request as an app sees it."""

    method: str
    target: str  # the path and query as the client sent them
    headers: Message
    body: bytes
    client: str = "127.0.0.1"  # the client's address

    @property
    def path(self) -> str:
        """The path, without the query string."""
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        """The raw query string (empty when there is none)."""
        return self.target.partition("?")[2]


@dataclass(frozen=True, slots=True)
class Answer:
    """What to send back, and how it leaves."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    wire: Wire = "send"


class BodyError(Exception):
    """A request body the shell cannot read: bad framing (400), or too large."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        """Say what is wrong; `too_large` tells the size limit from bad framing."""
        super().__init__(message)
        self.too_large = too_large


class App(Protocol):
    """What a sandbox provides the shell with."""

    def answer(self, exchange: Exchange) -> Answer:
        """Answer one request (called on the connection's own thread)."""
        ...

    def refuse_body(self, error: BodyError) -> Answer:
        """Answer a request whose body could not be read (the connection is closed after)."""
        ...


class _Server(ThreadingHTTPServer):
    """Threaded, so concurrent clients (and injected latency) really overlap."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # clients open several connections at once
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], shell: SandboxServer) -> None:
        self.shell = shell
        self.live: set[socket.socket] = set()
        self.busy = 0
        self.lock = threading.Condition()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the host (slow on some machines)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ARG002
        """Connections dropped by clients are routine here (timeouts, resets); stay quiet."""
        _LOG.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the app; keep-alive, no Nagle delay, no access log."""

    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_SECONDS
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.lock:
            self.server.live.add(self.connection)

    def finish(self) -> None:
        with self.server.lock:
            self.server.live.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        shell = self.server.shell
        with self.server.lock:
            self.server.busy += 1
        try:
            try:
                body = self._read_body(shell.max_body)
            except BodyError as error:
                self.close_connection = True
                self._send(shell.app.refuse_body(error))
                return
            exchange = Exchange(self.command, self.path, self.headers, body, self.client_address[0])
            refused = shell.admin_refusal(exchange)
            self._send(refused or shell.app.answer(exchange))
        finally:
            with self.server.lock:
                self.server.busy -= 1
                self.server.lock.notify_all()

    def _read_body(self, limit: int) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunks(limit)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            msg = "Content-Length is not a number"
            raise BodyError(msg) from None
        if length > limit:
            msg = "Request Entity Too Large"
            raise BodyError(msg, too_large=True)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunks(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            try:
                size = int(self.rfile.readline(1024).split(b";")[0], 16)
            except ValueError:
                msg = "bad chunked encoding"
                raise BodyError(msg) from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > limit:
                msg = "Request Entity Too Large"
                raise BodyError(msg, too_large=True)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, answer: Answer) -> None:
        """Write the answer as its `wire` says; a client that vanished is fine."""
        if answer.wire in ("drop", "reset"):
            self.close_connection = True
            with contextlib.suppress(OSError):
                if answer.wire == "reset":  # close with RST instead of FIN
                    linger = struct.pack("ii", 1, 0)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.connection.close()
            return
        body = answer.body
        try:
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            if body:
                self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if answer.wire == "truncate":
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def version_string(self) -> str:
        """The ``Server`` header: the sandbox's name."""
        return self.server.shell.name

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request to the shell's `log_line`, else at debug level without query."""
        if self.server.shell.log_line is not None:
            super().log_request(code, size)
        else:
            _LOG.debug("%s %s -> %s", self.command, self.path.partition("?")[0], code)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base signature
        """Route http.server's messages to the shell's log, query values masked.

        A client may put a secret in a query string (a token as ``access_token=``): such values
        are masked, while other parameters (``page=2``, ``dryrun=true``) are shown as sent.
        """
        line = _QUERY.sub(_masked_query, format % args)
        if self.server.shell.log_line is not None:
            self.server.shell.log_line(f"{self.address_string()} - {line}")
        else:
            _LOG.debug("%s", line)


def _masked_query(query: re.Match[str]) -> str:
    """``?access_token=t&page=2&t`` as ``?access_token=***&page=2&***``.

    A parameter whose name speaks of a secret (token, key, secret, password, auth, signature)
    loses its value, and so does a bare item (it could be a token); every other one is kept.
    """
    items = (item.partition("=") for item in query.group(1).split("&"))
    return "?" + "&".join(
        (name + "=" + (_MASK if _SECRET_NAME.search(name) else value)) if sep else _MASK
        for name, sep, value in items
    )


class SandboxServer(Startable):
    """A sandbox's listening socket and threads: start it, point a client at `base_url`."""

    def __init__(  # noqa: PLR0913 - the shell's options, all keyword-only
        self,
        app: App,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "sandbox",
        max_body: int = 64 * 1024 * 1024,
        drain_seconds: float = 2.0,
        log_line: Callable[[str], None] | None = None,
        admin_token: str | None = None,
        admin_prefixes: tuple[str, ...] = (ADMIN_PREFIX,),
    ) -> None:
        """Configure; nothing listens until `start`.

        `max_body` is the largest request body read (a larger one goes to
        `App.refuse_body`); `drain_seconds` how long `stop` waits for busy handlers;
        `log_line` receives one line per request, query values masked (None: debug logging
        only); `name` is the ``Server`` header and the serving thread's name; `admin_token`
        opens the admin API to clients elsewhere that send it (None: this machine only);
        `admin_prefixes` are every path prefix under which the app serves its admin API.
        """
        self.app = app
        self.name = name
        self.max_body = max_body
        self.log_line = log_line
        self.admin_token = admin_token
        self.admin_prefixes = admin_prefixes
        self._address = (host, port)
        self._drain_seconds = drain_seconds
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Listen and serve in a background thread; returns self for chaining."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # stop() waits for one poll
            name=f"{self.name}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake paused requests, and hang up on every client."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with server.lock:
            server.lock.wait_for(lambda: server.busy == 0, self._drain_seconds)
            live = list(server.live)
        for connection in live:
            with contextlib.suppress(OSError):  # the client hung up first
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def running(self) -> bool:
        """Whether the sandbox listens."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 was asked for)."""
        if self._server is None:
            msg = "the sandbox is not running; call start() or use it as a context manager"
            raise RuntimeError(msg)
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` for a client on this machine (127.0.0.1 for every interface)."""
        host = self._address[0]
        host = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104
        return f"http://{host}:{self.port}"

    @property
    def bound_url(self) -> str:
        """``http://HOST:PORT`` of the address really bound (``0.0.0.0``: every interface)."""
        if self._server is None:
            msg = "the sandbox is not running; call start() or use it as a context manager"
            raise RuntimeError(msg)
        return f"http://{self._server.server_name}:{self.port}"

    def admin_refusal(self, exchange: Exchange) -> Answer | None:
        """A 403 for an admin request from elsewhere without the admin token; else None."""
        if not exchange.path.startswith(self.admin_prefixes) or is_loopback_host(exchange.client):
            return None
        sent = exchange.headers.get(ADMIN_TOKEN_HEADER) or ""
        if self.admin_token and hmac.compare_digest(sent.encode(), self.admin_token.encode()):
            return None
        said = (
            f"the sandbox's admin API ({ADMIN_PREFIX}/...) answers clients on its own machine "
            f"only; start the sandbox with --admin-token and send it as {ADMIN_TOKEN_HEADER}"
        )
        body = json.dumps({"status": 403, "message": said}).encode()
        return Answer(403, body)

    def pause(self, seconds: float) -> bool:
        """Wait `seconds` (latency, a hung request); True when the sandbox stopped meanwhile."""
        return seconds > 0 and self._stopping.wait(seconds)


def announce_address(api: str, bound: str, local: str, *, admin: str | None) -> str:
    """The line a sandbox prints once listening: where it really listens, and who may admin it.

    ``bound`` is the address bound (``http://0.0.0.0:8702`` listens on every interface), ``local``
    the one to use from this machine.
    """
    where = f"{api} sandbox listening on {bound}"
    if bound != local:
        where += f" (from this machine: {local})"
    admin_api = f"{ADMIN_PREFIX}/"
    if admin:
        return (
            f"{where}; admin API {admin_api}: this machine, and others sending {ADMIN_TOKEN_HEADER}"
        )
    return f"{where}; admin API {admin_api}: this machine only"


def add_admin_token_argument(parser: Any, admin_api: str) -> None:
    """`--admin-token` on a sandbox's command line (`parser` or an argument group of it).

    The default is read from `SANDBOX_ADMIN_TOKEN`, which keeps the token out of the process
    list; `admin_api` says what the admin API does, for the help.
    """
    parser.add_argument(
        "--admin-token",
        default=os.environ.get(ADMIN_TOKEN_VARIABLE) or None,
        help=f"let clients on other machines use the admin API ({ADMIN_PREFIX}/: {admin_api}) "
        f"by sending this as {ADMIN_TOKEN_HEADER} (default: ${ADMIN_TOKEN_VARIABLE}, which keeps "
        "it out of the process list; unset: this machine only)",
    )
