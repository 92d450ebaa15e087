"""The README's "Use it in your Meltano project", run as written in a new Meltano project.

Every command of the section's ``sh`` blocks (between its markers) runs in order, as a user
would type it, in a temporary folder: ``meltano init``, the plugins added from the definitions in
``plugins/`` and installed from a wheel of this checkout (built once per test session), settings
through ``meltano config set`` and the environment, both ``config test``s, a dry run, a backfill,
an incremental run, the schedule. What the test does differently, and why:

- ``REPO=`` and ``PACKAGE=`` lines are the test's own: this checkout, and a wheel built from it
  (the README's other ways to point ``pip_url``: a clone, a git URL);
- ``meltano invoke <plugin>:sandbox`` lines (a terminal each, in the README) start in the
  background through ``playground.servers``, with options after the README's: a free port (8701
  and 8702 are shared on a test machine; their URLs replace the README's in the commands after),
  no banner, and for Wistia a smaller, known account, so that what Lytics should hold can be
  computed (``playground.expected``).

After each step the test checks its outcome against the sandboxes, and adds checks a user meets
off the README's path: a wrong token's ``config test``, an error at error level, every setting
reaching the plugins from ``meltano config set`` and from the environment.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from ruamel.yaml import YAML

from playground.definitions import PLUGINS, definition, project_entry
from playground.expected import expected_profiles, expected_sessions, profile_differences
from playground.meltano import Meltano, PipelineRun
from playground.servers import Launch, LyticsSandboxProcess, WistiaSandboxProcess
from tap_wistia.sandbox import AccountSpec
from target_lytics.config_test import MELTANO_TEST_STREAM
from tests.harness import ROOT

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

pytestmark = pytest.mark.e2e

BEGIN, END = "<!-- your project: begin -->", "<!-- your project: end -->"
PROVIDED = ("REPO", "PACKAGE")
"""Variables the README has the user set and the test sets itself."""
README_URLS = {"wistia": "http://127.0.0.1:8701/v1", "lytics": "http://127.0.0.1:8702"}
SPEC = AccountSpec(seed=23, events=1500, days=3, visitors=120, medias=6)
COMMAND_TIMEOUT = 240.0
STATE_ID = "dev:tap-wistia-to-target-lytics"
"""The state id of `meltano run tap-wistia target-lytics` in `meltano init`'s `dev`."""


def readme_commands() -> list[str]:
    """The commands of the section's ``sh`` blocks, in order (continued lines joined)."""
    text = (ROOT / "README.md").read_text()
    assert BEGIN in text, f"README lacks {BEGIN}"
    section = text.split(BEGIN, 1)[1].split(END, 1)[0]
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            commands += [line.strip()] if line.strip() and not line.lstrip().startswith("#") else []
    return commands


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout, built once per session as the README builds one."""
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(ROOT)],
        check=True,
        timeout=300,
    )
    (built,) = folder.glob("tap_wistia_target_lytics-*.whl")
    return built


@dataclass
class Done:
    """A command the test ran: the line, its exit status, its output and how long it took."""

    line: str
    returncode: int
    output: str
    seconds: float

    def as_run(self) -> PipelineRun:
        """The result as a ``meltano run`` (its tap summary)."""
        return PipelineRun((self.line,), self.returncode, self.seconds, self.output)


class UserShell:
    """A user's terminal in the README's project: the directory, the environment, the sandboxes."""

    def __init__(self, folder: Path, wheel: Path) -> None:
        """Start in ``folder``, Meltano's state apart, ``REPO`` and ``PACKAGE`` the test's."""
        self.cwd = folder
        meltano = Meltano(database=folder / "meltano.db", logs=folder / "logs", project=folder)
        self.env = meltano.env({"REPO": str(ROOT), "PACKAGE": str(wheel)})
        self.urls: dict[str, str] = {}
        self.wistia: WistiaSandboxProcess | None = None
        self.lytics: LyticsSandboxProcess | None = None
        self.done: list[Done] = []

    def run(self, line: str) -> Done | None:
        """Run one README line; None for lines the test handles itself (see the docstring)."""
        if re.match(rf"({'|'.join(PROVIDED)})=", line):
            return None
        if re.match(r"meltano invoke [\w-]+:sandbox\b", line):
            self.start_sandbox(shlex.split(line, comments=True))
            return None
        for name, url in self.urls.items():
            line = line.replace(README_URLS[name], url)
        if line.startswith("export "):
            self.env.update(self.exported(line))
            return None
        command, _, folder = line.partition(" && cd ")
        done = self.shell(command)
        if folder:
            self.cwd /= folder.split("#")[0].strip()
        return done

    def shell(self, command: str, extra: Mapping[str, str] | None = None) -> Done:
        """``bash -c command`` here, in this environment (plus ``extra``)."""
        started = time.monotonic()
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=self.cwd,
            env={**self.env, **(extra or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        done = Done(command, result.returncode, result.stdout, time.monotonic() - started)
        self.done.append(done)
        return done

    def exported(self, line: str) -> dict[str, str]:
        """The variables an ``export`` line sets, as bash reads it."""
        script = f"{line}\nenv -0"
        out = subprocess.run(
            ["bash", "-c", script], env=self.env, capture_output=True, check=True, timeout=30
        ).stdout.decode()
        after = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
        return {key: value for key, value in after.items() if self.env.get(key) != value}

    def start_sandbox(self, argv: list[str]) -> None:
        """A README sandbox line, started in the background on a free port."""
        launch = Launch(argv, cwd=self.cwd, env=self.env)
        workdir = self.cwd.parent / "sandboxes"
        if argv[2].startswith("tap-wistia:"):
            self.wistia = WistiaSandboxProcess(SPEC, workdir, rate_limit=600, launch=launch)
            self.urls["wistia"] = self.wistia.start().url
        else:
            db = self.cwd / ".meltano" / "lytics-sandbox.sqlite3"  # the README's --db
            self.lytics = LyticsSandboxProcess(
                workdir, db_path=db, preset="wistia-import", launch=launch
            )
            self.urls["lytics"] = self.lytics.start().url

    def stop(self) -> None:
        """Stop the sandboxes."""
        for sandbox in (self.wistia, self.lytics):
            if sandbox is not None:
                sandbox.stop()

    def project(self) -> dict[str, Any]:
        """The project's meltano.yml as it stands, read as Meltano reads it (YAML 1.2: `off`
        is a string there, where PyYAML's YAML 1.1 would read False)."""
        return json.loads(json.dumps(YAML(typ="safe").load(self.cwd / "meltano.yml")))


@pytest.fixture
def shell(tmp_path: Path, wheel: Path) -> Iterator[UserShell]:
    user = UserShell(tmp_path, wheel)
    try:
        yield user
    finally:
        user.stop()
        timings = ", ".join(f"{d.line.split(' #')[0][:40]} {d.seconds:.1f}s" for d in user.done)
        print(f"\nREADME commands: {timings}")  # shown with -s: where the time goes


def test_a_new_project_following_the_readme_reaches_lytics_profiles(shell, wheel):
    checks = Checks(shell, wheel)
    for line in readme_commands():
        done = shell.run(line)
        if done is not None:
            checks.after(line, done)
    assert checks.pending() == [], f"README lines the test expected but did not meet: {checks}"


class Checks:
    """What each README step must have done, looked at right after it ran."""

    def __init__(self, shell: UserShell, wheel: Path) -> None:
        """Checks for one project; each named check must run once."""
        self.shell = shell
        self.wheel = wheel
        self.met: set[str] = set()
        self.runs = 0

    def pending(self) -> list[str]:
        """The checks no README line triggered."""
        expected = {
            "install",
            "config test tap-wistia",
            "config test target-lytics",
            "dry run",
            "backfill",
            "profiles",
            "incremental",
            "schedule",
        }
        return sorted(expected - self.met)

    def after(self, line: str, done: Done) -> None:
        """Check one step; every step exits 0 but where Meltano itself fails (below)."""
        if "config test target-lytics" in line:
            self.loader_config_test(done)
            return
        assert done.returncode == 0, f"`{line}` failed:\n{done.output[-3000:]}"
        if line == "meltano install":
            self.installed()
        elif "config test tap-wistia" in line:
            assert "Plugin configuration is valid" in done.output, done.output[-2000:]
            self.met.add("config test tap-wistia")
        elif "TARGET_LYTICS_DRYRUN=true meltano run" in line:
            self.dry_run(done)
        elif line.startswith("meltano run tap-wistia target-lytics"):
            self.real_run(done)
        elif "target-lytics:profiles" in line:
            shown = [json.loads(row) for row in done.output.splitlines() if row.startswith("{")]
            assert len(shown) == 3
            assert all(profile["_ids"] for profile in shown)
            self.met.add("profiles")
        elif line == "meltano schedule list":
            assert "wistia-to-lytics-hourly" in done.output
            assert "@hourly" in done.output
            self.met.add("schedule")

    def installed(self) -> None:
        """The plugins are as their definitions declare them, installed from the wheel."""
        project = self.shell.project()
        for source in PLUGINS:
            entries = project["plugins"][source.plugin_type]
            (entry,) = [p for p in entries if p["name"] == source.name]
            assert entry == project_entry(definition(source), str(self.wheel))
        assert project["plugins"]["extractors"][0]["select"] == ["wistia_activity.*"]
        self.settings_reach_the_plugins()
        self.met.add("install")

    def settings_reach_the_plugins(self) -> None:
        """Set from `meltano config set` or the environment, each setting arrives typed."""
        shell = self.shell
        shell.shell("meltano config set target-lytics dryrun true")
        mapping = {"signups": {"fields": {"email": {"from": "email", "as": "email"}}}}
        environment = {
            "TARGET_LYTICS_MAPPING": json.dumps(mapping),
            "TARGET_LYTICS_MAX_RETRIES": "3",
            "TAP_WISTIA_API_VERSION": "2026-03",
            "TAP_WISTIA_MEDIA_IDS": '["abc123"]',
        }
        target = dumped(shell.shell("meltano invoke --dump=config target-lytics", environment))
        tap = dumped(shell.shell("meltano invoke --dump=config tap-wistia", environment))
        assert (target["dryrun"], target["mapping"], target["max_retries"]) == (True, mapping, 3)
        assert (tap["api_version"], tap["media_ids"]) == ("2026-03", ["abc123"])
        assert shell.shell("meltano config unset target-lytics dryrun").returncode == 0
        assert "dryrun" not in shell.project()["plugins"]["loaders"][0].get("config", {})

    def loader_config_test(self, done: Done) -> None:
        """Meltano's test record went as a dry run; Meltano 4.4.1 may end in its own race.

        Its loader test calls ``terminate()`` on the process it has just waited for, which
        raises ProcessLookupError unless the exit is noticed in one narrow moment (asyncio's
        transport is closed by then): a traceback after "Test data was written", whatever the
        loader did. target-lytics' part is what Lytics saw.
        """
        assert self.shell.lytics is not None
        assert self.shell.lytics.stored_events(MELTANO_TEST_STREAM) == []
        assert self.shell.lytics.stats()["dryrun_requests"] == 1
        output = done.output
        assert "Plugin configuration is invalid" not in output, output[-2000:]
        assert "Test data was written to your target system" in output, output[-2000:]
        if done.returncode != 0:
            assert "ProcessLookupError" in output, output[-3000:]
            assert "terminate" in output, output[-3000:]
        self.met.add("config test target-lytics")
        self.wrong_tokens_are_named()

    def wrong_tokens_are_named(self) -> None:
        """Off the README's path: a wrong token, in the config test and in a run."""
        shell = self.shell
        tested = shell.shell("meltano config test tap-wistia", {"TAP_WISTIA_API_TOKEN": "nope"})
        assert tested.returncode == 1
        lines = tested.output.splitlines()
        invalid = next(
            i for i, line in enumerate(lines) if "Plugin configuration is invalid" in line
        )
        shown = lines[invalid + 1]  # the tap's last line: its log record, JSON (structured)
        message = json.loads(shown)["message"] if shown.startswith("{") else shown
        assert message.startswith("Wistia refused the API token"), tested.output[-2000:]
        assert '"Read all folder and media data" permission' in message
        refused = shell.shell(
            "meltano run tap-wistia target-lytics", {"TARGET_LYTICS_API_TOKEN": "nope"}
        )
        assert refused.returncode == 1
        target_lines = [line for line in refused.output.splitlines() if " target-lytics " in line]
        assert "refused the api_token" in target_lines[-1]  # the target's message is its last
        assert "[error" in target_lines[-1]  # structured-logging declared: error level
        assert "nope" not in refused.output

    def dry_run(self, done: Done) -> None:
        """The dry run reached Lytics, which stored nothing, and left no bookmark."""
        lytics = self.shell.lytics
        assert lytics is not None
        sessions = done.as_run().tap_summary()["sessions_emitted"]
        counts = lytics.stats()
        assert sessions > 0
        assert counts["records_stored"] == 0
        assert counts["dryrun_requests"] > 1  # the config test's, and this run's
        assert "Dry run: the STATE is not passed on" in done.output
        state = self.shell.shell(f"meltano state get {STATE_ID}")
        assert "singer_state" not in state.output, state.output[-1000:]
        self.met.add("dry run")

    def real_run(self, done: Done) -> None:
        """Exit 0 and Lytics' profiles those of the account; the second run reads what is new."""
        wistia, lytics = self.shell.wistia, self.shell.lytics
        assert wistia is not None
        assert lytics is not None
        summary = done.as_run().tap_summary()
        sessions = expected_sessions(wistia.events(), wistia.medias())
        differences = profile_differences(expected_profiles(sessions), lytics.profiles())
        assert not differences, "\n".join(differences[:10])
        self.runs += 1
        if self.runs == 1:
            assert summary["events_read"] == SPEC.events, summary
            self.met.add("backfill")
            wistia.generate(40)  # the next run's news, an hour later
        else:
            assert 0 < summary["events_read"] < SPEC.events / 4, summary
            self.met.add("incremental")

    def __repr__(self) -> str:
        """The checks met so far."""
        return f"Checks(met={sorted(self.met)})"


def dumped(done: Done) -> dict[str, Any]:
    """The config file `meltano invoke --dump=config` printed."""
    assert done.returncode == 0, done.output[-2000:]
    text = done.output
    return json.loads(text[text.index("{") : text.rindex("}") + 1])
