"""The worker: a producer that claims as many jobs as it has free slots (kinds with a limit on
jobs running at once through a claim of their own), an executor per job (or per batch of jobs
of one kind) that turns a handler's answers (or exception) into decisions, and the loops that
keep leases alive, rescue jobs of dead workers and listen for NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import psycopg

from invorder import db, metrics
from invorder.errors import InvorderError
from invorder.logs import bind_log_context
from invorder.queue.completer import Completer
from invorder.queue.jobs import Complete, Job, JobContext, Outcome, backoff_s
from invorder.queue.registry import BatchHandler, Registry
from invorder.sql import queries

log = logging.getLogger(__name__)
Q = queries()
CHANNEL = "invorder_jobs"
LIMITS_CHANNEL = "invorder_job_limits"  # a kind's limit changed (sql/queries/jobs.sql, notify_job_kind_limits)


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
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._held: set[int] = set()
        self._writing_jobs = asyncio.Lock()  # see Completer: renewals and completions take turns
        self._completer = Completer(pool, self.id, self._held, self._writing_jobs, on_written=self._results_written)
        self._context = JobContext(pool=pool, worker_id=self.id)
        self.claimed = 0
        # Totals since start, and per-kind counts not yet added to job_throughput.
        self.done = 0
        self.failed = 0
        self._unreported: dict[str, Counter[str]] = {}
        # This worker's kinds that have a limit (job_kind_limits), read again at each heartbeat
        # and when a limit changes (stale set); only they go through the limited claim.
        self._limited: list[str] = []
        self._limits_stale = True
        # The limited claim runs when it may find something: a limit changed, a job of a limited
        # kind was enqueued (the NOTIFY names its kind) or one of this worker's finished (its
        # id in _limited_held), the claim before it filled every free slot; and once a poll
        # interval otherwise (another worker's finished). Not at every slot freed: one that
        # finds room and no job walks every ready job of other kinds (jobs_claim_idx has no
        # kind), about 12 ms with 50,000 of them.
        self._limited_due = True
        self._limited_claimed_at = 0.0
        self._limited_held: set[int] = set()

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
            asyncio.create_task(self._renew_leases(), name="lease-renewer"),
            asyncio.create_task(self._rescue_expired(), name="rescuer"),
            asyncio.create_task(self._listen(), name="listener"),
            asyncio.create_task(self._heartbeat(), name="heartbeat"),
        ]
        if self.config.vacuum_interval_s > 0:
            helpers.append(asyncio.create_task(self._vacuum_jobs(), name="vacuum"))
        try:
            await self._produce()
            await self._finish_in_flight()
            self._completer.close()
            await completer  # leases are still renewed while the last results are written
        finally:
            for task in [*helpers, completer]:
                task.cancel()
            await asyncio.gather(*helpers, completer, return_exceptions=True)
            await self._report(stopped=True)
        log.info("worker %s stopped", self.id, extra={"worker_id": self.id})

    # -- producer -------------------------------------------------------------------------

    async def _produce(self) -> None:
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

    def _results_written(self, ids: list[int]) -> None:
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

    # -- executor -------------------------------------------------------------------------

    async def _execute_one(self, job: Job) -> None:
        # This runs as its own task: what it binds lasts as long as the job, in every line it logs.
        bind_log_context(worker_id=self.id, job_id=job.id, kind=job.kind)
        handler = self.registry.handler(job.kind)

        async def one(jobs: Sequence[Job], ctx: JobContext) -> list[Outcome]:
            return [await handler(jobs[0], ctx)]

        await self._execute([job], one)

    async def _execute_batch(self, jobs: list[Job]) -> None:
        kind = self.registry.batch(jobs[0].kind)
        assert kind is not None
        bind_log_context(worker_id=self.id, kind=jobs[0].kind, batch=len(jobs))
        await self._execute(jobs, kind.handler)

    async def _execute(self, jobs: list[Job], handler: BatchHandler) -> None:
        """Run `handler` on jobs claimed together and record one outcome per job; an exception
        (or a wrong number of outcomes) fails each job with its normal backoff."""
        try:
            outcomes = list(await handler(jobs, self._context))
            if len(outcomes) != len(jobs):
                raise RuntimeError(f"batch handler answered {len(outcomes)} outcomes for {len(jobs)} jobs")
        except asyncio.CancelledError:
            self._hand_back(jobs)
            raise
        except Exception as exc:
            for job in jobs:
                self._record_failure(job, exc)
        else:
            for job, outcome in zip(jobs, outcomes, strict=True):
                self._record(job, outcome)
        finally:
            for job in jobs:
                self._running.pop(job.id, None)
            self._slot_free.set()

    def _hand_back(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._completer.release(job.id, delay_s=0, error="handed back: worker stopped", failed=False)
            metrics.JOBS_HANDED_BACK.labels(job.kind).inc()  # rare: no cached child

    def _record(self, job: Job, outcome: Outcome) -> None:
        if isinstance(outcome, Complete):
            self._completer.complete(job.id, server_run=job.server_run)
            self._count(job.kind, "done")
            _counters(job.kind).succeeded.inc()
        else:
            self._completer.release(job.id, delay_s=outcome.delay_s, error=outcome.reason or None, failed=False)
            _counters(job.kind).snoozed.inc()

    def _record_failure(self, job: Job, exc: Exception) -> None:
        delay = backoff_s(job.attempts, base_s=self.config.retry_base_s, max_s=self.config.retry_max_s)
        last = job.attempts >= job.max_attempts
        self._count(job.kind, "failed")
        if last:
            self._count(job.kind, "dead")
        (metrics.JOBS_DEAD if last else metrics.JOBS_RETRIED).labels(job.kind).inc()
        log.error(
            "job %d (%s) failed on attempt %d/%d; %s",
            job.id,
            job.kind,
            job.attempts,
            job.max_attempts,
            "now dead" if last else f"retry in {delay:.1f}s",
            exc_info=exc,
            extra={"job_id": job.id, "kind": job.kind, "attempt": job.attempts, "worker_id": self.id},
        )
        self._completer.release(job.id, delay_s=delay, error=f"{type(exc).__name__}: {exc}", failed=True)

    def _count(self, kind: str, what: str) -> None:
        self._unreported.setdefault(kind, Counter())[what] += 1
        if what == "done":
            self.done += 1
        elif what == "failed":
            self.failed += 1

    async def _finish_in_flight(self) -> None:
        if not self._running:
            return
        log.info(
            "waiting up to %.0fs for %d jobs in hand",
            self.config.shutdown_timeout_s,
            len(self._running),
            extra={"worker_id": self.id},
        )
        _, pending = await asyncio.wait(set(self._running.values()), timeout=self.config.shutdown_timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # -- leases, rescue, wake-up ----------------------------------------------------------

    async def _renew_leases(self) -> None:
        interval = self.config.lease_s / 3
        while True:
            await asyncio.sleep(interval)
            ids = list(self._held)
            if not ids:
                continue
            try:
                async with self._writing_jobs, db.transaction(self.pool) as conn:
                    kept = await db.many(conn, Q.renew_leases, _Id, ids=ids, owner=self.id, lease_s=self.config.lease_s)
            except (psycopg.Error, OSError) as exc:
                log.warning("lease renewal failed: %s", exc, extra={"worker_id": self.id})
                continue
            lost = (set(ids) & self._held) - {k.id for k in kept}
            if lost:
                log.warning("lost the lease of jobs %s", sorted(lost), extra={"worker_id": self.id})

    async def _rescue_expired(self) -> None:
        interval = max(0.5, min(self.config.lease_s / 2, 10.0))
        while True:
            try:
                async with db.transaction(self.pool) as conn:
                    rescued = await db.many(conn, Q.rescue_expired_jobs, _Rescued)
            except (psycopg.Error, OSError) as exc:
                log.warning("rescue failed: %s", exc, extra={"worker_id": self.id})
                rescued = []
            if rescued:
                log.warning(
                    "rescued %d jobs whose lease expired (%d dead)",
                    len(rescued),
                    sum(r.status == "dead" for r in rescued),
                    extra={"worker_id": self.id},
                )
                self._wake.set()
            await asyncio.sleep(interval)

    async def _heartbeat(self) -> None:
        beats = 0
        while True:
            await self._report(prune=beats % 60 == 0)
            self._limits_stale = True  # the producer reads the limits again before its next claim
            beats += 1
            await asyncio.sleep(self.config.heartbeat_s)

    async def _report(self, *, stopped: bool = False, prune: bool = False) -> None:
        """Write this worker's queue_workers row and add its counts since the last report to
        job_throughput (both for operators and the dashboard); on a database error keep the
        counts for the next report."""
        counts, self._unreported = self._unreported, {}
        kinds = sorted(counts)
        try:
            async with db.transaction(self.pool) as conn:
                await db.execute(
                    conn,
                    Q.heartbeat_queue_worker,
                    worker_id=self.id,
                    kinds=self.registry.kinds,
                    concurrency=self.config.concurrency,
                    jobs_in_hand=len(self._running),
                    jobs_done=self.done,
                    jobs_failed=self.failed,
                )
                if kinds:
                    await db.execute(
                        conn,
                        Q.add_job_throughput,
                        kinds=kinds,
                        done=[counts[k]["done"] for k in kinds],
                        failed=[counts[k]["failed"] for k in kinds],
                        dead=[counts[k]["dead"] for k in kinds],
                    )
                if stopped:
                    await db.execute(conn, Q.stop_queue_worker, worker_id=self.id)
                if prune:
                    await db.execute(conn, Q.prune_queue_history)
        except asyncio.CancelledError:  # stopping: the final report writes these counts
            self._keep_unreported(counts)
            raise
        except Exception as exc:  # the report is for people: never let it stop the worker
            log.warning("could not write the worker's heartbeat: %s", exc, extra={"worker_id": self.id})
            self._keep_unreported(counts)

    def _keep_unreported(self, counts: dict[str, Counter[str]]) -> None:
        for kind, counter in counts.items():
            self._unreported.setdefault(kind, Counter()).update(counter)

    async def _vacuum_jobs(self) -> None:
        """Vacuum `jobs` when enough finished jobs have left dead rows: the table then stays the
        size of the work in hand at any throughput, whatever autovacuum's settings (it visits a
        database at most once per autovacuum_naptime, a minute by default). With several
        workers, whichever looks first vacuums; the others' SKIP_LOCKED vacuums return at once."""
        cfg = self.config
        # Spread the workers' looks over the interval instead of all at once.
        await asyncio.sleep(random.uniform(0, cfg.vacuum_interval_s))
        try:
            async with db.transaction(self.pool) as conn:
                allowed = bool(await db.scalar(conn, Q.can_vacuum_jobs))
        except (psycopg.Error, OSError, InvorderError):
            allowed = True  # find out below, and say so then
        if not allowed:
            log.warning(
                "this database user does not own jobs, so the worker cannot vacuum it: only autovacuum "
                "keeps the table small (docs/operations.md, Retention)",
                extra={"worker_id": self.id},
            )
            return
        warned = False
        while True:
            try:
                async with db.transaction(self.pool) as conn:
                    dead = int(await db.scalar(conn, Q.count_dead_job_rows))
                if dead >= cfg.vacuum_dead_rows:
                    async with await psycopg.AsyncConnection.connect(
                        self._database_url,
                        autocommit=True,
                        application_name="invorder-worker-vacuum",
                        **self._connect_options,
                    ) as conn:
                        await db.execute(conn, Q.vacuum_jobs)
                    log.debug("vacuumed jobs (%d dead rows)", dead, extra={"worker_id": self.id})
                warned = False
            except (psycopg.Error, OSError, InvorderError) as exc:
                if not warned:  # once per outage is enough; the loop goes on
                    log.warning("could not vacuum jobs: %s", exc, extra={"worker_id": self.id})
                    warned = True
            await asyncio.sleep(cfg.vacuum_interval_s)

    async def _listen(self) -> None:
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


@dataclass(frozen=True)
class _KindCounters:
    """The per-job counters of one kind, resolved once: `Counter.labels()` costs about 2 us a
    call, several times the cost of the increment itself, and the executor runs tens of
    thousands of jobs a second."""

    succeeded: Any
    snoozed: Any


@functools.cache
def _counters(kind: str) -> _KindCounters:
    return _KindCounters(metrics.JOBS_SUCCEEDED.labels(kind), metrics.JOBS_SNOOZED.labels(kind))


class _Id(msgspec.Struct, frozen=True):
    id: int


class _Kind(msgspec.Struct, frozen=True):
    kind: str


class _Rescued(msgspec.Struct, frozen=True):
    id: int
    status: str


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
