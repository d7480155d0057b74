"""The worker's periodic work: lease renewal, rescue of dead workers' jobs, heartbeat, vacuum."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec
import psycopg

from invorder import db
from invorder.db.queries import queries
from invorder.errors import InvorderError
from invorder.queue.executor import Tally
from invorder.queue.registry import Registry

if TYPE_CHECKING:
    from invorder.queue.config import WorkerConfig

# The worker's logger, as before the split: every line keeps its `logger` field.
log = logging.getLogger("invorder.queue.worker")
Q = queries()


class Maintenance:
    def __init__(
        self,
        pool: Any,
        registry: Registry,
        config: WorkerConfig,
        worker_id: str,
        tally: Tally,
        *,
        wake: asyncio.Event,
        running: dict[int, asyncio.Task[None]],
        held: set[int],
        writing_jobs: asyncio.Lock,
        after_heartbeat: Callable[[], None],
        database_url: str,
        connect_options: Mapping[str, Any],
    ) -> None:
        """`wake`, `running`, `held` and `writing_jobs` are the worker's, shared with the
        producer, the executor and the completer; `after_heartbeat` runs after each report."""
        self.pool = pool
        self.registry = registry
        self.config = config
        self.id = worker_id
        self._tally = tally
        self._wake = wake
        self._running = running
        self._held = held
        self._writing_jobs = writing_jobs  # see Completer: renewals and completions take turns
        self._after_heartbeat = after_heartbeat
        self._database_url = database_url  # a direct session, for VACUUM
        self._connect_options = connect_options

    async def renew_leases(self) -> None:
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

    async def rescue_expired(self) -> None:
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

    async def heartbeat(self) -> None:
        beats = 0
        while True:
            await self.report(prune=beats % 60 == 0)
            self._after_heartbeat()  # the producer reads the limits again before its next claim
            beats += 1
            await asyncio.sleep(self.config.heartbeat_s)

    async def report(self, *, stopped: bool = False, prune: bool = False) -> None:
        """Write this worker's queue_workers row and add its counts since the last report to
        job_throughput (both for operators and the dashboard); on a database error keep the
        counts for the next report."""
        counts = self._tally.take_unreported()
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
                    jobs_done=self._tally.done,
                    jobs_failed=self._tally.failed,
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
            self._tally.keep_unreported(counts)
            raise
        except Exception as exc:  # the report is for people: never let it stop the worker
            log.warning("could not write the worker's heartbeat: %s", exc, extra={"worker_id": self.id})
            self._tally.keep_unreported(counts)

    async def vacuum_jobs(self) -> None:
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


class _Id(msgspec.Struct, frozen=True):
    id: int


class _Rescued(msgspec.Struct, frozen=True):
    id: int
    status: str
