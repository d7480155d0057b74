"""The worker: assembles the producer, executor, completer and maintenance loops, and starts and stops them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from invorder import db
from invorder.queue.completer import Completer
from invorder.queue.config import WorkerConfig
from invorder.queue.executor import Executor, Tally
from invorder.queue.jobs import JobContext
from invorder.queue.maintenance import Maintenance
from invorder.queue.producer import Producer
from invorder.queue.registry import Registry

__all__ = ["Worker", "new_worker_id", "run_worker"]

log = logging.getLogger(__name__)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        pool: Any,
        registry: Registry,
        *,
        database_url: str,
        config: WorkerConfig,
        worker_id: str | None = None,
        connect_options: Mapping[str, Any] | None = None,
    ) -> None:
        """`database_url` is a direct session (never through a transaction-mode pooler): the
        worker LISTENs and VACUUMs there; `connect_options` are `db.connect_options(settings)`."""
        self.pool = pool
        self.registry = registry
        self.config = config
        self.id = worker_id or new_worker_id()
        self._database_url = database_url
        self._connect_options = dict(connect_options or {})
        # What the parts share: the producer adds to _running and _held, the executor removes
        # from _running, the completer from _held; the events wake the producer.
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._held: set[int] = set()
        self._writing_jobs = asyncio.Lock()  # see Completer: renewals and completions take turns
        self._completer = Completer(pool, self.id, self._held, self._writing_jobs, on_written=self._results_written)
        self._context = JobContext(pool=pool, worker_id=self.id)
        self._tally = Tally()  # totals since start, and per-kind counts not yet in job_throughput
        self._executor = Executor(
            registry,
            config,
            self.id,
            self._completer,
            self._context,
            self._tally,
            running=self._running,
            slot_free=self._slot_free,
        )
        self._producer = Producer(
            pool,
            registry,
            config,
            self.id,
            self._executor,
            stopping=self._stopping,
            wake=self._wake,
            slot_free=self._slot_free,
            running=self._running,
            held=self._held,
            database_url=database_url,
            connect_options=self._connect_options,
        )
        self._maintenance = Maintenance(
            pool,
            registry,
            config,
            self.id,
            self._tally,
            wake=self._wake,
            running=self._running,
            held=self._held,
            writing_jobs=self._writing_jobs,
            after_heartbeat=self._producer.reread_limits,
            database_url=database_url,
            connect_options=self._connect_options,
        )

    @property
    def claimed(self) -> int:
        """Jobs claimed since start."""
        return self._producer.claimed

    @property
    def done(self) -> int:
        """Jobs finished since start."""
        return self._tally.done

    @property
    def failed(self) -> int:
        """Job runs that failed since start."""
        return self._tally.failed

    def stop(self) -> None:
        """Stop claiming; `run` finishes what is in hand (or hands it back) and returns."""
        if not self._stopping.is_set():
            log.info("worker %s stopping", self.id, extra={"worker_id": self.id})
        self._stopping.set()

    async def run(self) -> None:
        log.info(
            "worker %s started (kinds %s, concurrency %d)",
            self.id,
            ", ".join(self.registry.kinds),
            self.config.concurrency,
            extra={"worker_id": self.id},
        )
        completer = asyncio.create_task(self._completer.run(), name="completer")
        helpers = [
            asyncio.create_task(self._maintenance.renew_leases(), name="lease-renewer"),
            asyncio.create_task(self._maintenance.rescue_expired(), name="rescuer"),
            asyncio.create_task(self._producer.listen(), name="listener"),
            asyncio.create_task(self._maintenance.heartbeat(), name="heartbeat"),
        ]
        if self.config.vacuum_interval_s > 0:
            helpers.append(asyncio.create_task(self._maintenance.vacuum_jobs(), name="vacuum"))
        try:
            await self._producer.run()
            await self._executor.finish_in_flight()
            self._completer.close()
            await completer  # leases are still renewed while the last results are written
        finally:
            for task in [*helpers, completer]:
                task.cancel()
            await asyncio.gather(*helpers, completer, return_exceptions=True)
            await self._maintenance.report(stopped=True)
        log.info("worker %s stopped", self.id, extra={"worker_id": self.id})

    def _results_written(self, ids: list[int]) -> None:
        # The completer is built before the producer that needs to hear of what it wrote.
        self._producer.results_written(ids)


async def run_worker(
    registry: Registry,
    *,
    database_url: str,
    config: WorkerConfig,
    pool_max_size: int,
    on_start: Sequence[Callable[[Any], Awaitable[None]]] = (),
    connect_options: Mapping[str, Any] | None = None,
    direct_url: str | None = None,
) -> Worker:
    """Open a pool on `database_url`, run each `on_start(pool)` (e.g. seeding periodic jobs),
    run a worker until SIGINT/SIGTERM (or drained), close the pool. The worker LISTENs on
    `direct_url` (default: `database_url`)."""
    import signal

    options = dict(connect_options or {})
    pool = db.open_pool(database_url, options=options, min_size=1, max_size=pool_max_size, name="invorder-worker")
    await pool.open(wait=True, timeout=30)
    try:
        for step in on_start:
            await step(pool)
    except BaseException:
        await pool.close()
        raise
    worker = Worker(pool, registry, database_url=direct_url or database_url, config=config, connect_options=options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, worker.stop)
    try:
        await worker.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await pool.close()
    return worker
