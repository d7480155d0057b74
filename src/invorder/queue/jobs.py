"""Jobs as values: the row a worker holds, what a handler answers, backoff, and enqueueing."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from psycopg.types.json import Jsonb

from invorder import db
from invorder.db.queries import queries

Q = queries()
DEFAULT_PRIORITY = 100
# The channels workers LISTEN on, named here once (a migration's trigger, 20261203100200, spells
# CHANNEL again): a kind has runnable jobs; a kind's limit changed.
CHANNEL = "invorder_jobs"
LIMITS_CHANNEL = "invorder_job_limits"
_RNG = random.Random()


class Job(msgspec.Struct, frozen=True):
    """A claimed job, as the worker holds it."""

    id: int
    kind: str
    payload: dict[str, Any]
    priority: int
    attempts: int
    max_attempts: int
    created_at: datetime
    # The server run that granted the claim (SQL `server_run()`: its postmaster's start time,
    # in microseconds since the epoch): the job is deleted as done only on that same server
    # run, never after a restart or failover in between (complete_jobs, sql/queries/jobs.sql).
    server_run: int


@dataclass(frozen=True, slots=True)
class Complete:
    """The job is done: it is deleted."""


@dataclass(frozen=True, slots=True)
class Snooze:
    """Run the job again after `delay_s` without counting an attempt (waiting is not failing)."""

    delay_s: float
    reason: str = ""


Outcome = Complete | Snooze


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler gets beside its job: the worker's pool and its name."""

    pool: Any
    worker_id: str


def backoff_s(attempt: int, *, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Exponential backoff, capped, with "equal jitter": half the step fixed, half random, so
    retries of many jobs that failed together spread out instead of returning in a herd."""
    step = min(max_s, base_s * 2.0 ** max(0, attempt - 1))
    jitter = (rng or _RNG).uniform(0, step / 2)
    return step / 2 + jitter


async def enqueue(
    conn: db.Conn,
    kind: str,
    payload: dict[str, Any],
    *,
    priority: int = DEFAULT_PRIORITY,
    run_after: datetime | None = None,
    max_attempts: int = 10,
) -> int:
    """Add a job in the caller's transaction and wake the workers when it commits."""
    job_id = await db.scalar(
        conn,
        Q.enqueue_job,
        channel=CHANNEL,
        kind=kind,
        payload=Jsonb(payload),
        priority=priority,
        run_after=run_after,
        max_attempts=max_attempts,
    )
    return int(job_id)


async def enqueue_unique(
    conn: db.Conn,
    kind: str,
    payload: dict[str, Any],
    *,
    except_job_id: int | None = None,
    wait: bool = True,
    priority: int = DEFAULT_PRIORITY,
    run_after: datetime | None = None,
    max_attempts: int = 10,
) -> int | None:
    """Add a job of `kind` unless one is ready or running already (not counting `except_job_id`,
    the job of a caller that schedules its own successor): the id of the new job, or None.
    A transaction-scoped advisory lock per kind serialises these writers, so two of them can never
    both see "none" and both add one. With `wait=False` a caller that finds the lock taken adds
    nothing: the holder is adding one or sees one. A job rescheduling itself must wait, since the
    holder may be a worker starting up that counted the running job and will add nothing."""
    if wait:
        await db.execute(conn, Q.lock_job_kind, kind=kind)
    elif not await db.scalar(conn, Q.try_lock_job_kind, kind=kind):
        return None
    if await db.scalar(conn, Q.count_live_jobs_of_kind, kind=kind, except_id=except_job_id):
        return None
    return await enqueue(conn, kind, payload, priority=priority, run_after=run_after, max_attempts=max_attempts)


async def enqueue_many(
    conn: db.Conn,
    kind: str,
    payloads: list[dict[str, Any]],
    *,
    priority: int = DEFAULT_PRIORITY,
    max_attempts: int = 10,
) -> int:
    """Add many jobs of one kind in one statement, with one notification."""
    count = await db.execute(
        conn, Q.enqueue_jobs, kind=kind, payloads=Jsonb(payloads), priority=priority, max_attempts=max_attempts
    )
    await notify_workers(conn, kind)
    return count


async def notify_workers(conn: db.Conn, kind: str) -> None:
    """Wake listening workers when the caller's transaction commits (e.g. after making jobs
    runnable sooner)."""
    await db.execute(conn, Q.notify_jobs, channel=CHANNEL, kind=kind)
