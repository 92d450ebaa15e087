"""What the target checks before it sends: the token's account, then each stream's schema.

A run that would send records Lytics can only store raw (no published mapping for them) loses
them for profiles: mappings do not apply to data collected after the fact. So:

- before the first input line is read, the token's own account is resolved (`check_account`:
  ``GET /v2/account``, ``GET /api/account`` as fallback) and, with ``account_id`` set, checked
  against it: a token of another account is refused before anything is sent;
- when a stream's SCHEMA message arrives, before its first record, its schema step runs
  (`SchemaChecks.arrived`, by ``schema_mode``, see `schema_step`): only for the streams a run
  really sends, so a run that never sends ``wistia_activity`` is never asked for its fields, and
  a stream the mapping does not know goes as it is (with a warning naming the fields no
  mapping of the account reads).

The reads run one after another, on the calling thread: the schema step is a few requests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from target_lytics.account import (
    LyticsAccount,
    LyticsAccountError,
    check_account_id,
    own_account,
    read_accounts,
    unknown_own_account,
)
from target_lytics.answer import data_of
from target_lytics.client import DEFAULT_API_URL
from target_lytics.errors import LyticsRequestError, LyticsResponseError
from target_lytics.schema import plan_schema, required_schema
from target_lytics.schema_api import SchemaApi
from target_lytics.schema_step import SchemaContext, SchemaStep

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from target_lytics.client import LyticsClient
    from target_lytics.mapping import StreamMapping
    from target_lytics.schema import AccountSchema
    from target_lytics.schema_step import SchemaMode

_TOKEN_CHECK: Final = "the token check"  # noqa: S105 - words, not a secret
#: Answers of ``GET /v2/account`` after which ``GET /api/account`` is asked instead.
_NOT_LISTED: Final = frozenset({403, 404, 405})
#: Answers of ``GET /api/account`` (asked after those) that mean no Lytics API is at api_url.
_NO_SUCH_PATH: Final = frozenset({404, 405})


def _listing(client: LyticsClient, path: str, *, fallback: bool) -> tuple[Any, bool]:
    """(``data`` of an account listing, whether it answered); refusals raise unless ``fallback``.

    Raises:
        LyticsAuthError: the token was refused.
        LyticsRequestError: no account listing at all answers there (check api_url).
        LyticsResponseError: the answer is not Lytics' account listing (check api_url).
    """
    passthrough = _NOT_LISTED if fallback else _NO_SUCH_PATH
    status, body = client.call("GET", path, what=_TOKEN_CHECK, passthrough=passthrough)
    if status in passthrough:
        if fallback:
            return None, False
        msg = (
            f"Nothing at api_url {client.base_url} answers like the Lytics API: GET /v2/account "
            f"and GET {path} answered HTTP {status}; check api_url (Lytics' is {DEFAULT_API_URL})"
        )
        raise LyticsRequestError(msg)
    data = data_of(body)
    if not isinstance(data, dict | list):
        msg = (
            f"GET {path} did not answer like Lytics (HTTP {status}, no account listing): check "
            "api_url"
        )
        raise LyticsResponseError(msg)
    return data, True


def check_account(
    client: LyticsClient, *, account_id: str | None, dryrun: bool, logger: logging.Logger
) -> LyticsAccount:
    """The token's own account, checked against ``account_id``; before any input is read.

    Raises:
        LyticsAccountError: the token belongs to another account than ``account_id`` names,
            or reaches none, or (with ``account_id``) Lytics does not say which is its own.
        LyticsError: the token was refused, or Lytics could not be reached.
    """
    data, answered = _listing(client, "/v2/account", fallback=True)
    accounts = read_accounts(data) if answered else []
    if not accounts:
        accounts = read_accounts(_listing(client, "/api/account", fallback=False)[0])
    if not accounts:
        msg = "Lytics says this api_token reaches no account: use a token of the account to use"
        raise LyticsAccountError(msg)
    own = own_account(accounts)
    if own is None:
        if account_id:
            raise unknown_own_account(accounts, account_id)
        reached = "; ".join(account.describe() for account in accounts)
        logger.warning(
            "This api_token reaches several Lytics accounts (%s) and Lytics does not say which "
            "is its own; Lytics writes to the token's own account (set account_id to have it "
            "checked, with a token of one account)",
            reached,
        )
        own = LyticsAccount("the api_token's own account", name=f"one of: {reached}")
    check_account_id(own, account_id)
    logger.info(
        "Lytics token accepted for account %s%s",
        own.describe(),
        "; dry run: Lytics stores nothing" if dryrun else "",
    )
    return own


class SchemaChecks:
    """The run's schema step, stream by stream as each arrives, sharing what it read.

    The account's schema is read at the first arrival and kept; a later stream whose needs it
    does not show reads it again (someone may have added them), and so does every write. The
    publish mode is asked once, when a first write needs it; warnings are said once a run.
    """

    def __init__(  # noqa: PLR0913 - the run's settings that matter here, all keyword-only
        self,
        client: LyticsClient,
        *,
        account: LyticsAccount,
        mode: SchemaMode,
        schema_patches: bool | None,
        stream_setting: str | None,
        dryrun: bool,
        logger: logging.Logger,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Prepare; nothing is sent before a stream arrives."""
        self.api = SchemaApi(client)
        self.stream_setting = stream_setting
        self.schema: AccountSchema | None = None
        self._patches = schema_patches
        self.context = SchemaContext(
            api=self.api,
            account=account,
            mode=mode,
            dryrun=dryrun,
            logger=logger,
            patches=self.patches_enabled,
            clock=clock,
        )
        if mode == "off":
            logger.info("schema_mode off: the account's fields and mappings are not checked")

    def patches_enabled(self) -> bool:
        """Whether the account takes schema changes through patches: the setting, else asked.

        Raises:
            LyticsSchemaError: the setting is empty and the token may not read the account's.
        """
        if self._patches is None:
            self._patches = self.api.patches_enabled(self.context.account.describe())
            self.context.logger.info(
                "Lytics schema: the account's enable_schema_patches is %s: changes go %s",
                str(self._patches).lower(),
                "through one patch" if self._patches else "to the draft, then one publish",
            )
        return self._patches

    def account_schema(self) -> AccountSchema | None:
        """The account's schema as last read (read now if never); None under schema_mode off."""
        if self.context.mode == "off":
            return None
        return self.schema if self.schema is not None else self._read()

    def _read(self) -> AccountSchema:
        self.schema = self.api.read()
        return self.schema

    def arrived(self, stream: str, mapping: StreamMapping) -> None:
        """The schema step of a mapped stream, when it arrives and before its first record.

        Raises:
            LyticsError: the account lacks what the stream's mapping needs, or refused a call.
        """
        if self.context.mode == "off":
            return
        required = required_schema({stream: mapping}, self.stream_setting)
        held = self.schema
        if held is None or not plan_schema(required, held).ready:
            held = self._read()  # read first, or again: someone may have added what it needs
        self.context.logger.info(
            "Lytics schema: stream %r arrived; checking what its mapping needs", stream
        )
        self.schema = SchemaStep(self.context, required).run(held)
