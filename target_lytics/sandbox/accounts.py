"""The sandbox's accounts: who may reach each one, and its schema, kept in SQLite.

A token belongs to one account, its own, where everything it sends goes; a parent token also
reaches its family (its other accounts), which ``/v2/account`` lists with ``parentaid``. Each
account has its own schema, started from a preset and changed only through the schema API, and
its settings (``enable_schema_patches``), which a token may or may not be allowed to read. Schema
changes are rare and small, so each one rewrites its account's row in one transaction: after a
restart the accounts, their drafts, patches and published versions are as they were.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from target_lytics.sandbox.presets import Preset, start_schema
from target_lytics.sandbox.schema import AccountSchema

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from target_lytics.sandbox.schema import Version

T = TypeVar("T")
FIRST_AID = 1234

_SQL = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    aid INTEGER NOT NULL,
    name TEXT NOT NULL,
    preset TEXT NOT NULL,
    tokens TEXT NOT NULL,            -- JSON list of the tokens that reach this account
    schema TEXT NOT NULL,            -- JSON of AccountSchema
    settings_readable INTEGER NOT NULL DEFAULT 1  -- may its tokens read its account settings
);
"""
_SETTINGS_COLUMN = "settings_readable"
"""Added later: databases of older sandboxes gain it (every account readable)."""


@dataclass(slots=True)
class Account:
    """One account: its ids, the tokens that reach it, its schema."""

    id: str
    aid: int
    name: str
    preset: Preset
    tokens: list[str]
    schema: AccountSchema = field(default_factory=AccountSchema)
    settings_readable: bool = True

    def info(self) -> dict[str, Any]:
        """The account as ``GET /api/account`` lists it."""
        return {
            "id": self.id,
            "aid": self.aid,
            "name": self.name,
            "domain": f"{self.id}.sandbox.local",
            "fid": self.id,
            "timezone": "UTC",
        }

    def summary(self) -> dict[str, Any]:
        """The account as the admin API shows it (tokens left out)."""
        return {
            **self.info(),
            "preset": self.preset,
            "enable_schema_patches": self.schema.patches_enabled,
            "settings_readable": self.settings_readable,
            "published_versions": len(self.schema.versions),
        }


class AccountBook:
    """Every account, safe to share between request threads (one lock, one connection)."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the accounts table in the sandbox's database and load it."""
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout = 5000")
        self._db.executescript(_SQL)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(accounts)")}
        if _SETTINGS_COLUMN not in columns:
            self._db.execute(
                "ALTER TABLE accounts ADD COLUMN settings_readable INTEGER NOT NULL DEFAULT 1"
            )
        self._lock = threading.RLock()
        self._accounts: dict[str, Account] = {}
        rows = self._db.execute(
            "SELECT id, aid, name, preset, tokens, schema, settings_readable FROM accounts"
        )
        for account_id, aid, name, preset, tokens, schema, readable in rows.fetchall():
            self._accounts[account_id] = Account(
                account_id, aid, name, preset, json.loads(tokens),
                AccountSchema.from_json(json.loads(schema)), bool(readable),
            )  # fmt: skip

    def close(self) -> None:
        """Close the connection (everything is already saved)."""
        with self._lock:
            self._db.close()

    def add(  # noqa: PLR0913 - an account's documented options, all keyword-only
        self,
        account_id: str,
        token: str,
        *,
        name: str | None = None,
        preset: Preset = "wistia-import",
        schema_patches: bool = False,
        settings_readable: bool = True,
        now: str = "",
    ) -> Account:
        """Create an account reached by ``token``; an existing one only gains the token.

        ``settings_readable`` False: its tokens may not read its account settings (403).

        Raises:
            ValueError: the id, token or preset cannot be used.
        """
        if not account_id.strip() or not token.strip():
            msg = "an account needs a non-empty id and token"
            raise ValueError(msg)
        with self._lock:
            account = self._accounts.get(account_id)
            if account is None:
                schema = start_schema(preset, schema_patches=schema_patches, now=now)
                account = Account(
                    account_id,
                    FIRST_AID + len(self._accounts),
                    name or f"Sandbox Account {account_id}",
                    preset,
                    [],
                    schema,
                    settings_readable,
                )
                self._accounts[account_id] = account
            if token not in account.tokens:
                account.tokens.append(token)
            self._save(account)
            return account

    def get(self, account_id: str) -> Account | None:
        """One account, or None."""
        with self._lock:
            return self._accounts.get(account_id)

    def all(self) -> list[Account]:
        """Every account, oldest first."""
        with self._lock:
            return sorted(self._accounts.values(), key=lambda account: account.aid)

    def reachable(self, token: str) -> list[Account]:
        """The accounts ``token`` reaches, its own (the first one it was given) first."""
        return [account for account in self.all() if token in account.tokens]

    def family(self, token: str) -> list[dict[str, Any]]:
        """``GET /v2/account``: the token's account, or its family, each with ``parentaid``.

        A token of one account lists it alone (``parentaid`` 0: no family); a parent token
        lists every account it reaches, its own the one whose ``aid`` is its ``parentaid``.
        """
        reached = self.reachable(token)
        if len(reached) == 1:
            return [{**reached[0].info(), "parentaid": 0}]
        parent = reached[0].aid if reached else 0
        return [{**account.info(), "parentaid": parent} for account in reached]

    def versions(self, account_id: str) -> list[Version]:
        """An account's published schema versions, oldest first (none for an unknown id)."""
        with self._lock:
            account = self._accounts.get(account_id)
            return [] if account is None else list(account.schema.versions)

    def change(self, account_id: str, action: Callable[[AccountSchema], T]) -> T:
        """Run a schema change and save it; nothing is saved if it raises."""
        with self._lock:
            account = self._accounts[account_id]
            before = json.dumps(account.schema.to_json())
            try:
                result = action(account.schema)
            except BaseException:
                account.schema = AccountSchema.from_json(json.loads(before))
                raise
            self._save(account)
            return result

    def read(self, account_id: str, action: Callable[[AccountSchema], T]) -> T:
        """Run a read of the schema under the lock (consistent with concurrent changes)."""
        with self._lock:
            return action(self._accounts[account_id].schema)

    def restart(self, now: str) -> None:
        """Every account back to its preset (the sandbox's reset), tokens kept."""
        with self._lock:
            for account in self._accounts.values():
                patches = account.schema.patches_enabled
                account.schema = start_schema(account.preset, schema_patches=patches, now=now)
                self._save(account)

    def _save(self, account: Account) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO accounts (id, aid, name, preset, tokens, schema, settings_readable)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " tokens = excluded.tokens, schema = excluded.schema",
                (
                    account.id,
                    account.aid,
                    account.name,
                    account.preset,
                    json.dumps(account.tokens),
                    json.dumps(account.schema.to_json()),
                    int(account.settings_readable),
                ),
            )
