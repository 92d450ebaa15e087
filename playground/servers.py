"""The two sandbox servers as child processes of a stack: started, asked, stopped.

Each is the sandbox's own command (``python -m tap_wistia.sandbox``, ``python -m
target_lytics.sandbox``) started with ``--port 0``: it announces its URL in a ready file, so
stacks never collide on ports. ``admin_get``/``admin_post`` reach its ``/_sandbox/`` admin API.
The Wistia one also keeps a local copy of its account, so what a correct pipeline delivers can
be computed without asking the API under test.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import msgspec
import requests

from playground import PROJECT_ROOT, StackError
from playground.lifetime import STOP_TIMEOUT, die_with_parent, forget, track
from sandbox_http.startable import Startable
from tap_wistia.sandbox import SANDBOX_TOKEN, Account, AccountSpec
from target_lytics.sandbox.presets import WISTIA_STREAM

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from target_lytics.sandbox.presets import Preset

__all__ = ["Launch", "LyticsSandboxProcess", "SandboxProcess", "WistiaSandboxProcess"]

READY_TIMEOUT = 60.0
LOG_TAIL_LINES = 25
WISTIA_TOKEN = SANDBOX_TOKEN
LYTICS_ACCOUNT = "acct-sandbox"
"""The account the Lytics sandbox's own token reaches."""
_PAGE = 10_000
_ADMIN_TIMEOUT = 30.0
_WISTIA_PER_PAGE = 100


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The end of a log, for a message saying why something did not start."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Launch:
    """How a sandbox process is started: its command (options follow), where, with what env."""

    command: Sequence[str]
    cwd: Path = PROJECT_ROOT
    env: Mapping[str, str] | None = None
    """None: this process's environment."""


class SandboxProcess(Startable):
    """A sandbox server process: started on a free port, ready once it wrote its ready file.

    Use as a context manager, or ``start()``/``stop()``. ``url`` is what the sandbox announced;
    ``admin_get``/``admin_post`` call its ``/_sandbox/`` admin API.
    """

    name = "sandbox"
    admin_base_suffix = ""

    def __init__(
        self, module: str, options: Sequence[str], workdir: Path, launch: Launch | None = None
    ) -> None:
        """Prepare ``python -m <module> <options>`` on a free port; logs go in ``workdir``.

        ``launch`` starts it another way, e.g. as a Meltano project runs the sandbox installed
        with the plugins (``meltano invoke tap-wistia:sandbox``): the options follow its
        command, so they take precedence over the ones it gives.
        """
        self.workdir = workdir
        self.launch = launch or Launch((sys.executable, "-m", module))
        self.log_path = workdir / f"{self.name}.log"
        self.ready_file = workdir / f"{self.name}.ready.json"
        self.argv = [
            *self.launch.command,
            "--port=0",
            "--quiet",
            *options,
            f"--ready-file={self.ready_file}",
        ]
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._http = requests.Session()

    def start(self, timeout: float = READY_TIMEOUT) -> Self:
        """Start the process and wait until it listens.

        Raises:
            StackError: it exited or did not get ready in time (with its log's end).
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ready_file.unlink(missing_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.launch.cwd,
                env=None if self.launch.env is None else dict(self.launch.env),
                preexec_fn=die_with_parent,  # noqa: PLW1509 - no threads are forked here
            )
        track(self)
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                msg = (
                    f"the {self.name} did not start (exit status {self.process.returncode}); "
                    f"its log {self.log_path} ends with:\n{log_tail(self.log_path)}"
                )
                raise StackError(msg)
            time.sleep(0.02)
        self.url = str(json.loads(self.ready_file.read_text())["url"])
        return self

    @property
    def pid(self) -> int:
        """The server's process id."""
        if self.process is None:
            msg = f"the {self.name} is not started"
            raise StackError(msg)
        return self.process.pid

    def stop(self) -> int | None:
        """Stop with SIGTERM (SIGKILL after ``STOP_TIMEOUT``); returns the exit status."""
        forget(self)
        self._http.close()
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    @property
    def admin_url(self) -> str:
        """Where the admin API lives (``/_sandbox/``)."""
        return self.url.removesuffix(self.admin_base_suffix) + "/_sandbox"

    def admin_get(self, path: str, **params: Any) -> Any:
        """GET an admin path (e.g. ``stats``) and return its JSON."""
        response = self._http.get(f"{self.admin_url}/{path}", params=params, timeout=_ADMIN_TIMEOUT)
        return self._json(response)

    def admin_post(self, path: str, body: Any = None) -> Any:
        """POST JSON to an admin path and return the answer's JSON."""
        response = self._http.post(
            f"{self.admin_url}/{path}",
            data=msgspec.json.encode(body if body is not None else {}),
            headers={"Content-Type": "application/json"},
            timeout=_ADMIN_TIMEOUT,
        )
        return self._json(response)

    def stats(self) -> dict[str, Any]:
        """The sandbox's counters (``GET /_sandbox/stats``)."""
        return dict(self.admin_get("stats"))

    def reset_stats(self) -> None:
        """Zero the counters."""
        self.admin_post("reset-stats")

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Replace the fault settings (the sandbox's ``Faults``); none: clear them."""
        return dict(self.admin_post("faults", faults))

    def _json(self, response: requests.Response) -> Any:
        if not 200 <= response.status_code < 300:  # noqa: PLR2004 - success, as HTTP says
            msg = (
                f"the {self.name} answered {response.status_code} on "
                f"{response.request.method} {response.request.path_url}: {response.text[:300]}"
            )
            raise StackError(msg)
        return response.json()


class WistiaSandboxProcess(SandboxProcess):
    """``python -m tap_wistia.sandbox`` serving the account of ``spec``.

    ``account`` is a local copy of the same account (the generator is deterministic); every
    change made through this object (new events, updates) is applied to both, so the copy stays
    what the sandbox serves and the expected sessions can be computed without asking the API
    that is under test. Changes the sandbox makes by itself (the ``page_drift`` fault) are not
    mirrored: read those through ``served_events``.
    """

    name = "wistia-sandbox"
    admin_base_suffix = "/v1"

    def __init__(
        self,
        spec: AccountSpec,
        workdir: Path,
        *,
        rate_limit: int = 0,
        latency_ms: int = 0,
        launch: Launch | None = None,
    ) -> None:
        """Describe the sandbox: its account, request limit per minute (0: off), latency."""
        self.spec = spec
        options = [
            f"--seed={spec.seed}",
            f"--events={spec.events}",
            f"--days={spec.days}",
            f"--medias={spec.medias}",
            f"--visitors={spec.visitors}",
            f"--end={spec.end_at.isoformat()}",
            f"--conversion-rate={spec.conversion_rate}",
            f"--tz-offset-hours={spec.tz_offset_hours}",
            f"--rate-limit={rate_limit}",
            f"--latency-ms={latency_ms}",
            *(["--odd-events"] if spec.odd_events else []),
        ]
        super().__init__("tap_wistia.sandbox", options, workdir, launch)
        self.account = Account(spec, prefetch=False)

    def set_rate_limit(self, per_minute: int | None) -> None:
        """Change the request limit (None or 0: off)."""
        self.admin_post("rate-limit", {"per_minute": per_minute})

    def generate(self, count: int, at: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Add ``count`` realistic events (at ``at``, default: the live edge); returns them."""
        body: dict[str, Any] = {"generate": count}
        if at is not None:
            body["at"] = at.isoformat()
        added = list(self.admin_post("events", body)["added"])
        self.account.add_events(added)
        return added

    def new_event(
        self, at: dt.datetime, visitor_key: str | None = None, media_id: str | None = None
    ) -> dict[str, Any]:
        """A realistic event at ``at`` (by a given visitor on a given media), not yet added."""
        return self.account.new_event(at, visitor_key, media_id)

    def add_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Add these events to the account (each needs a new event_key and a received_at)."""
        self.admin_post("events", list(events))
        self.account.add_events(events)

    def update_event(self, event_key: str, **fields: Any) -> dict[str, Any]:
        """Change an event (e.g. a late ``percent_viewed``); returns the updated event."""
        updated = dict(self.admin_post(f"events/{event_key}", fields))
        self.account.update_event(event_key, **fields)
        return updated

    def events(self) -> list[dict[str, Any]]:
        """Every event of the account as the local copy holds it, oldest first."""
        return list(self.account.all_events())

    def medias(self) -> list[dict[str, Any]]:
        """The account's medias (as ``/v1/medias.json`` serves them)."""
        return self.account.medias()

    def served_events(self) -> list[dict[str, Any]]:
        """Every event as the sandbox serves it now, read over its API day by day.

        For checks after faults that change the account inside the sandbox (page drift). Clear
        the faults first: with none in force the pages are stable, so this is every event once.
        """
        headers = {"Authorization": f"Bearer {WISTIA_TOKEN}"}
        found: dict[str, dict[str, Any]] = {}
        first = self.account.first_day
        last = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
        day = first
        while day <= last:
            page = 1
            while True:
                params: dict[str, str | int] = {
                    "start_date": str(day),
                    "end_date": str(day),
                    "per_page": _WISTIA_PER_PAGE,
                    "page": page,
                }
                response = self._http.get(
                    f"{self.url}/stats/events.json",
                    params=params,
                    headers=headers,
                    timeout=_ADMIN_TIMEOUT,
                )
                batch = self._json(response)
                found.update((event["event_key"], event) for event in batch)
                if len(batch) < _WISTIA_PER_PAGE:
                    break
                page += 1
            day += dt.timedelta(days=1)
        return list(found.values())


class LyticsSandboxProcess(SandboxProcess):
    """``python -m target_lytics.sandbox`` keeping its data in ``workdir/lytics.sqlite3``.

    It starts with one account (``acct-sandbox``, token ``sandbox-lytics-token``);
    ``add_account`` adds more, each reached by its own token.
    """

    name = "lytics-sandbox"

    def __init__(
        self,
        workdir: Path,
        *,
        db_path: Path | None = None,
        latency_ms: float = 0,
        preset: Preset = "empty",
        launch: Launch | None = None,
    ) -> None:
        """Describe the sandbox: where it stores events, how slow it answers, its account.

        ``preset``: how the account starts, ``empty`` or ``wistia-import`` (as Lytics' own
        Wistia import leaves it).
        """
        self.db_path = db_path or workdir / "lytics.sqlite3"
        options = [f"--db={self.db_path}", f"--latency-ms={latency_ms}", f"--preset={preset}"]
        super().__init__("target_lytics.sandbox", options, workdir, launch)

    def add_account(self, account: str, token: str, preset: Preset = "empty") -> None:
        """Create another account, reached by ``token`` (``preset``: how it starts)."""
        self.admin_post("accounts", {"id": account, "token": token, "preset": preset})

    def stored_events(
        self, stream: str = WISTIA_STREAM, *, account: str | None = None
    ) -> list[dict[str, Any]]:
        """Every stored event of a stream, oldest first: ``id``, ``event_time``, ``record``...

        ``account``: only that account's (default: every account's).
        """
        scope = {"account": account} if account else {}
        events: list[dict[str, Any]] = []
        while True:
            page = self.admin_get(
                f"streams/{stream}/events", limit=_PAGE, offset=len(events), **scope
            )
            events += page["events"]
            if len(page["events"]) < _PAGE:
                break
        events.sort(key=lambda event: event["id"])
        return events

    def schema(self, account: str = LYTICS_ACCOUNT) -> dict[str, Any]:
        """An account's fields, mappings, published versions and patches (the admin view)."""
        return dict(self.admin_get(f"accounts/{account}/schema"))

    def profiles(self, *, account: str | None = None) -> list[dict[str, Any]]:
        """Every merged profile (oldest first), as ``/_sandbox/profiles`` shows them.

        ``account``: only that account's (default: every account's).
        """
        scope = {"account": account} if account else {}
        profiles: list[dict[str, Any]] = []
        while True:
            page = self.admin_get("profiles", limit=_PAGE, offset=len(profiles), **scope)
            profiles += page["profiles"]
            if len(page["profiles"]) < _PAGE:
                return profiles
