"""The periodic `reconcile` job: one reconciliation with repairs, then the next run scheduled."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from invorder import db
from invorder.ops.reconcile import reconcile
from invorder.payments.client import PaymentsClient
from invorder.queue import Complete, Job, JobContext, Outcome, Registry, periodic
from invorder.settings import Settings

log = logging.getLogger(__name__)
RECONCILE = "reconcile"  # the job kind
RECONCILE_PRIORITY = 200  # after order processing (lower runs first)


async def seed_reconcile_job(pool: Any, settings: Settings) -> None:
    """At worker start-up: the first `reconcile` job, due now, unless one exists (or the
    interval is 0: disabled)."""
    await periodic.seed(
        pool,
        RECONCILE,
        interval_s=settings.reconcile_interval_s,
        priority=RECONCILE_PRIORITY,
        max_attempts=settings.job_max_attempts,
    )


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
                "" if report.payments.checked else f"; charges and refunds not checked ({report.payments.error})",
                extra={**fields, "drift": [msgspec.structs.asdict(d) for d in report.drift if not d.repaired]},
            )
        async with db.transaction(ctx.pool) as conn:
            await periodic.schedule_next(
                conn,
                RECONCILE,
                interval_s=self.settings.reconcile_interval_s,
                after_job=job.id,
                priority=RECONCILE_PRIORITY,
                max_attempts=self.settings.job_max_attempts,
            )
        return Complete()


def register_reconcile_handler(registry: Registry, settings: Settings, payments: PaymentsClient) -> None:
    registry.register(RECONCILE, ReconcileJob(settings, payments))
