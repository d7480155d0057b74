"""The executor: runs a job, or a batch of one kind, with its handler and turns what it answers into outcomes."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from invorder import metrics
from invorder.logs import bind_log_context
from invorder.queue.completer import Completer
from invorder.queue.jobs import Complete, Job, JobContext, Outcome, backoff_s
from invorder.queue.registry import BatchHandler, Registry

if TYPE_CHECKING:
    from invorder.queue.config import WorkerConfig

# The worker's logger, as before the split: every line keeps its `logger` field.
log = logging.getLogger("invorder.queue.worker")


@dataclass(slots=True)
class Tally:
    """What the worker's jobs came to: totals since start, and per-kind counts the heartbeat
    has not yet added to job_throughput."""

    done: int = 0
    failed: int = 0
    unreported: dict[str, Counter[str]] = field(default_factory=dict)

    def count(self, kind: str, what: str) -> None:
        self.unreported.setdefault(kind, Counter())[what] += 1
        if what == "done":
            self.done += 1
        elif what == "failed":
            self.failed += 1

    def take_unreported(self) -> dict[str, Counter[str]]:
        counts, self.unreported = self.unreported, {}
        return counts

    def keep_unreported(self, counts: dict[str, Counter[str]]) -> None:
        """Put back counts a report could not write, for the next one."""
        for kind, counter in counts.items():
            self.unreported.setdefault(kind, Counter()).update(counter)


class Executor:
    def __init__(
        self,
        registry: Registry,
        config: WorkerConfig,
        worker_id: str,
        completer: Completer,
        context: JobContext,
        tally: Tally,
        *,
        running: dict[int, asyncio.Task[None]],
        slot_free: asyncio.Event,
    ) -> None:
        """`running` (job id to the task running it) and `slot_free` are the worker's, shared
        with the producer, which adds the tasks this removes."""
        self.registry = registry
        self.config = config
        self.id = worker_id
        self._completer = completer
        self._context = context
        self._tally = tally
        self._running = running
        self._slot_free = slot_free

    async def execute_one(self, job: Job) -> None:
        # This runs as its own task: what it binds lasts as long as the job, in every line it logs.
        bind_log_context(worker_id=self.id, job_id=job.id, kind=job.kind)
        handler = self.registry.handler(job.kind)

        async def one(jobs: Sequence[Job], ctx: JobContext) -> list[Outcome]:
            return [await handler(jobs[0], ctx)]

        await self._execute([job], one)

    async def execute_batch(self, jobs: list[Job]) -> None:
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
            self._tally.count(job.kind, "done")
            _counters(job.kind).succeeded.inc()
        else:
            self._completer.release(job.id, delay_s=outcome.delay_s, error=outcome.reason or None, failed=False)
            _counters(job.kind).snoozed.inc()

    def _record_failure(self, job: Job, exc: Exception) -> None:
        delay = backoff_s(job.attempts, base_s=self.config.retry_base_s, max_s=self.config.retry_max_s)
        last = job.attempts >= job.max_attempts
        self._tally.count(job.kind, "failed")
        if last:
            self._tally.count(job.kind, "dead")
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

    async def finish_in_flight(self) -> None:
        """Give the jobs in hand `shutdown_timeout_s` to finish, then cancel the rest (each
        cancelled one is handed back)."""
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


@dataclass(frozen=True)
class _KindCounters:
    """The per-job counters of one kind, resolved once: `Counter.labels()` costs several times
    the increment itself, and the executor runs every job through them."""

    succeeded: Any
    snoozed: Any


@functools.cache
def _counters(kind: str) -> _KindCounters:
    return _KindCounters(metrics.JOBS_SUCCEEDED.labels(kind), metrics.JOBS_SNOOZED.labels(kind))
