"""The account's library as streams: folders (with subfolders), tags, and captions per media.

Full tables. Folders are read every run (one request per 100 folders, and through the current
API one per folder for its subfolders); tags and captions have no date filter, and captions
cost one request per media, so both are read whole at most every `stats_refresh_hours`, the
moment each read began kept in the stream's state once its last record is out.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from tap_wistia import schemas
from tap_wistia.account_stream import AccountStream, answer_or_gone
from tap_wistia.captions import caption_records, captions_path
from tap_wistia.folders import folder_record, list_folders, list_subfolders
from tap_wistia.refresh import mark_read
from tap_wistia.tags import list_tags, tag_record

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from singer_sdk.helpers.types import Record

    from tap_wistia.tap import TapWistia


class FoldersStream(AccountStream):
    """Every folder (v1: project), with its subfolders where the API lists them."""

    name = "wistia_folders"
    primary_keys = ("hashed_id",)
    schema = schemas.FOLDERS

    def read(self) -> Iterator[Record]:
        """The folder list; through the current API each folder's subfolders, many at once."""
        client = self._wistia_tap.client
        folders = list_folders(client.get, client.version)
        if not client.version.current:
            yield from (folder_record(raw, None) for raw in folders)
            return
        jobs = ((raw, partial(self._subfolders, raw)) for raw in folders)
        for raw, subfolders in self.fan_out(jobs):
            yield folder_record(raw, subfolders)

    def _subfolders(self, folder: Mapping[str, Any]) -> Any:
        hashed_id = folder.get("hashed_id")
        if not isinstance(hashed_id, str) or not hashed_id:
            return None  # no id to ask with: subfolders unknown
        return answer_or_gone(partial(list_subfolders, self._wistia_tap.client.get, hashed_id))


class WholeReadStream(AccountStream):
    """A table read whole at most every `stats_refresh_hours`."""

    def reads_whole(self) -> bool:
        """A read is due."""
        return self.full_read_due()

    def read(self) -> Iterator[Record]:
        """The whole table when due, then the mark moved; else nothing."""
        if not self.due():
            return
        skipped = 0
        for record in self.read_whole():
            if record is None:
                skipped += 1
            else:
                yield record
        if skipped:
            self.logger.warning("%s: skipped %d item(s) without a key.", self.name, skipped)
        mark_read(self.stream_state, self._wistia_tap.started_at)

    def read_whole(self) -> Iterator[Record | None]:
        """Every record (None for an item that cannot be keyed)."""
        raise NotImplementedError


class TagsStream(WholeReadStream):
    """The account's tags (`GET /tags`)."""

    name = "wistia_tags"
    primary_keys = ("name",)
    schema = schemas.TAGS

    def read_whole(self) -> Iterator[Record | None]:
        """One record per tag."""
        client = self._wistia_tap.client
        return (tag_record(raw) for raw in list_tags(client.get, client.version))


class CaptionsStream(WholeReadStream):
    """Each media's captions (`GET /medias/{id}/captions`), one record per language."""

    name = "wistia_captions"
    primary_keys = ("media_id", "language")
    schema = schemas.CAPTIONS

    def read_whole(self) -> Iterator[Record | None]:
        """Every media's list, many at once."""
        version = self._wistia_tap.client.version
        answers = self.per_media(
            self.account_medias(), lambda media_id: captions_path(version, media_id), {}
        )
        for media_id, answer in answers:
            yield from caption_records(media_id, answer)


def library_streams(tap: TapWistia) -> list[AccountStream]:
    """The library streams of a tap."""
    return [FoldersStream(tap), TagsStream(tap), CaptionsStream(tap)]
