"""A faithful local Lytics API over real HTTP on 127.0.0.1, persisting to SQLite.

Users run it (``python -m target_lytics.sandbox``) to try the pipeline and inspect what Lytics
would hold; every target test, end-to-end test and benchmark talks to it. ``LyticsSandbox``
holds the accounts (``accounts``) and events (``store``) and serves the API (``api``: collect
by Lytics' documented rules in ``collect``, accounts, schema, entity and streams, profiles built
only through each account's published fields and mappings) in the HTTP shell both sandboxes
share (``sandbox_http.shell``); it can inject the failures a loader must survive (``faults``).
Accounts, inspection and fault control live under ``/_sandbox/`` (no auth).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from sandbox_http.shell import Answer, BodyError, Exchange, SandboxServer
from sandbox_http.startable import Startable
from target_lytics.sandbox.accounts import Account, AccountBook
from target_lytics.sandbox.api import LyticsApi, add_account
from target_lytics.sandbox.faults import FaultDesk, Faults
from target_lytics.sandbox.replies import Reply, Request, message
from target_lytics.sandbox.store import EventStore

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from target_lytics.sandbox.presets import Preset
    from target_lytics.sandbox.schema import CompareShape

DEFAULT_TOKEN = "sandbox-lytics-token"  # noqa: S105 - the sandbox's public, documented token
DEFAULT_ACCOUNT = "acct-sandbox"
EXPIRED_TOKEN = "at.expired.token"  # noqa: S105 - a documented fake that answers "Expired Token"
_FOLD_WHEN_IDLE_SECONDS = 0.5


class LyticsSandbox(Startable):
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
        settings_readable: bool = True,
        compare_shape: CompareShape = "grouped",
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
            tokens: Accepted tokens -> the account id each belongs to, or the ids of the
                family a parent token reaches, its own first (default: the sandbox token and
                account). Accounts that do not exist yet are created.
            preset: How those accounts start: ``wistia-import`` (the fields and mappings
                Lytics' own Wistia import sets up) or ``empty``.
            schema_patches: Whether those accounts have ``enable_schema_patches``.
            settings_readable: Whether their tokens may read their account settings (False:
                ``GET /api/account/setting/...`` answers 403).
            compare_shape: How ``GET /v2/schema/user/compare`` shows the draft's diff (no
                public source shows it): ``grouped`` or ``changes``.
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
                    settings_readable=settings_readable,
                    name=(names or {}).get(account),
                )
        self.api = LyticsApi(
            store=self.store,
            book=self.book,
            expired_tokens=expired_tokens,
            desk=FaultDesk(faults),
            oversize_status=oversize_status,
            pause=self._shell.pause,
            compare_shape=compare_shape,
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

    def add_account(  # noqa: PLR0913 - an account's documented options, all keyword-only
        self,
        account_id: str,
        token: str,
        *,
        preset: Preset = "wistia-import",
        schema_patches: bool = False,
        settings_readable: bool = True,
        name: str | None = None,
    ) -> Account:
        """Create an account (``preset``: ``wistia-import`` or ``empty``) reached by ``token``.

        An existing account only gains the token (so one token can reach several accounts).
        """
        spec: dict[str, Any] = {"id": account_id, "token": token, "preset": preset}
        spec |= {"schema_patches": schema_patches, "settings_readable": settings_readable}
        spec |= {"name": name} if name else {}
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
