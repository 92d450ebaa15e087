"""Which Lytics account a run writes to: the token's own, which `account_id` can only confirm.

Lytics' tools use one token per account, and no public source documents a way to send a
token's writes to another account, so the token decides where data goes. Its own account is
read as Lytics' own tools read it (agent-skills, "same-account guard"): ``GET /v2/account``
lists the token's account, or for a parent token its whole family, where the token's own
account is the entry with ``aid == parentaid``. ``GET /api/account`` (Lytics' Go SDK: the
accounts a token reaches) is the fallback. ``account_id``, when set, is a guard: a run whose
token belongs to another account is refused before anything is sent. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from target_lytics.answer import folded_keys
from target_lytics.errors import LyticsError


class LyticsAccountError(LyticsError):
    """The token's account is not the one `account_id` names, or cannot be told."""


@dataclass(frozen=True, slots=True)
class LyticsAccount:
    """One account a token reaches."""

    id: str
    aid: str = ""
    name: str = ""
    parentaid: str = ""

    def describe(self) -> str:
        """``acct-1 (aid 1234, Production)``."""
        extra = ", ".join(
            part for part in (f"aid {self.aid}" if self.aid else "", self.name) if part
        )
        return f"{self.id} ({extra})" if extra else self.id

    def named_by(self, account_id: str) -> bool:
        """Whether ``account_id`` names this account, by id or by aid."""
        return account_id.strip() in {self.id, self.aid} - {""}


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value).strip()


def read_accounts(data: Any) -> list[LyticsAccount]:
    """The accounts in an account listing's ``data``: a list of accounts, or one account.

    Keys are read in either case (``aid``/``Aid``, ``parentaid``/``parent_aid``, ...); entries
    without any id are left out.
    """
    entries = data if isinstance(data, list) else [data]
    accounts = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        keys = folded_keys(entry)
        account_id, aid = _text(keys.get("id")), _text(keys.get("aid"))
        if account_id or aid:
            accounts.append(
                LyticsAccount(
                    account_id or aid, aid, _text(keys.get("name")), _text(keys.get("parentaid"))
                )
            )
    return accounts


def own_account(accounts: list[LyticsAccount]) -> LyticsAccount | None:
    """The token's own account: the only entry, or in a family the one with aid == parentaid.

    None when the listing does not tell (several entries, none or several their own parent).
    """
    if len(accounts) == 1:
        return accounts[0]
    parents = [item for item in accounts if item.aid and item.aid == item.parentaid]
    return parents[0] if len(parents) == 1 else None


def check_account_id(own: LyticsAccount, account_id: str | None) -> None:
    """Refuse a run whose token belongs to another account than ``account_id`` names.

    Raises:
        LyticsAccountError: naming both accounts (never the token) and the fix.
    """
    if account_id and not own.named_by(account_id):
        msg = (
            f"account_id is {account_id!r}, but this api_token belongs to the Lytics account "
            f"{own.describe()}, where Lytics would write every record: use a token of "
            f"{account_id!r}, or set account_id to {own.id!r}; nothing was sent"
        )
        raise LyticsAccountError(msg)


def unknown_own_account(accounts: list[LyticsAccount], account_id: str) -> LyticsAccountError:
    """Why ``account_id`` cannot be checked: the token reaches several accounts, none its own."""
    reached = "; ".join(account.describe() for account in accounts) or "none"
    return LyticsAccountError(
        f"account_id is {account_id!r}, but Lytics does not say which account this api_token "
        f"belongs to (it reaches: {reached}), so the guard cannot be checked; use a token of "
        "that one account, or leave account_id unset to write to the token's own account; "
        "nothing was sent"
    )
