"""The local playground: both sandboxes, Meltano and the plugins, run together on one machine.

``playground.stack`` starts the Wistia and Lytics sandboxes as real processes on free ports,
points ``meltano --environment=sandbox run tap-wistia target-lytics`` at them and says what Lytics
should hold afterwards; ``playground.demo`` (``make demo``), the end-to-end tests and the
benchmarks are built on it. ``playground/tap_csv.py`` is a tiny extractor that shows
target-lytics composing with a tap other than tap-wistia.
"""
