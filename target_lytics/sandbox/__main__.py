"""Command line for the Lytics sandbox: serve it, or show the schema and profiles a database holds.

    lytics-sandbox --port 8702 --db lytics.sqlite3 --ready-file ready.json
    lytics-sandbox --preset empty --schema-patches --account acct-new --token tok-new
    lytics-sandbox schema --db lytics.sqlite3
    lytics-sandbox profiles --db lytics.sqlite3 --limit 10 --schema

Serving runs until SIGINT or SIGTERM and then exits 0; reading the schema and profiles needs no
server, so a demo can inspect what Lytics would hold after the pipeline and the sandbox stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import msgspec

from sandbox_http.shell import add_admin_token_argument, announce_address
from target_lytics.sandbox.accounts import AccountBook
from target_lytics.sandbox.faults import Faults
from target_lytics.sandbox.presets import PRESETS
from target_lytics.sandbox.schema import COMPARE_SHAPES
from target_lytics.sandbox.server import DEFAULT_ACCOUNT, DEFAULT_TOKEN, LyticsSandbox
from target_lytics.sandbox.store import EventStore

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from types import FrameType

_USAGE_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m target_lytics.sandbox`` and the ``lytics-sandbox`` script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["profiles"]:
        return print_profiles(_profiles_parser().parse_args(args[1:]))
    if args[:1] == ["schema"]:
        return print_schema(_schema_parser().parse_args(args[1:]))
    if args[:1] == ["serve"]:
        args = args[1:]
    return serve(_serve_parser().parse_args(args))


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lytics-sandbox",
        description="A local Lytics API (collect, account, schema, entity, streams) that stores "
        "into SQLite. Also: `lytics-sandbox schema --db PATH` and `lytics-sandbox profiles --db "
        "PATH` show the schema and the profiles a database holds.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on (0.0.0.0: every one; the admin API still answers this "
        "machine only, unless --admin-token is given)",
    )
    parser.add_argument("--port", type=int, default=8702, help="port (0: any free port)")
    parser.add_argument("--db", type=Path, help="SQLite file to keep data in (default: temporary)")
    parser.add_argument("--latency-ms", type=float, default=0, help="delay every API request")
    parser.add_argument("--ready-file", type=Path, help='write {"url", "pid"} here once listening')
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the token to accept")
    parser.add_argument("--account", default=DEFAULT_ACCOUNT, help="the token's account id")
    parser.add_argument("--account-name", help="the account's name (default: from its id)")
    parser.add_argument(
        "--preset",
        choices=PRESETS,
        default="wistia-import",
        help="how a new account starts: with the fields and mappings of Lytics' own Wistia "
        "import (default), or empty",
    )
    parser.add_argument(
        "--schema-patches",
        action="store_true",
        help="a new account has enable_schema_patches: schema changes only through patches",
    )
    parser.add_argument(
        "--settings-refused",
        action="store_true",
        help="the token may not read its account's settings (enable_schema_patches: 403)",
    )
    parser.add_argument(
        "--compare-shape",
        choices=COMPARE_SHAPES,
        default="grouped",
        help="how GET /v2/schema/user/compare shows the draft's diff (no public source shows "
        "it): grouped fields and mappings (default), or a list of changes",
    )
    parser.add_argument(
        "--oversize-status",
        type=int,
        choices=(413, 400),
        default=413,
        help="status for bodies over 10 MB (unconfirmed for Lytics)",
    )
    add_admin_token_argument(parser, "reset, faults, accounts")
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    return parser


def _profiles_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lytics-sandbox profiles",
        description="Print the merged profiles a sandbox database holds, one JSON object a line.",
    )
    parser.add_argument("--db", type=Path, required=True, help="the sandbox's SQLite file")
    parser.add_argument("--limit", type=int, help="print at most this many profiles")
    parser.add_argument("--account", help="only this account's profiles")
    parser.add_argument(
        "--schema", action="store_true", help="first print the schema that built them"
    )
    return parser


def _schema_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lytics-sandbox schema",
        description="Print each account's user fields and mappings (published or in the draft), "
        "its published versions and patches.",
    )
    parser.add_argument("--db", type=Path, required=True, help="the sandbox's SQLite file")
    parser.add_argument("--account", help="only this account")
    return parser


def serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; exit status 0 on a signal, 2 when it cannot listen."""
    if args.latency_ms < 0:
        return _fail("--latency-ms must be >= 0")
    sandbox = LyticsSandbox(
        db_path=args.db,
        host=args.host,
        port=args.port,
        tokens={args.token: args.account},
        names={args.account: args.account_name} if args.account_name else None,
        preset=args.preset,
        schema_patches=args.schema_patches,
        settings_readable=not args.settings_refused,
        compare_shape=args.compare_shape,
        faults=Faults(latency_ms=args.latency_ms),
        oversize_status=args.oversize_status,
        log_requests=not args.quiet,
        admin_token=args.admin_token,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        _say(f"{signal.Signals(signum).name}: stopping", sys.stderr)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sandbox.start()
    except OSError as error:
        sandbox.stop()
        return _fail(f"cannot listen on {args.host}:{args.port} ({error}); pick --port or 0")
    try:
        _announce(sandbox, args)
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


def _announce(sandbox: LyticsSandbox, args: argparse.Namespace) -> None:
    place = str(args.db) if args.db else "a temporary file, gone on exit (use --db PATH to keep)"
    _say(announce_address("Lytics", sandbox.bound_url, sandbox.url, admin=args.admin_token))
    _say(f"token: {sandbox.token} (send it as the Authorization header)")
    account = sandbox.book.get(sandbox.account_id)
    if account is not None:
        versions = len(account.schema.versions)
        patches = "; schema patches enabled" if account.schema.patches_enabled else ""
        _say(
            f"account: {account.id} ({account.preset}, {versions} published schema "
            f"version{'' if versions == 1 else 's'}{patches})"
        )
    _say(f"data: {place}")
    if args.ready_file:
        partial = args.ready_file.with_name(args.ready_file.name + ".partial")
        partial.write_text(json.dumps({"url": sandbox.url, "pid": os.getpid()}))
        partial.replace(args.ready_file)


def _open(db: Path) -> tuple[AccountBook, EventStore] | str:
    """The accounts and events of a database, or why they cannot be read."""
    if not db.is_file():
        return f"no sandbox database at {db}: pass the --db the sandbox ran with"
    try:
        book = AccountBook(db)
        return book, EventStore(db, book.versions)
    except sqlite3.DatabaseError as error:
        return f"{db} is not a sandbox database ({error})"


def _write(lines: Iterable[str]) -> None:
    try:
        for line in lines:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def print_profiles(args: argparse.Namespace) -> int:
    """Print profiles as JSON lines; works on a database whether or not a server runs."""
    if args.limit is not None and args.limit < 0:
        return _fail("--limit must be >= 0")
    opened = _open(args.db)
    if isinstance(opened, str):
        return _fail(opened)
    book, store = opened
    try:
        schema = schema_lines(book, args.account) if args.schema else []
        _, profiles = store.profiles(args.account, limit=args.limit)
    finally:
        store.close()
        book.close()
    _write([*schema, *(msgspec.json.encode(profile).decode() for profile in profiles)])
    return 0


def print_schema(args: argparse.Namespace) -> int:
    """Print the accounts' schemas as text; works whether or not a server runs."""
    opened = _open(args.db)
    if isinstance(opened, str):
        return _fail(opened)
    book, store = opened
    try:
        lines = schema_lines(book, args.account)
    finally:
        store.close()
        book.close()
    _write(lines)
    return 0


_STATUS = {"unmodified": "published", "new": "draft: new", "modified": "draft: changed"}


def schema_lines(book: AccountBook, only: str | None = None) -> list[str]:
    """Each account's fields and mappings (and whether they are published), for people."""
    lines: list[str] = []
    for account in book.all():
        if only is not None and account.id != only:
            continue
        schema = account.schema
        patches = ", schema patches enabled" if schema.patches_enabled else ""
        lines.append(
            f"# account {account.id} ({account.preset}{patches}): "
            f"{len(schema.versions)} published versions"
        )
        lines += [
            f"#   version {version.number} {version.tag!r}: {version.description} "
            f"(for events after #{version.marker})"
            for version in schema.versions
        ]
        lines.append("#   fields:")
        for item in schema.fields():
            how = "identifier" if item["is_identifier"] else item["mergeop"] or "(default)"
            status = _STATUS.get(item["edit_status"], item["edit_status"])
            lines.append(f"#     {item['id']:<24} {item['type']:<18} {how:<11} {status}")
        lines.append("#   mappings:")
        for item in schema.mappings():
            guard = f" if {item['guard_expr']}" if item["guard_expr"] else ""
            status = _STATUS.get(item["edit_status"], item["edit_status"])
            rule = f"{item['field']} <- {item['stream']}: {item['expr']}{guard}"
            lines.append(f"#     {rule:<62} {status}")
    return lines


def _fail(message: str) -> int:
    _say(f"lytics-sandbox: error: {message}", sys.stderr)
    return _USAGE_ERROR


def _say(line: str, stream: TextIO | None = None) -> None:
    """One line for a person (or a parent process waiting for it), flushed at once."""
    out = stream or sys.stdout
    out.write(line + "\n")
    out.flush()


if __name__ == "__main__":
    sys.exit(main())
