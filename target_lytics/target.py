"""target-lytics: a Singer target that loads records into Lytics streams (the collect API).

A STATE message is passed on only after every record before it was durably accepted by Lytics
(2xx with `rejected_count` 0), or parked in the dead-letter file within `max_rejected_records`;
any failure stops the run before that STATE. Settings are checked up front (`settings`).
Creating the target contacts nothing (so `--about` and tests need no network); when input
processing starts, before the first message is read, the token's account is checked
(`preflight`), so a bad token fails in a second instead of after an hour of extraction; each
stream's schema step runs when its SCHEMA message arrives, before its first record. Failures
the user must act on end the process with one message and status 1, never a traceback; SIGINT
and SIGTERM end it with 130 and 143 (`stopping`).

Everything runs on the thread that reads the input, one request at a time: the target starts
no thread (and drains its sinks one after another), so a signal always reaches the wait it must
end, and nothing is left running when the process exits.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk import Target

from api_http.sdk_settings import hide
from api_http.secrets import keep_secret
from target_lytics.client import LyticsClient
from target_lytics.config_test import MELTANO_TEST_STREAM, ConfigTestSink
from target_lytics.dead_letters import DeadLetters
from target_lytics.errors import LyticsError
from target_lytics.preflight import SchemaChecks, check_account
from target_lytics.settings import CONFIG_SCHEMA, UNHONOURED_SDK_SETTINGS, settings_from_config
from target_lytics.singer_input import InputError, LyticsMessageReader
from target_lytics.sinks import LyticsSink
from target_lytics.stopping import StopRequest, exit_stopped

if TYPE_CHECKING:
    from pathlib import PurePath

    from singer_sdk.plugin_base import _ConfigInput
    from singer_sdk.singerlib.encoding.base import GenericSingerReader
    from singer_sdk.sinks import Sink


class TargetLytics(Target):
    """Loads Singer records into Lytics streams, mapped to Lytics fields, and never loses any."""

    name = "target-lytics"
    package_name = "tap-wistia-target-lytics"
    config_jsonschema: ClassVar[dict] = CONFIG_SCHEMA
    default_sink_class = LyticsSink
    message_reader_class = LyticsMessageReader
    #: The signal that stopped this process's run, if one did (read by `invoke`).
    stopped_by: ClassVar[int | None] = None

    def __init__(
        self,
        *,
        config: dict | PurePath | str | list[PurePath | str] | None = None,
        parse_env_config: bool = False,
        validate_config: bool = True,
        setup_mapper: bool = True,
        message_reader: GenericSingerReader | None = None,
    ) -> None:
        """Check the settings and take over SIGINT and SIGTERM; contact nothing.

        From here on the token is masked in everything the process writes, even where a server
        echoes it back in an error. The account is checked when input starts.

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
        keep_secret(self.config.get("api_token"))
        settings = self.lytics_settings = settings_from_config(dict(self.config))
        for warning in settings.deprecations:
            self.logger.warning("%s", warning)
        self.max_parallelism = 1  # sinks drain one after another, on this thread
        self.dead_letters = DeadLetters(settings.dead_letter_path, settings.max_rejected_records)
        self.stop = StopRequest(self._stopped, self.logger)
        self.stop.install()  # in place of the SDK's handlers, which drain from inside them
        self.lytics_client = LyticsClient(
            settings.client, stop=self.stop, user_agent=f"target-lytics/{self.plugin_version}"
        )
        self.schema_checks: SchemaChecks | None = None
        self._arrived: set[str] = set()  # mapped streams whose schema step ran
        self._dry_run_state_noted = False
        if isinstance(self.message_reader, LyticsMessageReader):
            self.message_reader.before_input = self.prepare
            self.message_reader.stop = self.stop

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """The SDK's built-in settings, less those Lytics gives no meaning (`--about` too)."""
        super().append_builtin_config(config_jsonschema)
        hide(config_jsonschema, UNHONOURED_SDK_SETTINGS)

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        """`LyticsSink`, except for Meltano's `config test` stream: a dry run (`config_test`)."""
        return ConfigTestSink if stream_name == MELTANO_TEST_STREAM else LyticsSink

    def _write_state_message(self, state: dict) -> None:
        """Pass the STATE on, except in a dry run: Lytics stored nothing, so no bookmark moves.

        Under Meltano a STATE printed by a dry run would be stored, and the next, real run
        would start after records that were never kept.
        """
        if not self.lytics_settings.client.dryrun:
            super()._write_state_message(state)
        elif not self._dry_run_state_noted:
            self._dry_run_state_noted = True
            self.logger.info(
                "Dry run: the STATE is not passed on (Lytics stored nothing), so the next run "
                "sends the same records"
            )

    @classmethod
    def _stopped(cls, signum: int) -> None:
        cls.stopped_by = signum

    def prepare(self) -> SchemaChecks:
        """Check the token's account, once, before any input line is read.

        Called when input processing starts (and, should another reader be in use, when the
        first stream's sink is made, which precedes its first record).

        Raises:
            LyticsError: the token or the account stops the run.
        """
        if self.schema_checks is None:
            settings = self.lytics_settings
            account = check_account(
                self.lytics_client,
                account_id=settings.account_id,
                dryrun=settings.client.dryrun,
                logger=self.logger,
            )
            self.schema_checks = SchemaChecks(
                self.lytics_client,
                account=account,
                mode=settings.schema_mode,
                schema_patches=settings.schema_patches,
                stream_setting=settings.stream,
                dryrun=settings.client.dryrun,
                logger=self.logger,
            )
        return self.schema_checks

    def prepare_stream(self, stream: str) -> SchemaChecks:
        """`prepare`, and the stream's own schema step when it is mapped, once.

        Called when the stream's SCHEMA message makes its sink, before its first record.

        Raises:
            LyticsError: the token, the account or the schema stops the run.
        """
        checks = self.prepare()
        mapping = self.lytics_settings.mappings.get(stream)
        if mapping is not None and stream not in self._arrived:
            checks.arrived(stream, mapping)
            self._arrived.add(stream)
        return checks

    def process_endofpipe(self) -> None:
        """Drain every sink (the last STATE is printed only if that succeeds), then disconnect."""
        try:
            super().process_endofpipe()
        finally:
            self.lytics_client.close()
        if self.dead_letters.parked:
            self.logger.warning(
                "%d rejected records were parked in %s (max_rejected_records %d); the STATE "
                "passes them",
                self.dead_letters.parked,
                self.dead_letters.path,
                self.dead_letters.max_rejected,
            )

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: _ConfigInput | None = None,
        file_input: Any = None,
    ) -> None:
        """Run the target; a failure the user must act on ends it with one line and status 1.

        These failures (bad token, refused or rejected records, Lytics unreachable, an oversize
        record, a dead-letter file that cannot be written, a malformed input line) are expected
        and explained by their message, so a traceback would only hide it. A run stopped by a
        signal exits with 128 + the signal, whatever happened while it delivered what it read.
        """
        try:
            super().invoke(
                about=about, about_format=about_format, config=config, file_input=file_input
            )
        except (LyticsError, InputError) as exc:
            cls.logger.error("%s", exc)  # noqa: TRY400 - the message is the whole report
            if cls.stopped_by is not None:
                exit_stopped(cls.stopped_by)
            sys.exit(1)
        except Exception as exc:
            if cls.stopped_by is None:
                raise
            cls.logger.error("While stopping: %s", exc)  # noqa: TRY400
            exit_stopped(cls.stopped_by)
        if cls.stopped_by is not None:
            exit_stopped(cls.stopped_by)
