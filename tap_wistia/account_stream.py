"""What the streams beyond viewing share: off by default, read after the viewing run, in parallel.

Folders, tags, captions and statistics are for a warehouse, not for Lytics' import, so none is
selected by default. Each reads only once the viewing run (when selected) is over: the streams
sync by name and `wistia_account_daily_stats` comes before `wistia_activity`, so a statistics
request can never delay, or by failing stop, a viewing bookmark. Reads of one item per media or
folder go out many at once (`tap_wistia.fanout`) through the run's one client, within its budget.

A stream that emits only part of its table in a run (the medias that changed, or nothing when a
full read is not due) must not announce a new table version: `ACTIVATE_VERSION` (when a user
turns `emit_activate_version_messages` on) would make a target delete every row not sent. Such a
stream announces one only in the runs that read it whole.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream

from tap_wistia.client import WistiaNotFoundError
from tap_wistia.fanout import read_each
from tap_wistia.refresh import READ_MARK, read_due

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from singer_sdk.helpers.types import Context, Record

    from tap_wistia.tap import TapWistia

GONE = object()
"""The answer of a read whose item Wistia no longer has (404: deleted since it was listed)."""


def answer_or_gone(read: Callable[[], Any]) -> Any:
    """What `read` answers, or `GONE` when its item was deleted since it was listed (404)."""
    try:
        return read()
    except WistiaNotFoundError:
        return GONE


class AccountStream(Stream):
    """A stream beyond viewing: `read` yields its records once the viewing run is done."""

    selected_by_default = False
    replication_key: str | None = None

    def __init__(self, tap: TapWistia) -> None:
        """Keep a typed handle on the tap, which owns the client, the clock and the run."""
        super().__init__(tap)
        self._wistia_tap = tap
        self.gone = 0  # items listed but gone when read (404), for the closing log line

    def get_records(self, context: Context | None) -> Iterable[Record]:  # noqa: ARG002
        """The viewing run first (when selected), then this stream's own reads."""
        self._wistia_tap.read_viewing_first()
        yield from self.read()
        if self.gone:
            self.logger.info(
                "%s: %d item(s) listed were gone when read (404): nothing to emit for them.",
                self.name,
                self.gone,
            )

    def read(self) -> Iterator[Record]:
        """This stream's records (each stream says what it reads)."""
        raise NotImplementedError

    def reads_whole(self) -> bool:
        """Whether this run emits the whole table (else no new table version is announced)."""
        return True

    @property
    def emit_activate_version_messages(self) -> bool:
        """The user's setting, in the runs that read the whole table only."""
        return bool(super().emit_activate_version_messages) and self.reads_whole()

    def full_read_due(self) -> bool:
        """Whether a read of everything is due: `stats_refresh_hours` since the last one began."""
        tap = self._wistia_tap
        return read_due(self.stream_state, tap.started_at, tap.settings.stats_refresh)

    def due(self) -> bool:
        """`full_read_due`, said in the log when it is not."""
        tap = self._wistia_tap
        if self.full_read_due():
            return True
        self.logger.info(
            "%s was read whole at %s, less than %s ago: not read this run (stats_refresh_hours).",
            self.name,
            self.stream_state.get(READ_MARK),
            tap.settings.stats_refresh,
        )
        return False

    def fan_out(self, jobs: Iterable[tuple[Any, Callable[[], Any]]]) -> Iterator[tuple[Any, Any]]:
        """Run `(key, job)` pairs many at once within the run's budget; answers in order.

        A job answering `GONE` (its item was deleted since it was listed) is counted, not
        handed over.
        """
        tap = self._wistia_tap
        budget = tap.client.budget
        answers = read_each(
            jobs, max_parallel=tap.settings.max_parallel_requests, stopping=lambda: budget.stopped
        )
        for key, answer in answers:
            if answer is GONE:
                self.gone += 1
            else:
                yield key, answer

    def per_media(
        self, media_ids: Iterable[str], path_of: Callable[[str], str], params: Mapping[str, Any]
    ) -> Iterator[tuple[str, Any]]:
        """Each media's answer at `path_of(media_id)`, many at once; medias gone are counted."""
        get = self._wistia_tap.client.get
        jobs = (
            (media_id, partial(answer_or_gone, partial(get, path_of(media_id), params)))
            for media_id in media_ids
        )
        return self.fan_out(jobs)

    def account_medias(self, also: Iterable[str] = ()) -> list[str]:
        """Hashed ids of the account's medias, and `also`, sorted (only `media_ids` when set)."""
        tap = self._wistia_tap
        listed = {
            media["hashed_id"] for media in tap.medias() if isinstance(media["hashed_id"], str)
        }
        return self.wanted(listed | set(also))

    def wanted(self, media_ids: Iterable[str]) -> list[str]:
        """The medias among `media_ids` the run reads (the `media_ids` setting), sorted."""
        only = self._wistia_tap.settings.media_ids
        return sorted(media for media in media_ids if not only or media in only)
