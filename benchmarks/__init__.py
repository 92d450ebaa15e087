"""`make bench`: the performance figures of issues 2-6, measured on real processes.

Every figure starts the sandboxes and the plugins as separate processes (the way Meltano runs
them), reads each plugin's own CPU time and peak RSS from the kernel, and compares it with a
reference measured in the same run, so a busy machine moves both sides of a ratio together.
Run `python -m benchmarks.run --help`; the results go to `benchmarks/RESULTS.md`.
"""
