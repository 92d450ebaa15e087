"""The statistics streams: each media's totals and engagement, days of a media and the account.

Thin adapters: what a run reads is `tap_wistia.refresh` (which medias) and `tap_wistia.daily`
(which days); the records are `tap_wistia.statistics`. Every stream here moves its state only
after its last record, so an interrupted read claims nothing and the next run reads again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from tap_wistia import schemas
from tap_wistia.account_stream import AccountStream
from tap_wistia.daily import REPLICATION_KEY, days_to_read, settle
from tap_wistia.refresh import mark_done, plan_read
from tap_wistia.statistics import (
    account_days_path,
    curve_record,
    day_records,
    media_path,
    totals_record,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from singer_sdk.helpers.types import Context, Record

    from tap_wistia.daily import Days
    from tap_wistia.tap import TapWistia


class MediaStatisticsStream(AccountStream):
    """One request per media that can have changed (see `tap_wistia.refresh`)."""

    detail: ClassVar[str] = ""  # the path after `stats/medias/{id}`

    def reads_whole(self) -> bool:
        """A full read is due (between those, only the medias that changed are emitted)."""
        return self.full_read_due()

    def read(self) -> Iterator[Record]:
        """The medias the plan names, then the marks moved."""
        tap = self._wistia_tap
        state = self.stream_state
        changes = tap.media_changes()
        plan = plan_read(
            state, now=tap.started_at, refresh=tap.settings.stats_refresh, changes=changes
        )
        self.logger.info("%s: reading %s.", self.name, plan.reason)
        if not plan.reads:
            return
        params = self.params()
        if params is None:
            return
        if plan.whole:
            media_ids = self.account_medias(changes.medias if changes is not None else ())
        else:
            media_ids = self.wanted(plan.medias)
        version = tap.client.version
        answers = self.per_media(
            media_ids, lambda media_id: media_path(version, media_id, self.detail), params
        )
        for media_id, answer in answers:
            yield from self.records(media_id, answer)
        mark_done(state, plan, now=tap.started_at, changes=changes)
        self.done()

    def params(self) -> Mapping[str, Any] | None:
        """The query of each media's request; None: nothing to ask this run (no day to read)."""
        return {}

    def records(self, media_id: str, answer: object) -> Iterator[Record]:
        """The records of one media's answer."""
        raise NotImplementedError

    def done(self) -> None:
        """After every media was read and the marks moved."""


class MediaStatsStream(MediaStatisticsStream):
    """Each media's totals (`GET /stats/medias/{id}`)."""

    name = "wistia_media_stats"
    primary_keys = ("media_id",)
    schema = schemas.MEDIA_STATS

    def records(self, media_id: str, answer: object) -> Iterator[Record]:
        """One record per media."""
        yield totals_record(media_id, answer, self._wistia_tap.started_at)


class MediaEngagementStream(MediaStatisticsStream):
    """Each media's engagement curve (`GET /stats/medias/{id}/engagement`)."""

    name = "wistia_media_engagement"
    primary_keys = ("media_id",)
    schema = schemas.MEDIA_ENGAGEMENT
    detail = "/engagement"

    def records(self, media_id: str, answer: object) -> Iterator[Record]:
        """One record per media."""
        yield curve_record(media_id, answer, self._wistia_tap.started_at)


class DailyBookmark(AccountStream):
    """A daily stream's bookmark is the first day not final, set by the stream itself.

    The SDK would keep the newest `date` emitted, but every day from the first open one is asked
    again until it is final; so the SDK's own bookkeeping is turned off here (its documented
    hook) and `tap_wistia.daily.settle` writes the bookmark after the last record.
    """

    undated = 0  # days listed without a readable date, skipped this run

    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        """Nothing per record: the bookmark moves once every day asked for was written."""

    def dated(self, records: Iterable[Record | None]) -> Iterator[Record]:
        """The day records that have a date; the others (None) are counted."""
        for record in records:
            if record is None:
                self.undated += 1
            else:
                yield record

    def settle_bookmark(self) -> None:
        """Every day asked for is written: the bookmark moves to the first day not final."""
        tap = self._wistia_tap
        settle(self.stream_state, tap.started_at, tap.settings.lookback)
        if self.undated:
            self.logger.warning(
                "%s: skipped %d day(s) Wistia listed without a readable date.",
                self.name,
                self.undated,
            )


class MediaDailyStatsStream(DailyBookmark, MediaStatisticsStream):
    """Each media's days (`GET /stats/medias/{id}/by_date`), incremental by day."""

    name = "wistia_media_daily_stats"
    primary_keys = ("media_id", "date")
    replication_key = REPLICATION_KEY
    schema = schemas.MEDIA_DAILY_STATS
    detail = "/by_date"

    def params(self) -> Mapping[str, Any] | None:
        """The days asked for; None when the configured period is over."""
        days = _plan_days(self, self._wistia_tap)
        return None if days is None else days.params()

    def records(self, media_id: str, answer: object) -> Iterator[Record]:
        """One record per day listed."""
        where = media_path(self._wistia_tap.client.version, media_id, self.detail)
        return self.dated(day_records(answer, where, media_id))

    def done(self) -> None:
        """Every day asked for is written: the bookmark moves to the first day not final."""
        self.settle_bookmark()


class AccountDailyStatsStream(DailyBookmark, AccountStream):
    """The account's days (`GET /stats/account/by_date`): one request a run."""

    name = "wistia_account_daily_stats"
    primary_keys = ("date",)
    replication_key = REPLICATION_KEY
    schema = schemas.ACCOUNT_DAILY_STATS

    def read(self) -> Iterator[Record]:
        """The days from the bookmark to today, then the bookmark moved."""
        tap = self._wistia_tap
        days = _plan_days(self, tap)
        if days is None:
            return
        path = account_days_path(tap.client.version)
        yield from self.dated(day_records(tap.client.get(path, days.params()), path))
        self.settle_bookmark()


def _plan_days(stream: AccountStream, tap: TapWistia) -> Days | None:
    """The days a daily stream asks for this run, said in the log; None when there is none."""
    days = days_to_read(stream.stream_state, tap.settings, tap.started_at)
    if days.note:
        stream.logger.warning("%s: state refused: %s.", stream.name, days.note)
    if days.empty:
        stream.logger.info("%s: nothing to read, the configured days are over.", stream.name)
        return None
    stream.logger.info("%s: reading the days %s.", stream.name, days.reason)
    return days


def statistics_streams(tap: TapWistia) -> list[AccountStream]:
    """The statistics streams of a tap."""
    return [
        MediaStatsStream(tap),
        MediaEngagementStream(tap),
        MediaDailyStatsStream(tap),
        AccountDailyStatsStream(tap),
    ]
