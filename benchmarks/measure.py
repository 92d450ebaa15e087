"""Run one command and write its own wall time, CPU seconds and peak RSS as JSON.

    python -m benchmarks.measure RESULT.json -- COMMAND [ARGS...]

Why a separate small process: Linux counts, in a child's `ru_maxrss`, the resident set of the
process it was forked from (the memory map it had before `exec`). Started straight from the
benchmark runner, which may hold hundreds of megabytes of prepared input, every plugin would
report at least the runner's size. Started from this process (about 10 MB), the figure is the
plugin's own. The command's stdin, stdout and stderr are this process's.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    result, separator, *argv = sys.argv[1:]
    if separator != "--" or not argv:
        print(__doc__, file=sys.stderr)
        return 2
    began = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - began
    returncode = os.waitstatus_to_exitcode(status)
    Path(result).write_text(
        json.dumps(
            {
                "wall": wall,
                "user": usage.ru_utime,
                "system": usage.ru_stime,
                "max_rss_mb": usage.ru_maxrss / 1024,
                "returncode": returncode,
            }
        )
    )
    return returncode


if __name__ == "__main__":
    sys.exit(main())
