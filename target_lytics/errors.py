"""What can stop a run of target-lytics, one class per thing the user does about it.

Each is a `LyticsError`: the CLI prints its message (which names the fix) as one line and exits
with status 1, or with 128 + the signal when a signal stopped the run first. None of them ever
lets the STATE that follows pass the records concerned.
"""

from __future__ import annotations

from singer_sdk.exceptions import FatalAPIError


class LyticsError(FatalAPIError):
    """A failure the user has to act on; its message says what to fix."""


class LyticsAuthError(LyticsError):
    """Lytics refused the token (401/403)."""


class LyticsRequestError(LyticsError):
    """Lytics refused a request for a reason retrying cannot fix (400, 404, 422, ...)."""


class LyticsRejectedError(LyticsError):
    """Lytics answered 2xx but did not ingest some records (`rejected_count` > 0).

    Raised when they could not be parked in the dead-letter file within `max_rejected_records`.
    """


class LyticsResponseError(LyticsError):
    """An answer that does not confirm delivery (not JSON, no counts, too large)."""


class LyticsAnswerLostError(LyticsError):
    """A write Lytics never answered (a timeout, a 5xx, a reset): it may or may not be done.

    Raised instead of sending the write again: the caller reads back what Lytics holds first.
    """


class LyticsUnavailableError(LyticsError):
    """Lytics could not be reached, or kept failing until the retries ran out."""


class LyticsStoppedError(LyticsError):
    """A signal stopped the run before Lytics confirmed these records (they are re-sent later)."""
