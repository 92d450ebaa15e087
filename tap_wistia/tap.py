"""tap-wistia: Wistia viewing activity as Singer streams."""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import io
import logging
import os
import signal
import sys
import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from singer_sdk import Tap
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import (
    CapabilitiesEnum,
    PluginCapabilities,
    TapCapabilities,
)
from singer_sdk.singerlib import StateMessage

from api_http.sdk_settings import hide
from api_http.secrets import keep_secret
from tap_wistia import settings as tap_settings
from tap_wistia.client import RunInterruptedError, WistiaClient, WistiaError
from tap_wistia.library_streams import library_streams
from tap_wistia.medias import media_durations, read_medias
from tap_wistia.run import ViewingRun
from tap_wistia.statistics_streams import statistics_streams
from tap_wistia.streams import ActivityStream, EventsStream, MediasStream, VisitorsStream

if TYPE_CHECKING:
    from singer_sdk.singerlib import Message
    from singer_sdk.streams import Stream

    from tap_wistia.refresh import MediaChanges


#: Bytes the writer holds when stdout writes straight through (PYTHONUNBUFFERED, `python -u`).
HELD_OUTPUT_BYTES = 1 << 16
_held_output = bytearray()


class StateFlushingWriter(MsgSpecWriter):
    """The SDK's msgspec writer, flushing stdout at each STATE message instead of each message.

    A flush per record is a system call per record: a tenth of the tap's time. Records still
    reach stdout in order, and every STATE flushes everything written before it, so a crash
    can lose only records that no STATE has claimed yet (the next run reads them again). The
    interpreter flushes the rest at exit.

    Where stdout has no buffer of its own (`PYTHONUNBUFFERED=1`, common in containers, or
    `python -u`), every write would still be a system call, a sixth of the tap's time: the
    writer then holds up to `HELD_OUTPUT_BYTES` itself, written out at each STATE, when full
    and at exit (`flush_output`), with the same guarantee.
    """

    def write_message(self, message: Message) -> None:
        """Write one message; flush if it is a STATE."""
        line = self.format_message(message)
        out = sys.stdout.buffer
        if isinstance(out, io.RawIOBase):
            _held_output.extend(line)
            if isinstance(message, StateMessage) or len(_held_output) >= HELD_OUTPUT_BYTES:
                flush_output()
            return
        try:
            out.write(line)
            if isinstance(message, StateMessage):
                sys.stdout.flush()
        except BrokenPipeError:
            reader_gone()


def flush_output() -> None:
    """Write out what the writer holds, then flush stdout (at each STATE and at exit).

    A raw write may take only part of the bytes (a signal arriving mid-write), so it loops.
    """
    try:
        if _held_output:
            out = sys.stdout.buffer
            with memoryview(_held_output) as held:
                start = 0
                while start < len(held):
                    start += out.write(held[start:]) or 0
            _held_output.clear()
        sys.stdout.flush()
    except BrokenPipeError:
        reader_gone()


def reader_gone() -> NoReturn:
    """The process reading the tap's output went away (a closed pipe): stop with one line.

    Nothing written from now on can reach anyone, so the run stops where it is: the last STATE
    the reader took stands, and the next run continues from there. The reader's own message
    (under Meltano, the loader's error) says why it went away; a traceback here, and another
    from the interpreter flushing stdout at exit, would only bury it. So stdout is pointed at
    /dev/null, one line is logged, and the process ends (`os._exit`: a request still out would
    hold a normal exit for up to its timeout) with status 1, or 128 + the signal that was
    stopping it.
    """
    _held_output.clear()
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    logging.getLogger(TapWistia.name).warning(
        "The reader of tap-wistia's output went away (broken pipe): stopping. Its own message "
        "says why; the next run continues from the last STATE it took."
    )
    logging.shutdown()
    signum = TapWistia.stopped_by
    os._exit(1 if signum is None else 128 + signum)


atexit.register(flush_output)


class TapWistia(Tap):
    """Reads Wistia's Stats API and builds viewing sessions with their time viewed.

    Streams: wistia_activity (selected by default), wistia_events, wistia_medias,
    wistia_visitors, wistia_folders, wistia_tags, wistia_captions, wistia_media_stats,
    wistia_media_engagement, wistia_media_daily_stats and wistia_account_daily_stats.
    """

    name = "tap-wistia"
    package_name = "tap-wistia-target-lytics"
    config_jsonschema = tap_settings.CONFIG_SCHEMA
    message_writer_class = StateFlushingWriter
    #: The signal that stopped this process's run, if one did (read by `invoke`).
    stopped_by: ClassVar[int | None] = None
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Set up the tap; SIGINT and SIGTERM then stop it between two pages (see `_on_signal`).

        From here on the token is masked in everything the process writes, even where Wistia
        echoes it back in an error.
        """
        super().__init__(*args, **kwargs)
        keep_secret(self.config.get("api_token"))
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._on_signal)
            signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:  # noqa: ARG002 - signal's API
        """Stop at the next page: every STATE written so far stands, nothing newer is claimed.

        Bookmarks move only at watermarks, each announced by a STATE once its records were
        written, so stopping between two pages loses nothing: the next run reads on from the
        last STATE. The process then exits with 128 + the signal (130, 143), so a scheduler
        sees that the run was cut short.
        """
        if type(self).stopped_by is None:
            type(self).stopped_by = signum
            self.logger.warning(
                "Received %s: stopping at the next page; the next run continues from the last "
                "STATE written.",
                signal.Signals(signum).name,
            )
        self.client.budget.stop()

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """The SDK's built-in settings, less those this tap does not honour (`--about` too)."""
        super().append_builtin_config(config_jsonschema)
        hide(config_jsonschema, tap_settings.UNHONOURED_SDK_SETTINGS)

    def discover_streams(self) -> list[Stream]:
        """Every stream (the SDK syncs them by name; the viewing run always goes first)."""
        viewing = [ActivityStream(self), EventsStream(self), MediasStream(self)]
        return [*viewing, VisitorsStream(self), *library_streams(self), *statistics_streams(self)]

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """JSON-schema checks plus the ones it cannot express, all reported together.

        The SDK's own messages about a setting this tap names itself (a range, with the fix)
        are left out, so each problem is said once.
        """
        ours = tap_settings.problems(self.config)
        named = {problem.split(":", 1)[0] for problem in ours}
        errors = [
            error
            for error in super()._validate_config(raise_errors=False)
            if not any(f"config['{name}']" in error for name in named)
        ]
        errors += ours
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
            version=settings.api_version,
        )

    def medias(self) -> list[dict[str, Any]]:
        """Every media of the account as `wistia_medias` records, read once per run."""
        return self._medias

    @cached_property
    def _medias(self) -> list[dict[str, Any]]:
        settings = self.settings
        return read_medias(self.client.get, settings.api_version, set(settings.media_ids))

    def media_durations(self) -> dict[str, float | None]:
        """Seconds per hashed media id; None where a media does not play or has no duration."""
        return media_durations(self.medias())

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

    def read_viewing_first(self) -> None:
        """Run the viewing import now if it is selected (the other streams call this first).

        The streams beyond viewing sync by name, some before `wistia_activity`; reading the
        events first keeps the viewing streams' records and bookmarks the same whatever else
        is selected, and tells the statistics streams which medias can have changed.
        """
        if self._viewing_selected:
            self.viewing_run().drive()

    def media_changes(self) -> MediaChanges | None:
        """The medias with events in the period this run read; None when it reads no events."""
        self.read_viewing_first()
        return self.viewing_run().changes() if self._viewing_selected else None

    @property
    def _viewing_selected(self) -> bool:
        streams = self.streams
        return streams["wistia_activity"].selected or streams["wistia_events"].selected

    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        """Run the CLI; an expected failure is one clear error line and exit status 1.

        A run stopped by a signal exits with 128 + the signal, once what it wrote is flushed.
        """
        try:
            super().invoke(*args, **kwargs)
        except BrokenPipeError:
            reader_gone()
        except WistiaError as exc:
            flush_output()  # the messages written so far come first: the error is the last line
            cls.logger.error("%s", exc)  # noqa: TRY400 - the message is the whole story
            sys.exit(1)
        except RunInterruptedError:
            _exit_stopped(cls.stopped_by)
        if cls.stopped_by is not None:
            _exit_stopped(cls.stopped_by)


def _exit_stopped(signum: int | None) -> NoReturn:
    """End a process whose run a signal stopped: flush what was written, exit 128 + signal.

    `os._exit`, not `sys.exit`: a request still out may take up to its timeout, and the
    interpreter would wait for its thread before exiting.
    """
    flush_output()
    logging.shutdown()
    os._exit(128 + (signum or signal.SIGTERM))


if __name__ == "__main__":
    TapWistia.cli()
