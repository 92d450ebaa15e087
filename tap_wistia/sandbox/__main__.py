"""Run the Wistia sandbox: ``python -m tap_wistia.sandbox`` (or ``wistia-sandbox``).

Prints one line with the API URL and the sandbox token (a published demo value, not a secret),
optionally writes ``{"url", "pid"}`` to ``--ready-file`` once listening (for scripts that start it
in the background), and serves until SIGINT or SIGTERM, then exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sandbox_http.shell import add_admin_token_argument, announce_address
from tap_wistia.sandbox.account import Account, AccountSpec
from tap_wistia.sandbox.api import SANDBOX_TOKEN
from tap_wistia.sandbox.days import EVENTS_ORDERS
from tap_wistia.sandbox.faults import ARCHIVED_LISTINGS, END_DATE_READINGS, Faults
from tap_wistia.sandbox.server import RETRY_AFTER_STYLES, WistiaSandbox
from tap_wistia.sandbox.statistics import DAILY_LISTINGS

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

SWITCH_INTERVAL = 0.001
"""Seconds a thread may hold the GIL: short, so requests are answered promptly while the
background thread generates the next day (the default, 5 ms, shows up as request latency)."""


def build_parser() -> argparse.ArgumentParser:
    """The command line: the account to generate and how the server behaves."""
    parser = argparse.ArgumentParser(
        prog="wistia-sandbox",
        description=(
            "A local Wistia Data API (v1 and the current API) with a generated account, for "
            "trying tap-wistia."
        ),
    )
    account = parser.add_argument_group("account")
    account.add_argument("--seed", type=int, default=1, help="same seed, same data (default 1)")
    account.add_argument("--events", type=int, default=5000, help="events in total (default 5000)")
    account.add_argument("--days", type=int, default=7, help="days the events span (default 7)")
    account.add_argument("--medias", type=int, default=12, help="medias (default 12)")
    account.add_argument("--visitors", type=int, default=300, help="visitors (default 300)")
    account.add_argument(
        "--end",
        type=datetime.fromisoformat,
        default=None,
        help="newest event time, ISO (default now)",
    )
    account.add_argument("--conversion-rate", type=float, default=0.3, help="default 0.3")
    account.add_argument(
        "--tz-offset-hours", type=int, default=0, help="account time zone for day filters"
    )
    account.add_argument("--odd-events", action="store_true", help="include malformed events")
    server = parser.add_argument_group("server")
    server.add_argument(
        "--host",
        default="127.0.0.1",
        help="default 127.0.0.1; 0.0.0.0: every interface (the admin API still answers this "
        "machine only, unless --admin-token is given)",
    )
    server.add_argument("--port", type=int, default=8701, help="default 8701; 0 picks a free port")
    server.add_argument("--latency-ms", type=int, default=0, help="delay every API answer")
    server.add_argument("--rate-limit", type=int, default=600, help="requests/minute, 0 = off")
    server.add_argument("--rate-limit-status", type=int, choices=(429, 503), default=429)
    server.add_argument("--retry-after-style", choices=RETRY_AFTER_STYLES, default="seconds")
    readings = parser.add_argument_group(
        "undocumented behaviours (Wistia documents neither reading; see the README)"
    )
    readings.add_argument("--events-order", choices=EVENTS_ORDERS, default="newest_first")
    readings.add_argument("--end-date-reading", choices=END_DATE_READINGS, default="inclusive")
    readings.add_argument(
        "--archived-listing",
        choices=ARCHIVED_LISTINGS,
        default="active",
        help="what /medias lists without `archived` (default: active medias only)",
    )
    readings.add_argument(
        "--daily-listing",
        choices=DAILY_LISTINGS,
        default="every_day",
        help="which days /stats/.../by_date lists (default: every day asked for)",
    )
    add_admin_token_argument(server, "reset, faults")
    server.add_argument("--ready-file", type=Path, help='write {"url", "pid"} here once listening')
    server.add_argument("--quiet", action="store_true", help="print nothing")
    return parser


def sandbox_from(args: argparse.Namespace) -> WistiaSandbox:
    """The sandbox the parsed arguments describe (not started)."""
    spec = AccountSpec(
        seed=args.seed,
        medias=args.medias,
        visitors=args.visitors,
        events=args.events,
        days=args.days,
        end=args.end,
        conversion_rate=args.conversion_rate,
        tz_offset_hours=args.tz_offset_hours,
        odd_events=args.odd_events,
    )
    return WistiaSandbox(
        Account(spec),
        host=args.host,
        port=args.port,
        rate_limit_per_minute=args.rate_limit or None,
        faults=Faults(
            latency_ms=args.latency_ms,
            events_order=args.events_order,
            end_date_reading=args.end_date_reading,
            archived_listing=args.archived_listing,
            daily_listing=args.daily_listing,
        ),
        rate_limit_status=args.rate_limit_status,
        retry_after_style=args.retry_after_style,
        admin_token=args.admin_token,
    )


def _write_ready_file(path: Path, url: str) -> None:
    """Write atomically, so a script polling for the file never reads half of it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    partial.replace(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status (0 on a clean stop)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        sandbox = sandbox_from(args)
    except ValueError as error:
        parser.error(str(error))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001 - handler signature
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        sandbox.start()
        sandbox.account.warm()
    except OSError as error:
        parser.exit(1, f"wistia-sandbox: cannot listen on {args.host}:{args.port}: {error}\n")
    try:
        if not args.quiet:
            where = announce_address(
                "Wistia", sandbox.bound_url, sandbox.base_url, admin=args.admin_token
            )
            print(  # noqa: T201
                f"{where}\nv1: {sandbox.url}  current API: {sandbox.current_url} (with "
                f"X-Wistia-Api-Version)  token: {SANDBOX_TOKEN}",
                flush=True,
            )
        if args.ready_file is not None:
            _write_ready_file(args.ready_file, sandbox.url)
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
