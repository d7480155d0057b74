"""The periodic `reconcile` job: one reconciliation with repairs, then the next run scheduled."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg

from invorder import db
from invorder.ops.reconcile import reconcile
from invorder.payments.client import PaymentsClient
from invorder.queue import Complete, Job, JobContext, Outcome, Registry, enqueue_unique
from invorder.settings import Settings

log = logging.getLogger(__name__)
RECONCILE = "reconcile"  # the job kind
RECONCILE_PRIORITY = 200  # after order processing (lower runs first)


async def schedule_reconcile(
    conn: db.Conn, settings: Settings, *, after_job: int | None = None, wait: bool = True
) -> int | None:
    """Enqueue the next `reconcile` job unless one is ready or running (the job `after_job`, the
    caller's own, not counted): due now at start-up, one interval from now after a run. None when
    one exists already or the interval is 0 (disabled)."""
    if settings.reconcile_interval_s <= 0:
        return None
    run_after = None if after_job is None else datetime.now(UTC) + timedelta(seconds=settings.reconcile_interval_s)
    return await enqueue_unique(
        conn,
        RECONCILE,
        {},
        except_job_id=after_job,
        wait=wait,
        priority=RECONCILE_PRIORITY,
        run_after=run_after,
        max_attempts=settings.job_max_attempts,
    )


async def seed_reconcile_job(pool: Any, settings: Settings) -> None:
    """At worker start-up: enqueue the first `reconcile` job if none exists. Does not wait for
    another process doing the same (the lock holder adds one or sees one). A database error is
    logged, not raised: orders matter more than the schedule, which the next start seeds."""
    try:
        async with db.transaction(pool) as conn:
            job_id = await schedule_reconcile(conn, settings, wait=False)
    except (psycopg.Error, OSError) as exc:
        log.warning("could not schedule the reconcile job: %s", exc)
        return
    if job_id is not None:
        log.info("reconcile job %d scheduled", job_id, extra={"job_id": job_id})


class ReconcileJob:
    """The `reconcile` job handler: one reconciliation with repairs, then the next run scheduled.
    A run that fails is logged and the next one scheduled all the same, so one bad run never
    stops the schedule; if even scheduling fails (database down), the job is retried."""

    def __init__(self, settings: Settings, payments: PaymentsClient) -> None:
        self.settings = settings
        self.payments = payments

    async def __call__(self, job: Job, ctx: JobContext) -> Outcome:
        fields = {"job_id": job.id, "worker_id": ctx.worker_id}
        try:
            report = await reconcile(
                ctx.pool, self.payments, reservation_ttl_s=self.settings.reservation_ttl_s, repair=True
            )
        except Exception:
            log.exception("reconcile run failed", extra=fields)
        else:
            level = logging.WARNING if report.remaining or not report.payments.checked else logging.INFO
            log.log(
                level,
                "reconcile: %d drift found, %d repaired, %d remaining%s",
                report.found,
                report.repaired,
                report.remaining,
                "" if report.payments.checked else f"; charges not checked ({report.payments.error})",
                extra={**fields, "drift": [msgspec.structs.asdict(d) for d in report.drift if not d.repaired]},
            )
        async with db.transaction(ctx.pool) as conn:
            await schedule_reconcile(conn, self.settings, after_job=job.id)
        return Complete()


def register_reconcile_handler(registry: Registry, settings: Settings, payments: PaymentsClient) -> None:
    registry.register(RECONCILE, ReconcileJob(settings, payments))
