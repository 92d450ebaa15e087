"""The settings of target-lytics: their schema (where defaults are written), and their check.

Every setting is checked before anything is contacted, all at once, with one line per problem
naming the setting and the fix; combinations that cannot work (a rejection limit without a
file to park the rejected records in) are refused the same way. Deprecated settings are still
accepted, each with a warning saying what replaces it (`LyticsSettings.deprecations`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import urlsplit

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from api_http.sdk_settings import FAKER_CONFIG, Unhonoured, refusals
from api_http.transport import is_loopback_host
from target_lytics.client import (
    DEFAULT_API_URL,
    DEFAULT_ROWS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    ClientSettings,
)
from target_lytics.mapping import plan_stream
from target_lytics.mapping_setting import MappingConfigError, mappings_from_setting
from target_lytics.schema_step import SCHEMA_MODES, SchemaMode

if TYPE_CHECKING:
    from target_lytics.mapping import StreamMapping, StreamPlan

MAX_ROWS_PER_REQUEST: Final = 10_000

CONFIG_SCHEMA: Final = th.PropertiesList(
    th.Property(
        "api_token",
        th.StringType,
        required=True,
        secret=True,
        title="Lytics API token",
        description=(
            "Lytics API token (Lytics: Account Settings > Access Tokens). Sent only as the "
            "`Authorization` header, never in a URL or a log line."
        ),
    ),
    th.Property(
        "api_url",
        th.StringType,
        default=DEFAULT_API_URL,
        title="API base URL",
        description=(
            "Base URL of the Lytics API. Plain http:// is accepted only for loopback hosts "
            "(a local sandbox), so the token never crosses a network unencrypted."
        ),
    ),
    th.Property(
        "stream",
        th.StringType,
        title="Lytics stream",
        description=(
            "Lytics stream to write every record to. Default: the mapping's stream "
            "(`wistia_activity` for wistia_activity), else the Singer stream's name."
        ),
    ),
    th.Property(
        "mapping",
        th.ObjectType(),
        title="Field mapping",
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
        title="Schema mode",
        description=(
            "What to do about the account's user fields and mappings when a mapped stream "
            "arrives, before its first record is sent. check: stop, listing what is missing or "
            "conflicting, unless the account holds all the stream's mapping needs (writes "
            "nothing). apply: create what is missing (fields, then mappings, one publish, or "
            "one patch on accounts with schema patches); never changes existing ones, stops on "
            "a conflict. off: no schema calls (a token without schema rights)."
        ),
    ),
    th.Property(
        "schema_patches",
        th.BooleanType,
        description=(
            "How the account takes schema changes (schema_mode apply): true through one patch "
            "(accounts with enable_schema_patches), false through the draft and one publish. "
            "Empty: read from the account setting enable_schema_patches (which needs a token "
            "that may read account settings)."
        ),
    ),
    th.Property(
        "timestamp_field",
        th.StringType,
        title="Timestamp field",
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
        title="Dry run",
        description=(
            "Send every request with dryrun=true: Lytics validates but stores nothing. The "
            "schema step only logs its plan (what apply would create)."
        ),
    ),
    th.Property(
        "account_id",
        th.StringType,
        title="Account ID",
        description=(
            "The Lytics account (id or aid) the token must belong to: the run is refused before "
            "anything is sent when the token's own account is another. Lytics writes to the "
            "token's own account; this only checks it. Empty: no check."
        ),
    ),
    th.Property(
        "batch_size_rows",
        th.IntegerType(minimum=1, maximum=MAX_ROWS_PER_REQUEST),
        default=DEFAULT_ROWS_PER_REQUEST,
        title="Records per request",
        description=(
            "Records per collect request, one request at a time. A request also closes before "
            "it outgrows Lytics' 10 MB limit."
        ),
    ),
    th.Property(
        "max_requests_in_flight",
        th.IntegerType(minimum=1, maximum=64),
        title="Requests in flight (deprecated)",
        description=(
            "Deprecated and ignored (accepted, with a warning): target-lytics sends one collect "
            "request at a time, of up to batch_size_rows records."
        ),
    ),
    th.Property(
        "request_timeout",
        th.NumberType(exclusive_minimum=0),
        default=60,
        title="Request timeout (seconds)",
        description=(
            "Seconds a request may take, its whole answer included (not per read: a server "
            "trickling bytes is cut off too); past it the request is retried."
        ),
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0, maximum=20),
        default=6,
        title="Retries per request",
        description=(
            "Retries of a request after 429, 5xx, a timeout or a dropped connection, with "
            "exponential backoff and jitter (Retry-After is honoured, up to 60 s)."
        ),
    ),
    th.Property(
        "retry_backoff_seconds",
        th.NumberType(minimum=0),
        default=1.0,
        title="Retry backoff (seconds)",
        description=(
            "Backoff base in seconds: retry n waits a random time up to this times 2^n (full "
            "jitter), at most 60 s."
        ),
    ),
    th.Property(
        "skip_oversize_records",
        th.BooleanType,
        default=False,
        title="Skip oversize records (deprecated)",
        description=(
            "Deprecated (accepted, with a warning): set dead_letter_path to park records over "
            "Lytics' limits instead. Without dead_letter_path, true skips (and counts) such "
            "records, which are then kept nowhere; with it, they are parked."
        ),
    ),
    th.Property(
        "dead_letter_path",
        th.StringType,
        title="Dead-letter file",
        description=(
            "JSON-lines file (mode 0600, tokens masked) where rejected records are parked, each "
            "with the reason and Lytics' answer: records Lytics rejects (a 2xx with "
            "rejected_count > 0, found with dry runs of parts of the request) and records over "
            "Lytics' limits (over 16 KB, an identifier value over 256 bytes), which are not "
            "sent. Unset: a rejection stops the run."
        ),
    ),
    th.Property(
        "max_rejected_records",
        th.IntegerType(minimum=0),
        default=0,
        title="Rejected records a run may park",
        description=(
            "How many rejected records a run may park in dead_letter_path and go on (its STATE "
            "then passes them); past it the run fails. 0: any rejection fails the run, after "
            "writing it to dead_letter_path when that is set."
        ),
    ),
    th.Property(
        "validate_records",
        th.BooleanType,
        default=False,
        title="Validate records",
        description=(
            "Validate each record against its stream's JSON schema first. Off by default: the "
            "tap already emits conforming records and validation costs more than the load."
        ),
    ),
).to_dict()


#: The SDK's built-in settings target-lytics does not honour: out of `--about`, refused when set.
UNHONOURED_SDK_SETTINGS: Final = {
    "load_method": Unhonoured(
        "Lytics' collect API only appends: records of one key merge on the profile (by "
        "timestamp_field) and nothing is upserted or overwritten; remove load_method",
        harmless=(None, "append-only"),
    ),
    "add_record_metadata": Unhonoured(
        "the _sdc_ metadata columns would reach Lytics as fields no mapping reads; remove "
        "add_record_metadata (or set it to false)",
        harmless=(None, False),
    ),
    "faker_config": FAKER_CONFIG,
}

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
    schema_patches: bool | None = None
    account_id: str | None = None
    dead_letter_path: Path | None = None
    max_rejected_records: int = 0
    #: One warning per deprecated setting in use, saying what replaces it.
    deprecations: tuple[str, ...] = ()

    def plan(self, singer_stream: str) -> StreamPlan:
        """Where a Singer stream's records go and how they map, by these settings."""
        return plan_stream(
            singer_stream,
            self.mappings,
            stream_setting=self.stream,
            timestamp_setting=self.timestamp_field,
        )


def api_url_problems(value: Any) -> list[str]:
    """What is wrong with `api_url` (empty list when it is usable).

    The URL is never echoed whole: a user may have pasted a token into it.
    """
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.hostname:
        return [f"api_url: not an http(s) URL; use {DEFAULT_API_URL} or a local sandbox's URL"]
    problems = []
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
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


def dead_letter_problems(path: Any, max_rejected: Any) -> list[str]:
    """What is wrong with `dead_letter_path` and `max_rejected_records`, alone or together."""
    if path is None:
        if isinstance(max_rejected, int) and max_rejected > 0:
            return [
                (
                    f"max_rejected_records: {max_rejected} lets a run go on past rejected "
                    "records, but dead_letter_path is not set, so they would be lost; set "
                    "dead_letter_path to a file to keep them in (e.g. "
                    "var/lytics-rejected.jsonl), or set max_rejected_records to 0"
                )
            ]
        return []
    problem = _dead_letter_file_problem(path)
    return [f"dead_letter_path: {problem}"] if problem else []


def _dead_letter_file_problem(path: Any) -> str | None:
    if not isinstance(path, str) or not path.strip():
        return "must be a file path, or left unset"
    file = Path(path)
    if file.is_dir():
        return f"{path} is a folder; name a file in it, e.g. {file / 'lytics-rejected.jsonl'}"
    if not file.parent.is_dir():
        return (
            f"the folder {file.parent} does not exist; create it, or name a file in an "
            "existing folder"
        )
    # An existing file (or device) is written as it is; a new one is made in its folder.
    if not os.access(file if file.exists() else file.parent, os.W_OK):
        return f"{path} cannot be written by this user; name a file it can write"
    return None


def deprecations(config: dict[str, Any]) -> tuple[str, ...]:
    """A warning for each deprecated setting in use, saying what replaces it."""
    found = []
    if config.get("max_requests_in_flight") is not None:
        found.append(
            "max_requests_in_flight is deprecated and ignored: target-lytics sends one collect "
            "request at a time, of up to batch_size_rows records (default 10,000); remove the "
            "setting"
        )
    if config.get("skip_oversize_records") is True:
        found.append(
            "skip_oversize_records is deprecated: "
            + (
                "records over Lytics' limits are parked in dead_letter_path (counted against "
                "max_rejected_records); remove the setting"
                if config.get("dead_letter_path")
                else "it skips records over Lytics' limits and keeps them nowhere; set "
                "dead_letter_path and max_rejected_records to park them with the reason instead"
            )
        )
    return tuple(found)


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
    if not isinstance(config.get("schema_patches"), bool | None):
        problems.append(
            f"schema_patches: {config['schema_patches']!r} is not true or false; use true "
            "(the account has schema patches), false (direct publish), or leave it empty to "
            "read the account's setting"
        )
    problems += dead_letter_problems(config.get("dead_letter_path"), config["max_rejected_records"])
    problems += refusals(config, UNHONOURED_SDK_SETTINGS)
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
        schema_patches=config.get("schema_patches"),
        account_id=config.get("account_id"),
        dead_letter_path=Path(config["dead_letter_path"])
        if config.get("dead_letter_path")
        else None,
        max_rejected_records=int(config["max_rejected_records"]),
        deprecations=deprecations(config),
    )
