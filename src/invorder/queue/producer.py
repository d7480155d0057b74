"""The producer: claims jobs for the free slots (kinds with a limit first), starts them, and wakes on NOTIFY."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec
import psycopg

from invorder import db, metrics
from invorder.db.queries import queries
from invorder.queue.executor import Executor
from invorder.queue.jobs import CHANNEL, LIMITS_CHANNEL, Job
from invorder.queue.registry import Registry

if TYPE_CHECKING:
    from invorder.queue.config import WorkerConfig

# The worker's logger, as before the split: every line keeps its `logger` field.
log = logging.getLogger("invorder.queue.worker")
Q = queries()


class Producer:
    def __init__(
        self,
        pool: Any,
        registry: Registry,
        config: WorkerConfig,
        worker_id: str,
        executor: Executor,
        *,
        stopping: asyncio.Event,
        wake: asyncio.Event,
        slot_free: asyncio.Event,
        running: dict[int, asyncio.Task[None]],
        held: set[int],
        database_url: str,
        connect_options: Mapping[str, Any],
    ) -> None:
        """The events, `running` and `held` are the worker's, shared with the executor, the
        completer and the maintenance loops; `database_url` is a direct session, for LISTEN."""
        self.pool = pool
        self.registry = registry
        self.config = config
        self.id = worker_id
        self._execute_one = executor.execute_one
        self._execute_batch = executor.execute_batch
        self._stopping = stopping
        self._wake = wake
        self._slot_free = slot_free
        self._running = running
        self._held = held
        self._database_url = database_url
        self._connect_options = connect_options
        self.claimed = 0
        # This worker's kinds that have a limit (job_kind_limits), read again at each heartbeat
        # and when a limit changes (stale set); only they go through the limited claim.
        self._limited: list[str] = []
        self._limits_stale = True
        # The limited claim runs when it may find something (a limit changed, a job of a limited
        # kind was enqueued or finished here, the last one filled every free slot), else once a
        # poll interval: one that finds no job walks every ready job (jobs_claim_idx has no kind).
        self._limited_due = True
        self._limited_claimed_at = 0.0
        self._limited_held: set[int] = set()

    async def run(self) -> None:
        """Claim and start jobs until the worker stops (or, draining, until none is ready)."""
        cfg = self.config
        while not self._stopping.is_set():
            free = cfg.concurrency - len(self._running)
            if free <= 0:
                self._slot_free.clear()
                await self._wait(self._slot_free, timeout=cfg.poll_interval_s)
                continue
            self._wake.clear()
            try:
                if self._limits_stale:
                    await self._refresh_limits()
                jobs = await self._claim(free)
            except (psycopg.Error, OSError) as exc:
                log.warning("claim failed, retrying: %s", exc, extra={"worker_id": self.id})
                await self._wait(self._stopping, timeout=cfg.poll_interval_s)
                continue
            self._start_all(jobs)
            if len(jobs) == free:
                continue  # more may be ready: claim again as soon as a slot frees
            if cfg.drain and not jobs and not self._running:
                return
            if jobs or self._running:
                self._slot_free.clear()
                await self._wait(self._wake, self._slot_free, timeout=cfg.poll_interval_s)
            else:
                await self._wait(self._wake, timeout=cfg.poll_interval_s)

    async def _claim(self, limit: int) -> list[Job]:
        """Up to `limit` jobs: first those of the limited kinds, as many as their limits leave
        room for (they are few, and taken first so a backlog of other kinds cannot starve
        them), then of every other kind."""
        jobs: list[Job] = []
        if self._limited and (
            self._limited_due
            or self.config.drain
            or time.monotonic() - self._limited_claimed_at >= self.config.poll_interval_s
        ):
            jobs = await self._claim_limited(limit)
        if len(jobs) < limit:
            # One statement, so its own transaction: one round trip, where BEGIN and COMMIT would
            # make it three (a claim runs for every wake-up, often for a job or two).
            async with db.single_statement(self.pool) as conn:
                jobs += await db.many(
                    conn,
                    Q.claim_jobs,
                    Job,
                    kinds=self.registry.kinds,
                    limit=limit - len(jobs),
                    owner=self.id,
                    lease_s=self.config.lease_s,
                )
        self.claimed += len(jobs)
        for kind, count in Counter(job.kind for job in jobs).items():
            metrics.JOBS_CLAIMED.labels(kind).inc(count)
        return jobs

    async def _claim_limited(self, limit: int) -> list[Job]:
        """The claim of the limited kinds (claim_jobs leaves them out): one transaction that
        takes each kind's limit lock, then counts what runs and claims what the limit leaves
        room for in a statement that sees every claim made before it got the locks. The locks
        end at commit, so the next claimer counts these jobs."""
        self._limited_due = False  # before the claim: what happens meanwhile sets it again
        self._limited_claimed_at = time.monotonic()
        async with db.transaction(self.pool) as conn:
            await db.execute(conn, Q.lock_job_kind_limits, kinds=self._limited)
            jobs = await db.many(
                conn,
                Q.claim_limited_jobs,
                Job,
                kinds=self._limited,
                limit=limit,
                owner=self.id,
                lease_s=self.config.lease_s,
            )
        self._limited_held.update(job.id for job in jobs)
        if len(jobs) == limit:
            self._limited_due = True  # the free slots stopped it, not the limits
        return jobs

    async def _refresh_limits(self) -> None:
        self._limits_stale = False  # before the read: a change notified meanwhile sets it again
        try:
            async with db.single_statement(self.pool) as conn:
                rows = await db.many(conn, Q.list_limited_job_kinds, _Kind, kinds=self.registry.kinds)
        except BaseException:
            self._limits_stale = True
            raise
        limited = [row.kind for row in rows]
        if limited != self._limited:
            log.info(
                "limited kinds now: %s", ", ".join(limited) or "none", extra={"worker_id": self.id, "kinds": limited}
            )
        self._limited = limited
        self._limited_due = True

    def reread_limits(self) -> None:
        """Read the kinds' limits again before the next claim (the heartbeat asks this)."""
        self._limits_stale = True

    def results_written(self, ids: list[int]) -> None:
        # A finished job of a limited kind stops counting against its limit only once its
        # result is written: claim again then, not a poll interval later.
        if self._limited_held:
            written = self._limited_held.intersection(ids)
            if written:
                self._limited_held -= written
                self._limited_due = True
                self._wake.set()

    def _start_all(self, jobs: list[Job]) -> None:
        """One task per job, or per batch of a kind registered with a batch handler (jobs
        grouped by kind in claim order, cut at the kind's `max_batch`)."""
        batches: dict[str, list[Job]] = {}
        for job in jobs:
            self._held.add(job.id)
            kind = self.registry.batch(job.kind)
            if kind is None:
                self._running[job.id] = asyncio.create_task(self._execute_one(job))
                continue
            batch = batches.setdefault(job.kind, [])
            batch.append(job)
            if len(batch) == kind.max_batch:
                self._start_batch(batches.pop(job.kind))
        for batch in batches.values():
            self._start_batch(batch)

    def _start_batch(self, jobs: list[Job]) -> None:
        task = asyncio.create_task(self._execute_batch(jobs))
        for job in jobs:
            self._running[job.id] = task

    async def _wait(self, *events: asyncio.Event, timeout: float) -> None:  # noqa: ASYNC109
        waiters = [asyncio.ensure_future(e.wait()) for e in (*events, self._stopping)]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def listen(self) -> None:
        """LISTEN on a direct session (not through a transaction-mode pooler); polling covers
        any gap while it reconnects."""
        delay = 0.5
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._database_url,
                    autocommit=True,
                    application_name="invorder-worker-listen",
                    **self._connect_options,
                )
                async with conn:
                    await conn.execute(f"listen {CHANNEL}")
                    await conn.execute(f"listen {LIMITS_CHANNEL}")
                    delay = 0.5
                    # catch anything enqueued, or any limit changed, while we were not listening
                    self._limits_stale = True
                    self._wake.set()
                    async for notice in conn.notifies():
                        if notice.channel == LIMITS_CHANNEL:
                            self._limits_stale = True
                        elif notice.payload in self._limited:
                            self._limited_due = True
                        self._wake.set()
            except (psycopg.Error, OSError) as exc:
                log.warning("LISTEN connection lost, polling meanwhile: %s", exc, extra={"worker_id": self.id})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


class _Kind(msgspec.Struct, frozen=True):
    kind: str
