"""Periodic jobs: at most one job of a kind ready or running, and each run schedules the next."""

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
    delay_s: float,
    after_job: int | None = None,
    wait: bool = True,
    priority: int = DEFAULT_PRIORITY,
    max_attempts: int = 10,
) -> int | None:
    """Enqueue the next job of `kind`, due in `delay_s` (0: now), unless one is ready or running
    already (`after_job`, the caller's own, not counted): the new job's id, or None."""
    run_after = datetime.now(UTC) + timedelta(seconds=delay_s) if delay_s > 0 else None
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


async def seed(pool: Any, kind: str, *, priority: int = DEFAULT_PRIORITY, max_attempts: int = 10) -> None:
    """At worker start-up: the first job of `kind`, due now, unless one exists. Does not wait for
    another process doing the same (the lock holder adds one or sees one). A database error is
    logged, not raised: the work in hand matters more than the schedule, which the next start seeds."""
    try:
        async with db.transaction(pool) as conn:
            job_id = await schedule_next(
                conn, kind, delay_s=0, wait=False, priority=priority, max_attempts=max_attempts
            )
    except (psycopg.Error, OSError, InvorderError) as exc:
        log.warning("could not schedule the %s job: %s", kind, exc)
        return
    if job_id is not None:
        log.info("%s job %d scheduled", kind, job_id, extra={"job_id": job_id})
