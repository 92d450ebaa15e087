"""target-lytics: a Singer target that loads records into Lytics streams (the collect API).

Settings are checked up front, all at once, with messages that name the setting and the fix.
Creating the target contacts nothing (so `--about` and tests need no network); when input
processing starts, before the first message is read, the token and account are checked and the
schema step runs (`preflight`), so a bad token or a missing mapping fails in a second instead
of after an hour of extraction. Failures the user must act on end the process with one message
and status 1, never a traceback.
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, cast
from urllib.parse import urlsplit

import msgspec
from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_lytics.client import MAX_REQUEST_BYTES, ClientSettings, LyticsClient, LyticsError
from target_lytics.mapping_setting import MappingConfigError, mappings_from_setting
from target_lytics.preflight import SCHEMA_MODES, Preflight, SchemaMode, preflight
from target_lytics.sinks import LyticsSink

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import PurePath

    from singer_sdk.plugin_base import _ConfigInput
    from singer_sdk.singerlib.encoding.base import GenericSingerReader

    from target_lytics.mapping import StreamMapping

DEFAULT_API_URL: Final = "https://api.lytics.io"
DEFAULT_ROWS_PER_REQUEST: Final = 1000
MAX_ROWS_PER_REQUEST: Final = 10_000

CONFIG_SCHEMA: Final = th.PropertiesList(
    th.Property(
        "api_token",
        th.StringType,
        required=True,
        secret=True,
        description=(
            "Lytics API token (Lytics: Account Settings > Access Tokens). Sent only as the "
            "`Authorization` header, never in a URL or a log line."
        ),
    ),
    th.Property(
        "api_url",
        th.StringType,
        default=DEFAULT_API_URL,
        description=(
            "Base URL of the Lytics API. Plain http:// is accepted only for loopback hosts "
            "(a local sandbox), so the token never crosses a network unencrypted."
        ),
    ),
    th.Property(
        "stream",
        th.StringType,
        description=(
            "Lytics stream to write every record to. Default: the mapping's stream "
            "(`wistia_activity` for wistia_activity), else the Singer stream's name."
        ),
    ),
    th.Property(
        "mapping",
        th.ObjectType(),
        description=(
            "Field mapping per Singer stream, merged over the default Wistia mapping; it makes "
            "both the records sent and the fields and mappings the account needs: "
            '{"<singer stream>": {"stream": ..., "timestamp_field": ..., "fields": '
            '{"<user field>": "<source path>" | {"from": ..., "as": "value|list|map|email", '
            '"key": ..., "stream_field": ..., "type": ..., "merge": ..., "identifier": ..., '
            '"description": ...} | null}} | null}. See the README.'
        ),
    ),
    th.Property(
        "schema_mode",
        th.StringType(allowed_values=list(SCHEMA_MODES)),
        default="check",
        description=(
            "What to do about the account's user fields and mappings before any record is "
            "read. check: stop, listing what is missing or conflicting, unless the account "
            "holds all the mapping needs (writes nothing). apply: create what is missing "
            "(fields, then mappings, one publish, or one patch on accounts with schema "
            "patches); never changes existing ones, stops on a conflict. off: no schema calls "
            "(a token without schema rights)."
        ),
    ),
    th.Property(
        "timestamp_field",
        th.StringType,
        description=(
            "Record field Lytics orders 'latest' values by (sent as ?timestamp_field=). "
            "Default: the mapping's (`ended_at` for wistia_activity); without one, Lytics "
            "stamps records with their arrival time."
        ),
    ),
    th.Property(
        "dryrun",
        th.BooleanType,
        default=False,
        description=(
            "Send every request with dryrun=true: Lytics validates but stores nothing. The "
            "schema step only logs its plan (what apply would create)."
        ),
    ),
    th.Property(
        "account_id",
        th.StringType,
        description="Lytics account id, for tokens that can reach several accounts.",
    ),
    th.Property(
        "batch_size_rows",
        th.IntegerType(minimum=1, maximum=MAX_ROWS_PER_REQUEST),
        default=DEFAULT_ROWS_PER_REQUEST,
        description=(
            "Records per collect request. A request also closes before it outgrows Lytics' "
            "10 MB limit."
        ),
    ),
    th.Property(
        "max_requests_in_flight",
        th.IntegerType(minimum=1, maximum=64),
        default=8,
        description="Collect requests sent at the same time (they wait for Lytics in parallel).",
    ),
    th.Property(
        "request_timeout",
        th.NumberType(exclusive_minimum=0),
        default=60,
        description="Seconds to wait for an answer before the request is retried.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0, maximum=20),
        default=6,
        description=(
            "Retries of a request after 429, 5xx, a timeout or a dropped connection, with "
            "exponential backoff and jitter (Retry-After is honoured)."
        ),
    ),
    th.Property(
        "retry_backoff_seconds",
        th.NumberType(minimum=0),
        default=1.0,
        description="First backoff delay in seconds; it doubles per retry, up to 60 s.",
    ),
    th.Property(
        "skip_oversize_records",
        th.BooleanType,
        default=False,
        description=(
            "Skip (and count) records over Lytics' 16 KB per-record limit instead of stopping "
            "the run with the record's key."
        ),
    ),
    th.Property(
        "validate_records",
        th.BooleanType,
        default=False,
        description=(
            "Validate each record against its stream's JSON schema first. Off by default: the "
            "tap already emits conforming records and validation costs more than the load."
        ),
    ),
).to_dict()


#: The schema's defaults: the one place they are written down.
SETTING_DEFAULTS: Final[dict[str, Any]] = {
    name: spec["default"] for name, spec in CONFIG_SCHEMA["properties"].items() if "default" in spec
}


@dataclass(frozen=True, slots=True)
class LyticsSettings:
    """The target's settings, checked and resolved once."""

    client: ClientSettings
    stream: str | None
    timestamp_field: str | None
    mappings: dict[str, StreamMapping]
    skip_oversize_records: bool
    schema_mode: SchemaMode = "check"


def _is_loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_url_problems(value: Any) -> list[str]:
    """What is wrong with `api_url` (empty list when it is usable).

    The URL is never echoed whole: a user may have pasted a token into it.
    """
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.hostname:
        return [f"api_url: not an http(s) URL; use {DEFAULT_API_URL} or a local sandbox's URL"]
    problems = []
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        problems.append(
            f"api_url: http://{parts.hostname} would send the token unencrypted; use https:// "
            "(plain http:// is only for loopback hosts such as 127.0.0.1 or localhost)"
        )
    if parts.username or parts.password:
        problems.append("api_url: remove the credentials from the URL; the token goes in api_token")
    if parts.query or parts.fragment:
        problems.append(
            f"api_url: remove the query string; give only the base URL such as {DEFAULT_API_URL}"
        )
    return problems


def api_token_problems(value: Any) -> list[str]:
    """What is wrong with `api_token` (the token itself never appears in a message)."""
    if not isinstance(value, str) or not value.strip():
        return ["api_token: empty; set it to a Lytics API token"]
    if value.lower().startswith("bearer "):
        return ["api_token: drop the 'Bearer ' prefix; Lytics takes the raw token"]
    if any(char.isspace() for char in value):
        return ["api_token: contains spaces or line breaks; paste the token alone"]
    return []


def _name_problems(config: dict[str, Any], key: str) -> list[str]:
    value = config.get(key)
    if value is None or (isinstance(value, str) and value.strip()):
        return []
    return [f"{key}: must be a non-empty string or left unset"]


def settings_from_config(config: dict[str, Any]) -> LyticsSettings:
    """Check every setting and resolve them; report every problem at once.

    Raises:
        ConfigValidationError: with one line per problem, naming the setting and the fix.
    """
    config = {**SETTING_DEFAULTS, **{k: v for k, v in config.items() if v is not None}}
    problems = api_token_problems(config.get("api_token"))
    api_url = config["api_url"] or DEFAULT_API_URL
    problems += api_url_problems(api_url)
    for key in ("stream", "timestamp_field", "account_id"):
        problems += _name_problems(config, key)
    if config["schema_mode"] not in SCHEMA_MODES:
        problems.append(
            f"schema_mode: {config['schema_mode']!r} is not one of {', '.join(SCHEMA_MODES)}; "
            "use check (the default), apply or off"
        )
    mappings: dict[str, StreamMapping] = {}
    try:
        mappings = mappings_from_setting(config.get("mapping"))
    except MappingConfigError as exc:
        problems += exc.errors
    if problems:
        msg = "Invalid target-lytics settings"
        raise ConfigValidationError(msg, errors=problems)
    client = ClientSettings(
        api_url=api_url.rstrip("/"),
        api_token=config["api_token"],
        dryrun=bool(config["dryrun"]),
        account_id=config.get("account_id"),
        max_in_flight=int(config["max_requests_in_flight"]),
        rows_per_request=int(config["batch_size_rows"]),
        max_request_bytes=MAX_REQUEST_BYTES,
        request_timeout=float(config["request_timeout"]),
        max_retries=int(config["max_retries"]),
        retry_backoff=float(config["retry_backoff_seconds"]),
    )
    return LyticsSettings(
        client=client,
        stream=config.get("stream"),
        timestamp_field=config.get("timestamp_field"),
        mappings=mappings,
        skip_oversize_records=bool(config["skip_oversize_records"]),
        schema_mode=cast("SchemaMode", config["schema_mode"]),
    )


_decode_message = msgspec.json.Decoder().decode


class LyticsMessageReader(MsgSpecReader):
    """The SDK's msgspec reader: floats for JSON numbers, and a hook before the first line.

    Lytics stores numbers as 64-bit floats, so Decimals buy no precision, and they cost ~30% of
    the decoding time. The hook is where the target checks its account and schema: the SDK's
    `listen` hands the input to the reader's `process_lines`, the last public step before any
    message is read.
    """

    def __init__(self) -> None:
        """No hook until the target sets one."""
        super().__init__()
        self.before_input: Callable[[], object] | None = None

    def process_lines(self, file_input: Any, callbacks: dict[str, Callable[[dict], None]]) -> Any:
        """Run the hook, then read and dispatch every message as the SDK does."""
        if self.before_input is not None:
            self.before_input()
        return super().process_lines(file_input, callbacks)

    def deserialize_json(self, line: str) -> dict:
        """Decode one Singer message line."""
        try:
            return _decode_message(line)
        except msgspec.DecodeError as exc:
            msg = f"Unable to parse line as JSON: {line[:200]}"
            raise InvalidInputLine(msg) from exc


class TargetLytics(Target):
    """Singer target for Lytics: maps records to Lytics fields and loads them, never losing any.

    A STATE message is passed on only after every record before it was durably accepted by
    Lytics (2xx with `rejected_count` 0); any failure stops the run before that STATE.
    """

    name = "target-lytics"
    package_name = "tap-wistia-target-lytics"
    config_jsonschema: ClassVar[dict] = CONFIG_SCHEMA
    default_sink_class = LyticsSink
    message_reader_class = LyticsMessageReader

    def __init__(
        self,
        *,
        config: dict | PurePath | str | list[PurePath | str] | None = None,
        parse_env_config: bool = False,
        validate_config: bool = True,
        setup_mapper: bool = True,
        message_reader: GenericSingerReader | None = None,
    ) -> None:
        """Check the settings; contact nothing (the account is checked when input starts).

        Raises:
            ConfigValidationError: a setting is unusable (every problem is listed).
        """
        super().__init__(
            config=config,
            parse_env_config=parse_env_config,
            validate_config=validate_config,
            setup_mapper=setup_mapper,
            message_reader=message_reader,
        )
        self.lytics_settings = settings_from_config(dict(self.config))
        self.lytics_client = LyticsClient(
            self.lytics_settings.client, user_agent=f"target-lytics/{self.plugin_version}"
        )
        self.preflight: Preflight | None = None
        if isinstance(self.message_reader, LyticsMessageReader):
            self.message_reader.before_input = self.prepare

    def prepare(self) -> Preflight:
        """Check the token and account and run the schema step, once, before any record.

        Called when input processing starts (and, should another reader be in use, when the
        first stream's sink is made, which precedes its first record).

        Raises:
            LyticsError: the token, the account or the schema stops the run.
        """
        if self.preflight is None:
            settings = self.lytics_settings
            self.preflight = preflight(
                self.lytics_client,
                account_id=settings.client.account_id,
                mappings=settings.mappings,
                stream_setting=settings.stream,
                mode=settings.schema_mode,
                dryrun=settings.client.dryrun,
                logger=self.logger,
            )
        return self.preflight

    def process_endofpipe(self) -> None:
        """Drain every sink (the last STATE is printed only if that succeeds), then disconnect."""
        try:
            super().process_endofpipe()
        finally:
            self.lytics_client.close()

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: _ConfigInput | None = None,
        file_input: Any = None,
    ) -> None:
        """Run the target; a Lytics failure ends it with its one-line message and status 1.

        These failures (bad token, refused or rejected records, Lytics unreachable, an oversize
        record) are expected and explained by their message, so a traceback would only hide it.
        """
        try:
            super().invoke(
                about=about, about_format=about_format, config=config, file_input=file_input
            )
        except LyticsError as exc:
            cls.logger.error("%s", exc)  # noqa: TRY400 - the message is the whole report
            sys.exit(1)
