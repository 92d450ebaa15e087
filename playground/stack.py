"""The local stack: both sandboxes as processes and Meltano pointed at them, as one pipeline.

Everything that runs the whole pipeline on one machine goes through here: ``make demo``, the
end-to-end tests and the benchmarks. Typical use::

    spec = AccountSpec(seed=7, events=6000, days=5)
    with Stack(workdir, spec) as stack:
        stack.meltano.install()
        run = stack.meltano.run("tap-wistia", "target-lytics").check()
        report = stack.delivery()

Why processes and not threads: Meltano runs the plugins as processes, and the pipeline's
promises (nothing lost when any process is killed, no traceback on expected failures, bounded
memory) are only visible across process boundaries. The sandboxes listen on free ports
(``playground.servers``) and each stack gets its own Meltano system database
(``playground.meltano``), so stacks never collide on ports or share state; nothing is left
running after a stack (``playground.lifetime``).

The Lytics sandbox starts with an empty account (``lytics_preset``) and target-lytics runs with
``schema_mode: apply``, so every stack's account is set up through the schema step, as a new
Lytics account would be. What Lytics should hold afterwards comes from ``playground.expected``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final, Self

from playground.expected import DeliveryReport, check_delivery, expected_sessions
from playground.meltano import ENVIRONMENT, Meltano, MeltanoResult
from playground.servers import LyticsSandboxProcess, WistiaSandboxProcess
from sandbox_http.startable import Startable

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from playground.meltano import Follower
    from tap_wistia.sandbox import AccountSpec
    from tap_wistia.sessions import ViewingSession
    from target_lytics.sandbox.presets import Preset

__all__ = ["Stack"]

ACTIVITY_SCHEMA_ONLY: Final[dict[str, Any]] = {
    "type": "SCHEMA",
    "stream": "wistia_activity",
    "schema": {"properties": {}},
    "key_properties": [],
}
"""What the schema step alone is given: the stream's arrival, and no record (the README's
"Review first" recipe writes this line)."""


class Stack(Startable):
    """Both sandboxes and Meltano pointed at them: one isolated, disposable pipeline.

    ``workdir`` receives the sandboxes' logs and data, the Meltano system database and the run
    logs. ``settings`` are extra plugin settings as environment variables (e.g.
    ``{"TAP_WISTIA_MAX_PARALLEL_REQUESTS": "2"}``).
    """

    def __init__(  # noqa: PLR0913 - every knob of a local stack, all keyword-only
        self,
        workdir: Path,
        spec: AccountSpec,
        *,
        wistia_rate_limit: int = 0,
        wistia_latency_ms: int = 0,
        lytics_latency_ms: float = 0,
        lytics_preset: Preset = "empty",
        schema_mode: str = "apply",
        settings: Mapping[str, str] | None = None,
        sys_dir: Path | None = None,
    ) -> None:
        """Describe the stack; nothing starts before ``start()`` (or ``with``)."""
        self.workdir = workdir
        self.schema_mode = schema_mode
        self.wistia = WistiaSandboxProcess(
            spec, workdir, rate_limit=wistia_rate_limit, latency_ms=wistia_latency_ms
        )
        self.lytics = LyticsSandboxProcess(
            workdir, latency_ms=lytics_latency_ms, preset=lytics_preset
        )
        self.meltano = Meltano(
            database=workdir / "meltano.db",
            logs=workdir / "runs",
            sys_dir=sys_dir,
            settings=settings,
        )

    def start(self) -> Self:
        """Start both sandboxes and point Meltano at them.

        Raises:
            StackError: a sandbox did not start (both are stopped again).
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.wistia.start()
            self.lytics.start()
        except BaseException:
            self.stop()
            raise
        self.meltano.settings = {
            "TAP_WISTIA_API_URL": self.wistia.url,
            "TAP_WISTIA_START_DATE": self.wistia.account.first_day.isoformat(),
            "TARGET_LYTICS_API_URL": self.lytics.url,
            "TARGET_LYTICS_SCHEMA_MODE": self.schema_mode,
            **self.meltano.settings,
        }
        return self

    def stop(self) -> None:
        """Stop both sandboxes (the Lytics data stays in ``lytics.db_path``)."""
        self.wistia.stop()
        self.lytics.stop()

    def schema_step(self, *, dryrun: bool, follow: Follower | None = None) -> MeltanoResult:
        """Run target-lytics' schema step alone with ``schema_mode: apply`` (no record).

        ``meltano invoke target-lytics --input FILE``, the file holding only the SCHEMA
        message of ``wistia_activity``: the account check runs, then that stream's schema step
        (as when the tap's first message arrives), then the target finds nothing to send.
        With ``dryrun`` it only logs its plan. ``follow`` gets its log lines as they come.

        Raises:
            StackError: the command failed (with the end of its output).
        """
        schema = self.workdir / "wistia_activity.schema.jsonl"
        schema.write_text(json.dumps(ACTIVITY_SCHEMA_ONLY) + "\n")
        env = {"TARGET_LYTICS_SCHEMA_MODE": "apply", "TARGET_LYTICS_DRYRUN": str(dryrun).lower()}
        return self.meltano.logged(
            f"--environment={ENVIRONMENT}", "invoke", "target-lytics", "--input", str(schema),
            extra_env=env, follow=follow,
        ).check()  # fmt: skip

    def expected_sessions(self, *, served: bool = False) -> list[ViewingSession]:
        """The viewing sessions of the account as it stands (``served``: read over its API)."""
        events = self.wistia.served_events() if served else self.wistia.events()
        return expected_sessions(events, self.wistia.medias())

    def delivery(self, *, served: bool = False) -> DeliveryReport:
        """How what Lytics holds compares with the sessions the account should give."""
        return check_delivery(self.expected_sessions(served=served), self.lytics.stored_events())
