"""`meltano config test target-lytics`: Meltano's test record goes to Lytics as a dry run.

Meltano 4.4 tests a loader by piping it a SCHEMA, one RECORD and a STATE of the stream
`meltano_test_stream`, and calls the test passed when the loader exits 0 with no line saying
"error" or "exception". A record collected into Lytics cannot be deleted, and a stream once
written stays in the account, so that record is sent with `dryrun=true`: Lytics checks the token
and the record as it would for a real one and stores nothing. The token and the account were
checked before input, as in every run; the dry run adds the collect API itself. Any other
stream, including one the user names so, is not affected: only Meltano's test stream, recognised
by its name, takes this path.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Final, cast

import msgspec
from singer_sdk.sinks import BatchSink

from target_lytics.client import LyticsClient
from target_lytics.mapping import plan_stream

if TYPE_CHECKING:
    from collections.abc import Sequence

    from singer_sdk.target_base import Target

    from target_lytics.target import TargetLytics

MELTANO_TEST_STREAM: Final = "meltano_test_stream"
"""The stream Meltano's `config test` of a loader sends (meltano.core.plugin_test_service)."""


class ConfigTestSink(BatchSink):
    """Sends Meltano's test records as a dry run: validated by Lytics, stored nowhere."""

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        """Check the token and account (as every run does) and open a dry-run client."""
        super().__init__(target, stream_name, schema, key_properties)
        lytics = cast("TargetLytics", target)
        lytics.prepare()
        settings = lytics.lytics_settings
        self.plan = plan_stream(
            stream_name,
            settings.mappings,
            stream_setting=settings.stream,
            timestamp_setting=settings.timestamp_field,
        )
        self._client = LyticsClient(
            replace(settings.client, dryrun=True),
            user_agent=f"target-lytics/{lytics.plugin_version}",
        )
        self._encode = msgspec.json.Encoder().encode

    def process_record(self, record: dict, context: dict) -> None:
        """Keep the record as it would be sent."""
        context.setdefault("records", []).append(self._encode(self.plan.to_lytics(record)))

    def process_batch(self, context: dict) -> None:
        """Collect the records with `dryrun=true`; a refusal raises as in a real run."""
        records: list[bytes] = context.get("records", [])
        if not records:
            return
        self._client.collect(
            self.plan.lytics_stream, records, timestamp_field=self.plan.timestamp_field
        )
        self.logger.info(
            "Meltano's config test: Lytics took %d test records on stream %r as a dry run, "
            "so the token may collect; nothing was stored",
            len(records),
            self.plan.lytics_stream,
        )

    def clean_up(self) -> None:
        """Close the dry-run client's connections."""
        self._client.close()
        super().clean_up()
