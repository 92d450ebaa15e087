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

from typing import TYPE_CHECKING, Any, Final, cast

import msgspec
from singer_sdk.sinks import BatchSink

from target_lytics.dead_letters import DeadLetters
from target_lytics.delivery import Delivery

if TYPE_CHECKING:
    from singer_sdk.target_base import Target

    from target_lytics.target import TargetLytics

MELTANO_TEST_STREAM: Final = "meltano_test_stream"
"""The stream Meltano's `config test` of a loader sends (meltano.core.plugin_test_service)."""


class ConfigTestSink(BatchSink):
    """Sends Meltano's test records as a dry run: validated by Lytics, stored nowhere."""

    def __init__(self, target: Target, *args: Any, **kwargs: Any) -> None:
        """Check the token and account, as every run does."""
        super().__init__(target, *args, **kwargs)
        lytics = cast("TargetLytics", target)
        lytics.prepare()
        self.plan = lytics.lytics_settings.plan(self.stream_name)
        self._client = lytics.lytics_client
        self._encode = msgspec.json.Encoder().encode

    def process_record(self, record: dict, context: dict) -> None:
        """Keep the record as it would be sent."""
        context.setdefault("records", []).append(self._encode(self.plan.to_lytics(record)))

    def process_batch(self, context: dict) -> None:
        """Collect the records with `dryrun=true`; a refusal raises as in a real run."""
        records: list[bytes] = context.get("records", [])
        if not records:
            return
        plan = self.plan
        # Nothing is parked: a record Lytics would reject fails the test, as it would a run.
        delivery = Delivery(
            self._client, DeadLetters(None), plan.lytics_stream, plan.timestamp_field, dryrun=True
        )
        delivery.collect(records)
        self.logger.info(
            "Meltano's config test: Lytics took %d test records on stream %r as a dry run, "
            "so the token may collect; nothing was stored",
            len(records),
            self.plan.lytics_stream,
        )
