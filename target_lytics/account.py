"""Which Lytics account a run writes to, from what the token reaches.

``GET /api/account`` lists the accounts a token can reach (``data: [...]``, Lytics' Go SDK and
its mock); an answer with one object is read as a list of one. With several accounts
``account_id`` must pick one of them, by id or aid: writing to whichever account the token
happens to default to would put the data somewhere nobody chose. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from target_lytics.errors import LyticsError


class LyticsAccountError(LyticsError):
    """The token does not reach one clear account: which ones it reaches, and the fix."""


@dataclass(frozen=True, slots=True)
class LyticsAccount:
    """One account a token reaches."""

    id: str
    aid: str = ""
    name: str = ""

    def describe(self) -> str:
        """``acct-1 (aid 1234, Production)``."""
        extra = ", ".join(
            part for part in (f"aid {self.aid}" if self.aid else "", self.name) if part
        )
        return f"{self.id} ({extra})" if extra else self.id


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value).strip()


def read_accounts(data: Any) -> list[LyticsAccount]:
    """The accounts in ``/api/account``'s ``data``: a list of accounts, or one account.

    Keys are read in either case (``id``/``Id``, ``aid``/``Aid``, ``name``/``Name``); entries
    without any id are left out.
    """
    entries = data if isinstance(data, list) else [data]
    accounts = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        keys = {str(key).lower(): value for key, value in entry.items()}
        account_id, aid = _text(keys.get("id")), _text(keys.get("aid"))
        if account_id or aid:
            accounts.append(LyticsAccount(account_id or aid, aid, _text(keys.get("name"))))
    return accounts


def choose_account(accounts: list[LyticsAccount], account_id: str | None) -> LyticsAccount:
    """The account to write to.

    Raises:
        LyticsAccountError: the token reaches no account, several without ``account_id``, or
            none that ``account_id`` names; the message lists what it reaches (never the token).
    """
    reached = "; ".join(account.describe() for account in accounts)
    if not accounts:
        msg = (
            "Lytics says this api_token reaches no account (GET /api/account listed none): use "
            "a token of the account to write to"
        )
        raise LyticsAccountError(msg)
    if account_id:
        for account in accounts:
            if account_id in (account.id, account.aid):
                return account
        msg = (
            f"account_id {account_id!r} is not among the accounts this api_token reaches "
            f"({reached}): set account_id to one of them, or use that account's token"
        )
        raise LyticsAccountError(msg)
    if len(accounts) > 1:
        msg = (
            f"this api_token reaches {len(accounts)} Lytics accounts ({reached}): set "
            "account_id to the one to write to"
        )
        raise LyticsAccountError(msg)
    return accounts[0]
