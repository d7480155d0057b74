"""Job administration for operators: queue statistics, reading jobs, and the actions on them, each recorded
in `job_admin_actions`; the CLI (`invorder jobs`) and the ops API call these, with no SQL of their own."""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any, Literal, get_args

import msgspec
from psycopg.types.json import Jsonb

from invorder import db
from invorder.db.queries import queries
from invorder.errors import BadRequest, FieldError, InvalidInput, NotFound
from invorder.queue.jobs import LIMITS_CHANNEL, notify_workers

log = logging.getLogger(__name__)
Q = queries()

JobStatus = Literal["ready", "running", "dead", "cancelled"]
JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)
PurgeableStatus = Literal["dead", "cancelled"]
PURGEABLE_STATUSES: tuple[PurgeableStatus, ...] = get_args(PurgeableStatus)
PURGE_BATCH = 5000
MAX_IDS = 1000
MAX_RUNNING_LIMIT = 10_000  # the largest limit on a kind's jobs running at once


class QueueDepthRow(msgspec.Struct, frozen=True):
    kind: str
    ready: int
    scheduled: int
    running: int
    dead: int
    cancelled: int
    oldest_ready_age_s: float


class JobRow(msgspec.Struct, frozen=True):
    id: int
    kind: str
    status: str
    priority: int
    attempts: int
    max_attempts: int
    run_after: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    payload: dict[str, Any]


class StuckJobRow(msgspec.Struct, frozen=True):
    id: int
    kind: str
    status: str
    reason: str
    lease_owner: str | None
    attempts: int
    max_attempts: int
    stuck_for_s: float
    last_error: str | None


class FailureRow(msgspec.Struct, frozen=True):
    id: int
    kind: str
    status: str
    attempts: int
    max_attempts: int
    last_error: str | None
    updated_at: datetime


class WorkerRow(msgspec.Struct, frozen=True):
    worker_id: str
    started_at: datetime
    last_seen_at: datetime
    kinds: list[str]
    concurrency: int
    jobs_in_hand: int
    jobs_done: int
    jobs_failed: int
    stopped_at: datetime | None
    alive: bool


class ThroughputRow(msgspec.Struct, frozen=True):
    minute: datetime
    done: int
    failed: int
    dead: int


class AdminActionRow(msgspec.Struct, frozen=True):
    id: int
    acted_at: datetime
    actor: str
    action: str
    job_ids: list[int]
    affected: int
    details: dict[str, Any]


class PausedKindRow(msgspec.Struct, frozen=True):
    kind: str
    paused_at: datetime
    paused_by: str


class KindPause(msgspec.Struct, frozen=True):
    """What pause and resume answer: the kind, and whether it is paused now."""

    kind: str
    paused: bool


class KindLimitRow(msgspec.Struct, frozen=True):
    kind: str
    max_running: int
    set_at: datetime
    set_by: str


class KindLimit(msgspec.Struct, frozen=True):
    """What setting or lifting a limit answers: the kind, and its limit now (null: none)."""

    kind: str
    max_running: int | None


class ActionResult(msgspec.Struct, frozen=True):
    """What an action changed: the ids it applied to, and the asked-for ids it left alone."""

    action: str
    affected: list[int]
    skipped: list[int]


class QueueFigures(msgspec.Struct, frozen=True):
    """The queue's own gauges: depth per kind, workers seen in the last ten minutes, paused and
    limited kinds."""

    queues: list[QueueDepthRow]
    workers: list[WorkerRow]
    paused: list[PausedKindRow]
    limits: list[KindLimitRow]


class _IdKind(msgspec.Struct, frozen=True):
    id: int
    kind: str


async def queue_figures(conn: db.Conn) -> QueueFigures:
    return QueueFigures(
        queues=await db.many(conn, Q.queue_depth_by_kind, QueueDepthRow),
        workers=await db.many(conn, Q.list_queue_workers, WorkerRow, seen_within_s=600),
        paused=await db.many(conn, Q.list_paused_job_kinds, PausedKindRow),
        limits=await db.many(conn, Q.list_job_kind_limits, KindLimitRow),
    )


async def job_throughput(conn: db.Conn, *, minutes: int) -> list[ThroughputRow]:
    """Jobs done, failed and dead per minute over the last `minutes`, active minutes only."""
    return await db.many(conn, Q.recent_job_throughput, ThroughputRow, minutes=minutes)


async def stuck_jobs(conn: db.Conn, *, limit: int) -> list[StuckJobRow]:
    return await db.many(conn, Q.list_stuck_jobs, StuckJobRow, limit=limit)


async def recent_failures(conn: db.Conn, *, limit: int) -> list[FailureRow]:
    return await db.many(conn, Q.list_recent_failures, FailureRow, limit=limit)


def check_status(status: str | None) -> None:
    if status is not None and status not in JOB_STATUSES:
        message = f"status must be one of {', '.join(JOB_STATUSES)}"
        raise InvalidInput(message, [FieldError("status", message)])


async def list_jobs(
    pool: Any, *, kind: str | None = None, status: str | None = None, after_id: int = 0, limit: int = 50
) -> list[JobRow]:
    check_status(status)
    async with db.transaction(pool) as conn:
        return await db.many(conn, Q.list_jobs, JobRow, kind=kind, status=status, after_id=after_id, limit=limit)


async def get_job(pool: Any, job_id: int) -> JobRow:
    async with db.transaction(pool) as conn:
        job = await db.one(conn, Q.get_job, JobRow, id=job_id)
    if job is None:
        raise NotFound(f"no job {job_id} (finished jobs are deleted)", [FieldError("id", "no such job")])
    return job


async def list_admin_actions(pool: Any, *, limit: int = 50) -> list[AdminActionRow]:
    async with db.transaction(pool) as conn:
        return await db.many(conn, Q.list_job_admin_actions, AdminActionRow, limit=limit)


def _check_ids(ids: list[int]) -> list[int]:
    unique = sorted(set(ids))
    if not unique:
        raise InvalidInput("name at least one job id", [FieldError("ids", "empty")])
    if len(unique) > MAX_IDS:
        raise InvalidInput(f"at most {MAX_IDS} job ids at once", [FieldError("ids", "too many")])
    if unique[0] < 1:
        raise InvalidInput("job ids are positive", [FieldError("ids", "not a job id")])
    return unique


async def retry_jobs(pool: Any, ids: list[int], *, actor: str) -> ActionResult:
    """Run dead, cancelled or later-scheduled jobs now with fresh attempts (running ones are
    left alone); recorded with `actor`."""
    return await _act(pool, "retry", Q.retry_jobs, _check_ids(ids), actor=actor)


async def cancel_jobs(pool: Any, ids: list[int], *, actor: str) -> ActionResult:
    """Give up ready or dead jobs (running ones are left to their worker); recorded with `actor`."""
    return await _act(pool, "cancel", Q.cancel_jobs, _check_ids(ids), actor=actor)


async def _act(pool: Any, action: str, query: Any, ids: list[int], *, actor: str) -> ActionResult:
    async with db.transaction(pool) as conn:
        changed = await db.many(conn, query, _IdKind, ids=ids)
        affected = sorted(row.id for row in changed)
        if action == "retry":
            for kind in sorted({row.kind for row in changed}):
                await notify_workers(conn, kind)
        await _record_action(
            conn,
            actor,
            action,
            job_ids=ids,
            affected=len(affected),
            details={"kinds": sorted({row.kind for row in changed})},
        )
    skipped = sorted(set(ids) - set(affected))
    log.info(
        "%s: %s %d jobs (%d left alone)",
        actor,
        action,
        len(affected),
        len(skipped),
        extra={"actor": actor, "action": action, "job_ids": affected, "skipped": skipped},
    )
    return ActionResult(action, affected, skipped)


async def _record_action(
    conn: db.Conn, actor: str, action: str, *, job_ids: list[int], affected: int, details: dict[str, Any]
) -> None:
    """One row of `job_admin_actions`: who did what, to which jobs, how many it changed."""
    await db.execute(
        conn,
        Q.record_job_admin_action,
        actor=actor,
        action=action,
        job_ids=job_ids,
        affected=affected,
        details=Jsonb(details),
    )


async def purge_jobs(
    pool: Any, *, older_than_s: float, statuses: tuple[str, ...] = PURGEABLE_STATUSES, actor: str
) -> int:
    """Delete dead and/or cancelled jobs last changed more than `older_than_s` ago, in batches
    (each its own short transaction); recorded with `actor`. The number deleted."""
    bad = [s for s in statuses if s not in PURGEABLE_STATUSES]
    if bad or not statuses:
        message = f"only {' and '.join(PURGEABLE_STATUSES)} jobs can be purged"
        raise InvalidInput(message, [FieldError("statuses", message)])
    if not math.isfinite(older_than_s) or not 0 <= older_than_s <= MAX_DURATION_S:
        raise InvalidInput("older_than must be between 0 and 100 years", [FieldError("older_than", "out of range")])
    total = 0
    while True:
        async with db.transaction(pool) as conn:
            deleted = await db.execute(
                conn,
                Q.purge_jobs,
                statuses=list(statuses),
                older_than_s=float(older_than_s),
                batch=PURGE_BATCH,
            )
        total += deleted
        if deleted < PURGE_BATCH:
            break
    details = {"older_than_s": older_than_s, "statuses": list(statuses)}
    async with db.transaction(pool) as conn:
        await _record_action(conn, actor, "purge", job_ids=[], affected=total, details=details)
    log.info("%s: purged %d jobs", actor, total, extra={"actor": actor, "action": "purge", **details})
    return total


MAX_DURATION_S = 100 * 365 * 86400  # beyond it PostgreSQL's intervals and timestamps give out


class _Known(msgspec.Struct, frozen=True):
    known: bool


async def set_kind_paused(
    pool: Any, kind: str, *, paused: bool, actor: str, known_kinds: tuple[str, ...] = ()
) -> KindPause:
    """Pause or resume `kind`: no worker claims a paused kind's jobs (those running finish).
    Doing it twice is a no-op (recorded as affecting nothing); a kind no one knows (not in
    `known_kinds`, registered by no worker, with no job) is a 404."""
    action = "pause" if paused else "resume"
    async with db.transaction(pool) as conn:
        await _check_kind_known(conn, kind, known_kinds)
        if paused:
            changed = await db.execute(conn, Q.pause_job_kind, kind=kind, actor=actor)
        else:
            changed = await db.execute(conn, Q.resume_job_kind, kind=kind)
        if not paused and changed:
            await notify_workers(conn, kind)  # its waiting jobs are claimable again
        await _record_action(conn, actor, action, job_ids=[], affected=changed, details={"kind": kind})
    log.info("%s: %s job kind %s%s", actor, action, kind, "" if changed else " (no change)")
    return KindPause(kind, paused)


async def _check_kind_known(conn: db.Conn, kind: str, known_kinds: tuple[str, ...]) -> None:
    found = await db.one(conn, Q.job_kind_known, _Known, kind=kind, known=list(known_kinds))
    if found is None or not found.known:
        raise NotFound(f"no job kind {kind!r}", [FieldError("kind", "no such job kind")])


async def set_kind_limit(
    pool: Any, kind: str, max_running: int | None, *, actor: str, known_kinds: tuple[str, ...] = ()
) -> KindLimit:
    """Let at most `max_running` jobs of `kind` run at once across every worker, or lift the
    limit (None). Jobs running beyond a new, lower limit finish; no new one starts until fewer
    run. Setting the limit a kind has, or lifting one it does not have, is a no-op (recorded
    as affecting nothing); a kind no one knows is a 404, as for a pause. Workers are told at
    commit (they also read the limits at each heartbeat)."""
    if max_running is not None and not 1 <= max_running <= MAX_RUNNING_LIMIT:
        message = f"max_running is between 1 and {MAX_RUNNING_LIMIT}"
        raise BadRequest(message, [FieldError("max_running", message)])
    action = "unlimit" if max_running is None else "limit"
    async with db.transaction(pool) as conn:
        await _check_kind_known(conn, kind, known_kinds)
        if max_running is None:
            changed = await db.execute(conn, Q.unlimit_job_kind, kind=kind)
        else:
            changed = await db.execute(conn, Q.limit_job_kind, kind=kind, max_running=max_running, actor=actor)
        if changed:
            # Workers read their limited kinds again, and claim at once what a lifted or
            # raised limit lets them.
            await db.execute(conn, Q.notify_job_kind_limits, channel=LIMITS_CHANNEL, kind=kind)
        await _record_action(
            conn, actor, action, job_ids=[], affected=changed, details={"kind": kind, "max_running": max_running}
        )
    log.info(
        "%s: %s job kind %s%s%s",
        actor,
        action,
        kind,
        "" if max_running is None else f" to {max_running} running at once",
        "" if changed else " (no change)",
        extra={"actor": actor, "action": action, "kind": kind, "max_running": max_running},
    )
    return KindLimit(kind, max_running)
