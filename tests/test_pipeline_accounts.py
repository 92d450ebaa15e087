"""Many Wistia accounts: one pipeline per account, two at once, kept apart (README example).

The README's "Many Wistia accounts" example runs as written: its plugins, jobs and schedules are
added to the repository's meltano.yml in a temporary Meltano project (the session's installed
plugins reused: inherited plugins run from their parent's virtualenv). Two Wistia sandboxes,
each with its own token, seed and request limit, accept only their own token; one Lytics
sandbox holds two empty accounts, each reached by its own token (`schema_mode: apply`, as the
other end-to-end stacks). Both jobs run at the same time, twice.

Wistia's 600 requests/minute per account is scaled down to `LIMIT` (sandbox limit and tap
budget alike), with accounts sized so that one pipeline needs more than half of it: had the two
pipelines shared one account's budget, the sandbox would have answered 429.
"""

from __future__ import annotations

import re

import pytest
import requests
import yaml

from playground import PROJECT_ROOT
from playground.expected import check_delivery, claimed_sessions, expected_sessions
from playground.meltano import ENVIRONMENT, STATE_ID, Meltano
from playground.servers import LYTICS_ACCOUNT, LyticsSandboxProcess
from tap_wistia.sandbox import DEFAULT_TOKENS, SANDBOX_TOKEN, Account, AccountSpec, WistiaSandbox
from tap_wistia.sessions import Carry
from tests.pipeline_stack import RUN_TIMEOUT, plugins_dir, project_copy

pytestmark = pytest.mark.e2e

LIMIT = 45
"""Requests per minute each Wistia sandbox allows and each tap budgets (Wistia: 600)."""
BRANDS = {
    "brand-a": AccountSpec(seed=31, events=2600, days=2, medias=6, visitors=150),
    "brand-b": AccountSpec(seed=32, events=2300, days=2, medias=5, visitors=120),
}


def readme_example() -> dict:
    """The meltano.yml additions of the README's "Many Wistia accounts" section."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- many accounts: begin -->\n```yaml\n(.*?)```\n<!-- many accounts: end -->",
        readme,
        re.DOTALL,
    )
    assert block, "the README lost its many-accounts example"
    return yaml.safe_load(block.group(1))


def variable(plugin: str, setting: str) -> str:
    """Meltano's environment variable for a plugin's setting."""
    return re.sub(r"[^A-Z0-9]", "_", f"{plugin}_{setting}".upper())


class Brand:
    """One account end to end: its Wistia sandbox (own token), its Lytics account."""

    def __init__(self, name: str, spec: AccountSpec) -> None:
        self.name = name
        self.wistia_token = f"{name}-wistia-token"
        self.lytics_token = f"{name}-lytics-token"
        self.lytics_account = f"acct-{name}"
        self.job = f"{name}-to-lytics"
        self.state_id = f"{ENVIRONMENT}:tap-wistia--{name}-to-target-lytics--{name}"
        self.copy = Account(spec, prefetch=False)  # what the sandbox serves, to compute from
        self.wistia = WistiaSandbox(
            Account(spec),
            tokens={self.wistia_token: DEFAULT_TOKENS[SANDBOX_TOKEN]},
            rate_limit_per_minute=LIMIT,
        )

    def settings(self, lytics_url: str) -> dict[str, str]:
        tap, target = f"tap-wistia--{self.name}", f"target-lytics--{self.name}"
        return {
            variable(tap, "api_url"): self.wistia.url,
            variable(tap, "api_token"): self.wistia_token,
            variable(tap, "start_date"): self.copy.first_day.isoformat(),
            variable(tap, "max_requests_per_minute"): str(LIMIT),
            variable(target, "api_url"): lytics_url,
            variable(target, "api_token"): self.lytics_token,
            variable(target, "schema_mode"): "apply",
        }

    def sessions(self):
        return expected_sessions(self.copy.all_events(), self.copy.medias())


def run_both(meltano: Meltano, brands: list[Brand]):
    """Both jobs started together, as scheduled (``--no-install``); their runs, each checked.

    The project's ``pip_url`` differs from the one the session's plugins were installed with,
    so without ``--no-install`` both runs would reinstall the shared virtualenvs at once.
    """
    running = [meltano.start(brand.job, install=False) for brand in brands]
    return [run.wait(RUN_TIMEOUT).check() for run in running]


def test_two_accounts_run_at_once_each_with_its_own_state_budget_and_lytics_account(tmp_path):
    project = project_copy(tmp_path / "project", readme_example())
    brands = [Brand(name, spec) for name, spec in BRANDS.items()]
    with (
        brands[0].wistia,
        brands[1].wistia,
        LyticsSandboxProcess(tmp_path / "lytics", preset="empty") as lytics,
    ):
        for brand in brands:
            lytics.add_account(brand.lytics_account, brand.lytics_token, preset="empty")
        meltano = Meltano(
            database=tmp_path / "meltano.db",
            logs=tmp_path / "runs",
            sys_dir=plugins_dir(),
            project=project,
            settings={k: v for brand in brands for k, v in brand.settings(lytics.url).items()},
        )
        listed = meltano.command("schedule", "list", "--format=json").check()
        jobs = {
            s["name"]: s["job"]["name"] for s in yaml.safe_load(listed.stdout)["schedules"]["job"]
        }
        assert {jobs[f"{brand.job}-hourly"] for brand in brands} == {b.job for b in brands}

        backfills = run_both(meltano, brands)

        # Each Lytics account holds exactly its own Wistia account's sessions, nothing else.
        for brand in brands:
            stored = lytics.stored_events(account=brand.lytics_account)
            report = check_delivery(brand.sessions(), stored)
            assert report.ok, f"{brand.name}: {report.describe()}"
            assert report.delivered == len(brand.sessions()) > 0
        assert lytics.stored_events(account=LYTICS_ACCOUNT) == []

        # Two state ids, each claiming only its own account's sessions.
        assert meltano.state(STATE_ID) is None  # the parent pipeline never ran
        for brand, other in (brands, brands[::-1]):
            state = meltano.state(brand.state_id)
            assert state is not None, brand.state_id
            claimed = claimed_sessions(state, brand.sessions())
            assert claimed, f"{brand.state_id} claims nothing"
            held = lytics.stored_events(account=brand.lytics_account)
            assert not check_delivery(claimed, held, complete=False).missing
            carry = Carry.from_state(state["bookmarks"]["wistia_activity"]["carry"])
            assert carry is not None
            assert carry.emitted, f"{brand.state_id} keeps no fingerprints"
            assert set(carry.emitted) <= {s.session_id for s in brand.sessions()}
            assert not set(carry.emitted) & {s.session_id for s in other.sessions()}

        # Each pipeline stayed within its own budget, against its own account and token only.
        sent = [brand.wistia.stats() for brand in brands]
        counts = [stats["requests"] for stats in sent]
        assert sum(counts) > LIMIT, counts  # so one budget shared by both would have met 429s
        for brand, stats, run in zip(brands, sent, backfills, strict=True):
            assert stats["by_status"] == {"200": stats["requests"]}, (brand.name, stats)
            assert stats["rate_limited"] == 0
            assert run.tap_summary()["rate_limited"] == 0
            assert stats["requests"] <= LIMIT, counts
        foreign_token = {"Authorization": f"Bearer {brands[1].wistia_token}"}
        probe = requests.get(
            f"{brands[0].wistia.url}/medias.json", headers=foreign_token, timeout=30
        )
        assert probe.status_code == 401  # so a request with the other brand's token would show

        # An idle second run of both sends nothing to either Lytics account.
        def stored_counts():
            return {b.name: len(lytics.stored_events(account=b.lytics_account)) for b in brands}

        before = stored_counts()
        lytics.reset_stats()
        quiet = run_both(meltano, brands)
        assert [run.tap_summary()["sessions_emitted"] for run in quiet] == [0, 0]
        assert lytics.stats()["collect_requests"] == 0
        assert stored_counts() == before


def test_a_brand_without_its_own_token_fails_instead_of_reading_the_parents_account(tmp_path):
    project = project_copy(tmp_path / "project", readme_example())
    meltano = Meltano(
        database=tmp_path / "meltano.db", logs=tmp_path, sys_dir=plugins_dir(), project=project
    )
    env = {"TAP_WISTIA_API_TOKEN": "the-parents-token"}  # the single-account variable, still set
    inherited = meltano.command(
        "--environment=prod", "config", "list", "tap-wistia--brand-b", extra_env=env
    ).check()
    line = next(line for line in inherited.output.splitlines() if line.startswith("api_token"))
    assert "current value: None" in line, line
