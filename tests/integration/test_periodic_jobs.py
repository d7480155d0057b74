"""The queue's periodic jobs (queue/periodic.py) through the `prune_events` job: seeded once
however many workers start, and each run leaves exactly one successor, due one interval later,
or at once while a full batch was pruned."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from invorder import db
from invorder.db.queries import queries
from invorder.events import feed
from invorder.events.feed import PRUNE_EVENTS, PruneEventsJob, seed_prune_job
from invorder.queue import Complete, Job, JobContext, enqueue
from invorder.settings import Settings

Q = queries()


def prune_jobs(sql: Any) -> list[tuple[int, str, float]]:
    return sql.execute(
        "select id, status, extract(epoch from run_after - now())::float8 from jobs where kind = %s order by id",
        (PRUNE_EVENTS,),
    ).fetchall()


def run(database_url: str, settings: Settings, *, runs: int) -> None:
    async def main() -> None:
        pool = db.open_pool(database_url, min_size=1, max_size=12)
        await pool.open(wait=True)
        try:
            await asyncio.gather(*[seed_prune_job(pool, settings) for _ in range(10)])
            async with db.transaction(pool) as conn:
                [job] = await db.many(conn, Q.claim_jobs, Job, kinds=[PRUNE_EVENTS], limit=5, owner="me", lease_s=30)
            await seed_prune_job(pool, settings)  # a worker starting now sees the running one
            handler = PruneEventsJob(settings)
            for _ in range(runs):  # twice: as after a crash between its commit and its completion
                assert isinstance(await handler(job, JobContext(pool=pool, worker_id="me")), Complete)
        finally:
            await pool.close()

    asyncio.run(main())


def test_workers_seed_one_prune_job_and_a_run_schedules_one_successor(
    database_url: str, settings: Settings, sql: Any
) -> None:
    every_minute = msgspec.structs.replace(settings, event_prune_interval_s=60.0)
    run(database_url, every_minute, runs=2)
    jobs = prune_jobs(sql)
    assert [status for _, status, _ in jobs] == ["running", "ready"]  # the one that ran, and one successor
    assert 50 < jobs[1][2] <= 60


def test_a_full_batch_schedules_the_next_run_at_once(
    database_url: str, settings: Settings, sql: Any, monkeypatch: Any
) -> None:
    async def full_batch(pool: Any, retention_s: float) -> tuple[int, int]:
        return feed.PRUNE_BATCH, 0

    monkeypatch.setattr(feed, "prune", full_batch)
    run(database_url, msgspec.structs.replace(settings, event_prune_interval_s=60.0), runs=1)
    jobs = prune_jobs(sql)
    assert [status for _, status, _ in jobs] == ["running", "ready"] and jobs[1][2] <= 0


def test_a_job_left_from_before_pruning_was_turned_off_schedules_no_successor(
    database_url: str, settings: Settings, sql: Any
) -> None:
    async def main() -> None:
        pool = db.open_pool(database_url, min_size=1, max_size=2)
        await pool.open(wait=True)
        try:
            async with db.transaction(pool) as conn:
                await enqueue(conn, PRUNE_EVENTS, {})
                [job] = await db.many(conn, Q.claim_jobs, Job, kinds=[PRUNE_EVENTS], limit=5, owner="me", lease_s=30)
            off = PruneEventsJob(settings)  # event_prune_interval_s is 0 in the tests' environment
            assert isinstance(await off(job, JobContext(pool=pool, worker_id="me")), Complete)
        finally:
            await pool.close()

    asyncio.run(main())
    assert [status for _, status, _ in prune_jobs(sql)] == ["running"]  # the one that ran; no successor


def test_interval_0_seeds_nothing(database_url: str, settings: Settings, sql: Any) -> None:
    assert settings.event_prune_interval_s == 0  # as the tests' environment sets it

    async def main() -> None:
        pool = db.open_pool(database_url, min_size=1, max_size=2)
        await pool.open(wait=True)
        try:
            await seed_prune_job(pool, settings)
        finally:
            await pool.close()

    asyncio.run(main())
    assert prune_jobs(sql) == []
