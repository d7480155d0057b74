"""The garbage collector's settings for a long-running service process (API, worker)."""

from __future__ import annotations

import gc

# Allocations between two collections of the youngest generation (CPython's default is 700).
# A request or a batch allocates thousands of short-lived objects, nearly all freed by their
# reference counts; collecting every 700 of them showed in a worker's profile under load
# (docs/benchmarks.md, "What bounds it" under Orders).
YOUNG_THRESHOLD = 20_000


def tune_gc_for_service() -> None:
    """Call once the process has built what it keeps for its lifetime (the app, the pools):
    those objects move to a generation the collector never scans again (`gc.freeze`), and
    the youngest generation is collected less often. Cycles are still collected."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
