"""Periodic jobs: at most one job of a kind ready or running, and each run schedules the next;
an interval of 0 or less turns the kind off (nothing is seeded or scheduled)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from invorder import db
from invorder.errors import InvorderError
from invorder.queue.jobs import DEFAULT_PRIORITY, enqueue_unique

log = logging.getLogger(__name__)


async def schedule_next(
    conn: db.Conn,
    kind: str,
    *,
    interval_s: float,
    at_once: bool = False,
    after_job: int | None = None,
    wait: bool = True,
    priority: int = DEFAULT_PRIORITY,
    max_attempts: int = 10,
) -> int | None:
    """Enqueue the next job of `kind`, due one interval from now (or now, `at_once`), unless the
    kind is off or one is ready or running already (`after_job`, the caller's own, not counted):
    the new job's id, or None."""
    if interval_s <= 0:
        return None
    run_after = None if at_once else datetime.now(UTC) + timedelta(seconds=interval_s)
    return await enqueue_unique(
        conn,
        kind,
        {},
        except_job_id=after_job,
        wait=wait,
        priority=priority,
        run_after=run_after,
        max_attempts=max_attempts,
    )


async def seed(
    pool: Any, kind: str, *, interval_s: float, priority: int = DEFAULT_PRIORITY, max_attempts: int = 10
) -> None:
    """At worker start-up: the first job of `kind`, due now, unless one exists or the kind is off
    (`interval_s` 0 or less). Does not wait for
    another process doing the same (the lock holder adds one or sees one). A database error is
    logged, not raised: the work in hand matters more than the schedule, which the next start seeds."""
    if interval_s <= 0:
        return
    try:
        async with db.transaction(pool) as conn:
            job_id = await schedule_next(
                conn,
                kind,
                interval_s=interval_s,
                at_once=True,
                wait=False,
                priority=priority,
                max_attempts=max_attempts,
            )
    except (psycopg.Error, OSError, InvorderError) as exc:
        log.warning("could not schedule the %s job: %s", kind, exc)
        return
    if job_id is not None:
        log.info("%s job %d scheduled", kind, job_id, extra={"job_id": job_id})
