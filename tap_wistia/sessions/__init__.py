"""Viewing sessions: a visitor's events on one media, grouped while they are close in time.

Wistia calls each event a "session", but one viewing often yields several events minutes apart;
Lytics wants one record per viewing with the time actually watched. `sessionize` is the pure
definition; `ActivityBuilder` and `Carry` compute the same sessions across hourly runs that cut
sessions at arbitrary points, emitting each session again only when its figures changed, with
bounded memory and bounded state.

Definition (events deduplicated by event_key first, see `dedupe`): a session is a run of events
of one visitor_key on one media_id, ordered by (received_at, event_key), in which each event
follows the previous one by at most `gap` (a zero gap makes every event its own session).
Its id is the event_key of its first event. Events with an unknown percent_viewed count in
event_count and the latest-value fields but add nothing to percent_viewed or duration_viewed;
a session whose events all have unknown percent has both null. duration_viewed is
the sum of percent_viewed * media duration, null when the duration is unknown: never a guess.

Pure: no I/O, no logging, no Singer imports; the caller logs the counts in `EventProblems`.

Modules, one concern each: `record` (the session and its fingerprint), `grouping` (the pure
definition, `sessionize`), `packing` (sessions waiting packed for their settle), `carry` (what
a run leaves to the next), `walk` (reading a unit newest first, checked), `builder`
(`ActivityBuilder`, which puts them together).
"""

from tap_wistia.sessions.builder import ActivityBuilder
from tap_wistia.sessions.carry import STATE_VERSION, Carry, UnreadableStateError, fetch_start
from tap_wistia.sessions.grouping import dedupe, sessionize
from tap_wistia.sessions.packing import Sessions
from tap_wistia.sessions.record import ViewingSession
from tap_wistia.sessions.walk import WalkBrokenError

__all__ = [
    "STATE_VERSION",
    "ActivityBuilder",
    "Carry",
    "Sessions",
    "UnreadableStateError",
    "ViewingSession",
    "WalkBrokenError",
    "dedupe",
    "fetch_start",
    "sessionize",
]
