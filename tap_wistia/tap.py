"""tap-wistia: Wistia viewing activity as Singer streams."""

from __future__ import annotations

import datetime as dt
import sys
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk import Tap
from singer_sdk.contrib.msgspec import MsgSpecWriter, serialize_jsonl
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import (
    CapabilitiesEnum,
    PluginCapabilities,
    TapCapabilities,
)
from singer_sdk.singerlib import RecordMessage, StateMessage

from tap_wistia import settings as tap_settings
from tap_wistia.client import WistiaClient, WistiaError
from tap_wistia.run import ViewingRun
from tap_wistia.streams import ActivityStream, EventsStream, MediasStream

if TYPE_CHECKING:
    from singer_sdk.singerlib import Message
    from singer_sdk.streams import Stream

MEDIAS_PATH = "medias.json"


class StateFlushingWriter(MsgSpecWriter):
    """The SDK's msgspec writer, flushing stdout at each STATE message instead of each message.

    A flush per record is a system call per record: a tenth of the tap's time. Records still
    reach stdout in order, and every STATE flushes everything written before it, so a crash
    can lose only records that no STATE has claimed yet (the next run reads them again). The
    interpreter flushes the rest at exit.
    """

    def write_message(self, message: Message) -> None:
        """Write one message; flush if it is a STATE."""
        sys.stdout.buffer.write(self.format_message(message))
        if isinstance(message, StateMessage):
            sys.stdout.flush()

    def write_record(
        self, stream: str, record: dict[str, Any], version: int | None, extracted: dt.datetime
    ) -> None:
        """Write a RECORD message, byte for byte as `RecordMessage` would be written.

        Without the message object: building it (and converting its UTC time to UTC) costs as
        much as encoding the record.
        """
        message: dict[str, Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        message["time_extracted"] = extracted
        sys.stdout.buffer.write(serialize_jsonl(message))


class TapWistia(Tap):
    """Reads Wistia's Stats API and builds viewing sessions with their time viewed."""

    name = "tap-wistia"
    package_name = "tap-wistia-target-lytics"
    config_jsonschema = tap_settings.CONFIG_SCHEMA
    message_writer_class = StateFlushingWriter
    # No BATCH: records are written as the import run produces them, never staged as files.
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        TapCapabilities.ACTIVATE_VERSION,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    def discover_streams(self) -> list[Stream]:
        """The three streams, in the order the SDK syncs them (by name)."""
        return [ActivityStream(self), EventsStream(self), MediasStream(self)]

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """JSON-schema checks plus the ones it cannot express, all reported together."""
        errors = super()._validate_config(raise_errors=False)
        errors += tap_settings.problems(self.config)
        if errors and raise_errors:
            msg = "Config validation failed"
            raise ConfigValidationError(msg, errors=errors)
        return errors

    @cached_property
    def settings(self) -> tap_settings.TapSettings:
        """The validated settings."""
        return tap_settings.TapSettings.from_config(self.config)

    @cached_property
    def started_at(self) -> dt.datetime:
        """The run's 'now': the end of what it reads, fixed once for both streams."""
        return dt.datetime.now(dt.UTC)

    @cached_property
    def client(self) -> WistiaClient:
        """The run's only HTTP client (one request budget for everything)."""
        settings = self.settings
        return WistiaClient(
            settings.api_url,
            str(self.config["api_token"]),
            max_requests_per_minute=settings.max_requests_per_minute,
            max_parallel_requests=settings.max_parallel_requests,
            timeout=settings.request_timeout,
            max_tries=settings.max_retries,
            logger=self.logger,
        )

    def medias(self) -> list[dict[str, Any]]:
        """Every media of the account, read once per run (all pages)."""
        return self._medias

    @cached_property
    def _medias(self) -> list[dict[str, Any]]:
        wanted = set(self.settings.media_ids)
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"page": page, "per_page": 100, "sort_by": "created", "sort_direction": 1}
            batch = self.client.get(MEDIAS_PATH, params)
            if not isinstance(batch, list):
                msg = f"Wistia answered {MEDIAS_PATH} with a {type(batch).__name__}, not a list."
                raise WistiaError(msg)
            found += [
                m
                for m in batch
                if isinstance(m, dict) and (not wanted or m.get("hashed_id") in wanted)
            ]
            if len(batch) < 100:  # noqa: PLR2004
                return found
            page += 1

    def media_durations(self) -> dict[str, float | None]:
        """Seconds per hashed media id; None where Wistia has no duration."""
        durations: dict[str, float | None] = {}
        for media in self.medias():
            value = media.get("duration")
            number = (
                value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            )
            durations[str(media.get("hashed_id"))] = (
                float(number) if number is not None and number > 0 else None
            )
        return durations

    def write_record(
        self, stream: str, record: dict[str, Any], version: int | None, extracted: dt.datetime
    ) -> None:
        """Write one RECORD message (`extracted` in UTC) the cheapest way the writer allows."""
        writer = self.message_writer
        if isinstance(writer, StateFlushingWriter):
            writer.write_record(stream, record, version, extracted)
        else:
            self.write_message(
                RecordMessage(
                    stream=stream, record=record, version=version, time_extracted=extracted
                )
            )

    def viewing_run(self) -> ViewingRun:
        """The run shared by `wistia_events` and `wistia_activity` (events are read once)."""
        return self._viewing_run

    @cached_property
    def _viewing_run(self) -> ViewingRun:
        streams = self.streams
        activity = streams["wistia_activity"]
        events = streams["wistia_events"]
        assert isinstance(activity, ActivityStream)  # noqa: S101
        assert isinstance(events, EventsStream)  # noqa: S101
        return ViewingRun(
            client=self.client,
            settings=self.settings,
            durations=self.media_durations() if activity.selected else {},
            events_stream=events,
            activity_stream=activity,
            now=self.started_at,
        )

    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        """Run the CLI; an expected failure is one clear error line and exit status 1."""
        try:
            super().invoke(*args, **kwargs)
        except WistiaError as exc:
            cls.logger.error("%s", exc)  # noqa: TRY400 - the message is the whole story
            sys.exit(1)


if __name__ == "__main__":
    TapWistia.cli()
