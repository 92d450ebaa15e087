"""The local playground: both sandboxes, Meltano and the plugins, run together on one machine.

One concern per module:

- ``stack``: one disposable pipeline, both sandboxes and Meltano pointed at them;
- ``servers``: the Wistia and Lytics sandbox servers as child processes, and their admin APIs;
- ``meltano``: Meltano commands and runs, each with its own state, their logs followed live;
- ``processes``: a run's process tree, each process's role, memory and CPU (psutil);
- ``lifetime``: nothing the playground starts outlives it;
- ``expected``: what a correct pipeline delivers, computed from the Wistia account alone;
- ``demo`` (``make demo``), ``narration`` (what it prints while Meltano works) and
  ``profile_view`` (a Lytics profile next to the Wistia events it came from);
- ``sandboxes`` (``make sandboxes``: both sandboxes in the foreground);
- ``tap_csv``: a tiny extractor that shows target-lytics composing with another tap;
- ``definitions``: the Meltano plugin definitions in ``plugins/`` and meltano.yml's entries of
  both plugins, made from their ``--about``.

``PROJECT_ROOT`` and ``StackError`` belong to all of them.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The Meltano project (``meltano.yml``) and the repository root."""


class StackError(RuntimeError):
    """A step of the local stack failed; the message says which and shows the log's end."""
