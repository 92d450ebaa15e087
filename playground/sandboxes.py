"""`make sandboxes`: both sandboxes in the foreground, where meltano.yml's sandbox env expects them.

The Wistia sandbox listens on 127.0.0.1:8701 with a generated account (5,000 events over the
last 7 days), the Lytics sandbox on 127.0.0.1:8702 keeping its data in ``var/sandboxes/``
(across restarts). Both run until Ctrl-C (or SIGTERM), which stops them cleanly. Each is a
plain ``python -m ...sandbox`` process, so ``--help`` on either tells what else it can do.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from playground import PROJECT_ROOT

if TYPE_CHECKING:
    from pathlib import Path

DATA = PROJECT_ROOT / "var" / "sandboxes"
WISTIA = ("tap_wistia.sandbox", "--port", "8701", "--events", "5000", "--days", "7", "--quiet")
LYTICS = ("target_lytics.sandbox", "--port", "8702", "--db", str(DATA / "lytics.sqlite3"))
_START_SECONDS = 30.0


def _start(module_args: tuple[str, ...], ready: Path) -> subprocess.Popen[bytes]:
    ready.unlink(missing_ok=True)
    command = [sys.executable, "-m", *module_args, "--ready-file", str(ready)]
    return subprocess.Popen(command, cwd=PROJECT_ROOT)  # noqa: S603 - the project's own modules


def _wait_ready(process: subprocess.Popen[bytes], ready: Path, name: str) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            msg = f"the {name} sandbox did not start (is its port taken?)"
            raise RuntimeError(msg)
        time.sleep(0.1)


def main() -> int:
    """Start both sandboxes, say how to use them, and wait for Ctrl-C."""
    DATA.mkdir(parents=True, exist_ok=True)
    processes = {
        "Wistia": (_start(WISTIA, DATA / "wistia.ready"), DATA / "wistia.ready"),
        "Lytics": (_start(LYTICS, DATA / "lytics.ready"), DATA / "lytics.ready"),
    }
    stop = False

    def on_signal(signum: int, frame: object) -> None:  # noqa: ARG001 - signal's signature
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for name, (process, ready) in processes.items():
            _wait_ready(process, ready, name)
        print(  # noqa: T201 - this is a command's output
            "\nBoth sandboxes are running (Ctrl-C stops them):\n"
            "  Wistia  http://127.0.0.1:8701/v1   token sandbox-wistia-token\n"
            "  Lytics  http://127.0.0.1:8702      token sandbox-lytics-token\n"
            "In another terminal:\n"
            "  .venv/bin/meltano --environment=sandbox run tap-wistia target-lytics\n"
            f"  .venv/bin/lytics-sandbox profiles --db {LYTICS[-1]} --limit 3\n",
            flush=True,
        )
        while not stop and all(p.poll() is None for p, _ in processes.values()):
            time.sleep(0.2)
    except RuntimeError as error:
        print(f"make sandboxes: {error}", file=sys.stderr)  # noqa: T201
        return 1
    finally:
        for process, _ in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _ in processes.values():
            process.wait(timeout=15)
    return 0 if stop else 1


if __name__ == "__main__":
    sys.exit(main())
