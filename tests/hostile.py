"""A scripted HTTP server on 127.0.0.1 for attacks no faithful sandbox would make.

Each request is answered by a function of the request (method, path, query, headers, body)
returning a `Script`: a status, headers, and a body given whole, as chunks with pauses between
them (a trickle), or as an endless chunked stream. Requests are recorded for the test to read.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import pytest


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Script:
    """How to answer one request."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    pause: float = 0.0  # seconds between chunks of an iterable body
    chunked: bool = False  # send the iterable body with Transfer-Encoding: chunked

    @classmethod
    def json(cls, value: Any, status: int = 200, **headers: str) -> Script:
        """A JSON answer."""
        return cls(
            status, json.dumps(value).encode(), {"Content-Type": "application/json", **headers}
        )


Answer = Callable[[Seen], Script]


class HostileServer:
    """Serves `answer(request)` for every request until stopped; use as a context manager."""

    def __init__(self, answer: Answer) -> None:
        """Bind a free port on 127.0.0.1; nothing is served before `__enter__`."""
        self.answer = answer
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command,
                    parts.path,
                    dict(parse_qsl(parts.query)),
                    dict(self.headers.items()),
                    self.rfile.read(length) if length else b"",
                )
                with server._lock:
                    server.requests.append(seen)
                script = server.answer(seen)
                # The client may give up mid-answer: that is what many attacks test.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(script)

            def _send(self, script: Script) -> None:
                self.send_response(script.status)
                for name, value in script.headers.items():
                    self.send_header(name, value)
                if isinstance(script.body, bytes):
                    self.send_header("Content-Length", str(len(script.body)))
                    self.end_headers()
                    self.wfile.write(script.body)
                    return
                if script.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Connection", "close")
                self.end_headers()
                for chunk in script.body:
                    if script.chunked:
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    else:
                        self.wfile.write(chunk)
                    self.wfile.flush()
                    if script.pause:
                        time.sleep(script.pause)
                if script.chunked:
                    self.wfile.write(b"0\r\n\r\n")
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        """Start serving."""
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop serving (connections still trickling are dropped with the process's threads)."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def seen(self, path: str) -> list[Seen]:
        """The requests received on `path`."""
        with self._lock:
            return [request for request in self.requests if request.path == path]


# -- answers that never stop growing ------------------------------------------------------------


def zeros(megabytes: int) -> Iterator[bytes]:
    """`megabytes` MB of ASCII zeros, a megabyte at a time."""
    block = b"0" * (1024 * 1024)
    for _ in range(megabytes):
        yield block


@cache
def gzip_bomb(megabytes: int = 200) -> bytes:
    """`megabytes` MB of NULs gzipped (200 MB in about 200 KB), made once per process."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    block = b"\0" * (1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()


HUGE_ANSWERS = pytest.mark.parametrize(
    "script",
    [
        lambda: Script(200, zeros(2048), {"Content-Type": "application/json"}, chunked=True),
        lambda: Script(
            200, gzip_bomb(), {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        ),
    ],
    ids=["2-gb-body", "gzip-bomb"],
)
"""A test taking `script`: a 2 GB chunked body, then a gzip bomb."""
