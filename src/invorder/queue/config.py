"""What a worker is told: concurrency, leases, polling, backoff, shutdown, heartbeat, vacuum."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int = 16
    lease_s: float = 30.0
    poll_interval_s: float = 1.0
    retry_base_s: float = 1.0
    retry_max_s: float = 300.0
    shutdown_timeout_s: float = 15.0
    heartbeat_s: float = 5.0  # how often the worker writes its queue_workers row and throughput
    # How often the worker looks at the dead rows of `jobs`, and how many make it vacuum the
    # table itself (0 s: never; leave it to autovacuum). See docs/benchmarks.md "Retention".
    vacuum_interval_s: float = 2.0
    vacuum_dead_rows: int = 20_000
    drain: bool = False  # exit once no job is ready (benchmarks, tests)
