"""The job queue against a real PostgreSQL, in-process: claim order, SKIP LOCKED, backoff,
dead jobs, conditional completion, lease rescue, shutdown and NOTIFY wake-up."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg

from invorder import db
from invorder.db.queries import queries
from invorder.queue import Complete, Job, JobContext, Outcome, Registry, Snooze, enqueue, enqueue_many
from invorder.queue.completer import Completer
from invorder.queue.config import WorkerConfig
from invorder.queue.worker import Worker

Q = queries()
FAST = WorkerConfig(concurrency=4, lease_s=2, poll_interval_s=0.2, retry_base_s=0.05, retry_max_s=0.2)


def run(coro_fn: Callable[[Any], Awaitable[Any]], url: str) -> Any:
    async def main() -> Any:
        pool = db.open_pool(url, min_size=1, max_size=10)
        await pool.open(wait=True)
        try:
            return await coro_fn(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


async def add_jobs(pool: Any, kind: str, payloads: list[dict[str, Any]], **kw: Any) -> list[int]:
    async with db.transaction(pool) as conn:
        return [await enqueue(conn, kind, p, **kw) for p in payloads]


async def claim(pool: Any, owner: str, limit: int, kinds: list[str], lease_s: float = 30) -> list[Job]:
    async with db.transaction(pool) as conn:
        return await db.many(conn, Q.claim_jobs, Job, kinds=kinds, limit=limit, owner=owner, lease_s=lease_s)


async def poll_until(condition: Callable[[], bool], within_s: float) -> None:
    """Poll a condition the test cannot await directly (it lives in a handler or a worker)."""
    deadline = time.monotonic() + within_s
    while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


def registry_of(**handlers: Callable[[Job, JobContext], Awaitable[Outcome]]) -> Registry:
    registry = Registry()
    for kind, handler in handlers.items():
        registry.register(kind, handler)
    return registry


def test_claim_orders_by_priority_then_run_after_and_skips_future_jobs(database_url: str, sql: Any) -> None:
    async def body(pool: Any) -> list[int]:
        async with db.transaction(pool) as conn:
            low = await enqueue(conn, "k", {"n": "low"}, priority=200)
            first = await enqueue(conn, "k", {"n": "first"}, priority=10)
            second = await enqueue(conn, "k", {"n": "second"}, priority=10)
            await conn.execute("update jobs set run_after = now() + interval '1 hour' where id = %s", (second,))
            third = await enqueue(conn, "k", {"n": "third"}, priority=10)
            await enqueue(conn, "other", {})
        claimed = await claim(pool, "w1", 10, ["k"])
        assert [j.id for j in claimed] == [first, third, low]
        return [j.attempts for j in claimed]

    assert run(body, database_url) == [1, 1, 1]
    assert sql.execute("select count(*) from jobs where status = 'running' and lease_owner = 'w1'").fetchone()[0] == 3


def test_concurrent_claimers_never_get_the_same_job(database_url: str) -> None:
    async def body(pool: Any) -> list[list[int]]:
        async with db.transaction(pool) as conn:
            await enqueue_many(conn, "k", [{"i": i} for i in range(200)])
        batches = await asyncio.gather(*[claim(pool, f"w{n}", 30, ["k"]) for n in range(8)])
        return [[j.id for j in b] for b in batches]

    batches = run(body, database_url)
    ids = [i for b in batches for i in b]
    assert len(ids) == len(set(ids)) == 200


def test_failed_job_is_retried_after_backoff_then_dead_with_its_error(database_url: str, sql: Any) -> None:
    calls: list[float] = []

    async def failing(job: Job, ctx: JobContext) -> Outcome:
        calls.append(time.monotonic())
        raise ValueError(f"boom {job.attempts}")

    async def body(pool: Any) -> None:
        await add_jobs(pool, "fail", [{}], max_attempts=3)
        worker = Worker(pool, registry_of(fail=failing), database_url=database_url, config=FAST)
        task = asyncio.create_task(worker.run())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            async with db.transaction(pool) as conn:
                row = await (await conn.execute("select status from jobs")).fetchone()
            if row and row[0] == "dead":
                break
            await asyncio.sleep(0.05)
        worker.stop()
        await task

    run(body, database_url)
    assert len(calls) == 3
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert all(gap >= 0.025 for gap in gaps), gaps  # backoff >= half of 0.05 s base
    status, attempts, error, owner = sql.execute(
        "select status, attempts, last_error, lease_owner from jobs"
    ).fetchone()
    assert (status, attempts, owner) == ("dead", 3, None)
    assert error == "ValueError: boom 3"


def test_snooze_does_not_spend_an_attempt(database_url: str, sql: Any) -> None:
    seen: list[int] = []

    async def waits_twice(job: Job, ctx: JobContext) -> Outcome:
        seen.append(job.attempts)
        return Snooze(0.05, "not yet") if len(seen) < 3 else Complete()

    async def body(pool: Any) -> None:
        await add_jobs(pool, "w", [{}], max_attempts=1)
        worker = Worker(pool, registry_of(w=waits_twice), database_url=database_url, config=FAST)
        task = asyncio.create_task(worker.run())
        await poll_until(lambda: len(seen) >= 3, 10)
        worker.stop()
        await task

    run(body, database_url)
    assert seen == [1, 1, 1]
    assert sql.execute("select count(*) from jobs").fetchone()[0] == 0


def test_completion_is_conditional_on_still_holding_the_lease(database_url: str, sql: Any) -> None:
    async def body(pool: Any) -> tuple[int, int, int]:
        [job_id] = await add_jobs(pool, "k", [{}])
        [job] = await claim(pool, "old-owner", 1, ["k"], lease_s=0.1)
        await asyncio.sleep(0.3)  # let the lease run out (time, not synchronisation)
        async with db.transaction(pool) as conn:
            await conn.execute(Q.rescue_expired_jobs.sql)
        [again] = await claim(pool, "new-owner", 1, ["k"])
        async with db.transaction(pool) as conn:
            stale = await db.execute(conn, Q.complete_jobs, ids=[job.id], owner="old-owner", server_run=job.server_run)
            fresh = await db.execute(
                conn, Q.complete_jobs, ids=[again.id], owner="new-owner", server_run=again.server_run
            )
        return job_id, stale, fresh

    job_id, stale, fresh = run(body, database_url)
    assert (stale, fresh) == (0, 1)
    assert sql.execute("select count(*) from jobs where id = %s", (job_id,)).fetchone()[0] == 0


def test_job_of_a_worker_that_stopped_renewing_is_rescued_and_run_again(database_url: str, sql: Any) -> None:
    ran: list[int] = []

    async def ok(job: Job, ctx: JobContext) -> Outcome:
        ran.append(job.attempts)
        return Complete()

    async def body(pool: Any) -> None:
        await add_jobs(pool, "k", [{}])
        await claim(pool, "dead-worker", 1, ["k"], lease_s=0.5)  # claimed, then never renewed
        config = WorkerConfig(concurrency=2, lease_s=1, poll_interval_s=0.1, retry_base_s=0.05, retry_max_s=0.1)
        worker = Worker(pool, registry_of(k=ok), database_url=database_url, config=config)
        task = asyncio.create_task(worker.run())
        await poll_until(lambda: bool(ran), 15)
        worker.stop()
        await task

    run(body, database_url)
    assert ran == [2]  # the dead worker's claim counted as attempt 1
    assert sql.execute("select count(*) from jobs").fetchone()[0] == 0


def test_long_job_keeps_its_lease_while_it_runs(database_url: str, sql: Any) -> None:
    async def slow(job: Job, ctx: JobContext) -> Outcome:
        await asyncio.sleep(2.5)  # the work itself: longer than the 1 s lease
        return Complete()

    async def body(pool: Any) -> int:
        await add_jobs(pool, "slow", [{}])
        config = WorkerConfig(concurrency=1, lease_s=1, poll_interval_s=0.1)
        worker = Worker(pool, registry_of(slow=slow), database_url=database_url, config=config)
        other = Worker(pool, registry_of(slow=slow), database_url=database_url, config=config)
        tasks = [asyncio.create_task(worker.run()), asyncio.create_task(other.run())]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            async with db.transaction(pool) as conn:
                left = await db.scalar(conn, Q.count_jobs)
            if left is None:
                break
            await asyncio.sleep(0.05)
        worker.stop()
        other.stop()
        await asyncio.gather(*tasks)
        return worker.claimed + other.claimed

    assert run(body, database_url) == 1  # never rescued, never run twice


def test_shutdown_finishes_jobs_in_hand_and_hands_back_what_overruns(database_url: str, sql: Any) -> None:
    finished: list[str] = []

    async def handler(job: Job, ctx: JobContext) -> Outcome:
        await asyncio.sleep(float(job.payload["seconds"]))
        finished.append(job.payload["name"])
        return Complete()

    async def body(pool: Any) -> None:
        await add_jobs(pool, "h", [{"name": "quick", "seconds": 0.3}, {"name": "stuck", "seconds": 60}])
        config = WorkerConfig(concurrency=4, lease_s=30, poll_interval_s=0.1, shutdown_timeout_s=1.0)
        worker = Worker(pool, registry_of(h=handler), database_url=database_url, config=config)
        task = asyncio.create_task(worker.run())
        await poll_until(lambda: worker.claimed >= 2, 10)
        worker.stop()
        await asyncio.wait_for(task, 10)

    run(body, database_url)
    assert finished == ["quick"]
    rows = sql.execute("select payload->>'name', status, attempts, lease_owner from jobs").fetchall()
    assert rows == [("stuck", "ready", 0, None)]


def test_notify_wakes_an_idle_worker_long_before_its_poll(database_url: str) -> None:
    async def body(pool: Any) -> float:
        finished = asyncio.Event()

        async def handler(job: Job, ctx: JobContext) -> Outcome:
            finished.set()
            return Complete()

        config = WorkerConfig(concurrency=2, lease_s=30, poll_interval_s=60)
        worker = Worker(pool, registry_of(n=handler), database_url=database_url, config=config)
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(1.0)  # let it go idle: its first poll found nothing
        started = time.monotonic()
        await add_jobs(pool, "n", [{}])
        await asyncio.wait_for(finished.wait(), 30)
        latency = time.monotonic() - started
        worker.stop()
        await task
        return latency

    latency = run(body, database_url)
    assert latency < 30  # a poll would have taken 60 s: NOTIFY woke it


def test_enqueue_is_part_of_the_callers_transaction(database_url: str, sql: Any) -> None:
    async def body(pool: Any) -> None:
        try:
            async with db.transaction(pool) as conn:
                await enqueue(conn, "k", {})
                raise RuntimeError("the caller's work failed")
        except RuntimeError:
            pass

    run(body, database_url)
    assert sql.execute("select count(*) from jobs").fetchone()[0] == 0


def test_a_database_outage_in_the_claim_is_survived(database_url: str, pg_admin_url: str) -> None:
    ran: list[int] = []

    async def ok(job: Job, ctx: JobContext) -> Outcome:
        ran.append(job.id)
        return Complete()

    async def body(pool: Any) -> None:
        worker = Worker(pool, registry_of(k=ok), database_url=database_url, config=FAST)
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0.3)
        dbname = database_url.rsplit("/", 1)[1].split("?")[0]
        # End every session of this database, and wait until each has (without a timeout,
        # pg_terminate_backend returns before the backend is gone).
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(
                "select pg_terminate_backend(pid, 5000) from pg_stat_activity"
                " where datname = %s and pid <> pg_backend_pid()",
                (dbname,),
            )
        await add_jobs(pool, "k", [{}, {}])
        await poll_until(lambda: len(ran) >= 2, 20)
        worker.stop()
        await task

    run(body, database_url)
    assert len(ran) == 2


def test_a_worker_vacuums_the_jobs_table_once_finished_jobs_leave_dead_rows(database_url: str, sql: Any) -> None:
    """Autovacuum may be off or visit once a minute (docs/benchmarks.md, Retention): the worker
    itself makes the space of finished jobs reusable once enough dead rows have piled up."""

    def vacuums() -> int:
        sql.execute("select pg_stat_clear_snapshot()")
        row = sql.execute("select vacuum_count from pg_stat_user_tables where relname = 'jobs'").fetchone()
        return int(row[0]) if row else 0

    async def ok(job: Job, ctx: JobContext) -> Outcome:
        return Complete()

    async def body(pool: Any) -> None:
        async with db.transaction(pool) as conn:
            await enqueue_many(conn, "k", [{"i": i} for i in range(3000)])
        config = dataclasses.replace(FAST, concurrency=500, vacuum_interval_s=0.2, vacuum_dead_rows=2000)
        worker = Worker(pool, registry_of(k=ok), database_url=database_url, config=config)
        task = asyncio.create_task(worker.run())
        deadline = time.monotonic() + 30
        while vacuums() == before and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        worker.stop()
        await task

    # Autovacuum (on, on the embedded server) could clean the table first and leave the worker
    # nothing to do: this test is about the worker's own vacuum.
    sql.execute("alter table jobs set (autovacuum_enabled = off)")
    before = vacuums()
    run(body, database_url)
    assert vacuums() > before, "the worker never vacuumed jobs"
    assert sql.execute("select count(*) from jobs").fetchone()[0] == 0


# -- batch handlers ----------------------------------------------------------------------


def drain_config(concurrency: int) -> WorkerConfig:
    return dataclasses.replace(FAST, concurrency=concurrency, drain=True)


def test_batch_handler_gets_jobs_of_its_kind_together_and_each_outcome_stands_alone(
    database_url: str, sql: Any
) -> None:
    batches: list[list[int]] = []
    singles: list[int] = []

    async def batch(jobs: Sequence[Job], ctx: JobContext) -> list[Outcome]:
        batches.append([j.payload["n"] for j in jobs])
        # Odd jobs wait (once), even ones finish: one job's outcome does not decide another's.
        return [
            Snooze(0.05, "odd") if j.payload["n"] % 2 and j.attempts == 1 and len(batches) == 1 else Complete()
            for j in jobs
        ]

    async def single(job: Job, ctx: JobContext) -> Outcome:
        singles.append(job.payload["n"])
        return Complete()

    async def body(pool: Any) -> None:
        await add_jobs(pool, "b", [{"n": n} for n in range(10)])
        await add_jobs(pool, "s", [{"n": n} for n in range(3)])
        registry = registry_of(s=single)
        registry.register_batch("b", batch, max_batch=4)
        worker = Worker(pool, registry, database_url=database_url, config=dataclasses.replace(FAST, concurrency=20))
        task = asyncio.create_task(worker.run())
        await poll_until(lambda: sum(map(len, batches)) >= 12, 10)
        worker.stop()
        await task

    run(body, database_url)
    assert sorted(singles) == [0, 1, 2]
    first_claim = batches[:3]
    assert [len(b) for b in first_claim] == [4, 4, 2]  # one claim, cut at max_batch
    assert sorted(n for b in first_claim for n in b) == list(range(10))
    again = sorted(n for b in batches[3:] for n in b)
    assert again == [n for n in first_claim[0] if n % 2]  # only the snoozed jobs came back
    assert sql.execute("select count(*) from jobs").fetchone()[0] == 0


def test_batch_handler_that_raises_retries_every_job_of_the_batch_with_backoff(database_url: str, sql: Any) -> None:
    calls: list[list[int]] = []

    async def raising(jobs: Sequence[Job], ctx: JobContext) -> list[Outcome]:
        calls.append([j.attempts for j in jobs])
        raise RuntimeError("batch broke")

    async def body(pool: Any) -> None:
        await add_jobs(pool, "b", [{"n": n} for n in range(3)], max_attempts=2)
        registry = Registry()
        registry.register_batch("b", raising, max_batch=10)
        worker = Worker(pool, registry, database_url=database_url, config=dataclasses.replace(FAST, concurrency=10))
        task = asyncio.create_task(worker.run())
        await poll_until(lambda: len(calls) >= 2, 10)
        worker.stop()
        await task

    run(body, database_url)
    assert calls[:2] == [[1, 1, 1], [2, 2, 2]]
    rows = sql.execute("select status, attempts, last_error from jobs order by id").fetchall()
    assert rows == [("dead", 2, "RuntimeError: batch broke")] * 3


def test_batch_handler_answering_the_wrong_number_of_outcomes_fails_the_batch(database_url: str, sql: Any) -> None:
    async def short(jobs: Sequence[Job], ctx: JobContext) -> list[Outcome]:
        return [Complete()]

    async def body(pool: Any) -> None:
        await add_jobs(pool, "b", [{"n": n} for n in range(2)], max_attempts=1)
        registry = Registry()
        registry.register_batch("b", short, max_batch=10)
        await Worker(pool, registry, database_url=database_url, config=drain_config(10)).run()

    run(body, database_url)
    rows = sql.execute("select status, last_error from jobs order by id").fetchall()
    assert rows == [("dead", "RuntimeError: batch handler answered 1 outcomes for 2 jobs")] * 2


def test_batch_size_1_runs_one_job_per_call(database_url: str, sql: Any) -> None:
    sizes: list[int] = []

    async def batch(jobs: Sequence[Job], ctx: JobContext) -> list[Outcome]:
        sizes.append(len(jobs))
        return [Complete() for _ in jobs]

    async def body(pool: Any) -> None:
        await add_jobs(pool, "b", [{"n": n} for n in range(5)])
        registry = Registry()
        registry.register_batch("b", batch, max_batch=1)
        await Worker(pool, registry, database_url=database_url, config=drain_config(10)).run()

    run(body, database_url)
    assert sizes == [1] * 5
    assert sql.execute("select count(*) from jobs").fetchone()[0] == 0


def test_a_kind_takes_one_handler_only() -> None:
    async def batch(jobs: Sequence[Job], ctx: JobContext) -> list[Outcome]:
        return []

    registry = Registry()
    registry.register_batch("b", batch, max_batch=5)
    try:
        registry.register("b", lambda job, ctx: batch([job], ctx))  # type: ignore[arg-type, return-value]
    except ValueError as exc:
        assert "registered already" in str(exc)
    else:
        raise AssertionError("a second handler for one kind was accepted")


def test_a_batch_of_releases_with_whole_and_fractional_delays_is_written(database_url: str, sql: Any) -> None:
    # A job finished across a failover goes back with delay 0 while others snooze for 1.5 s:
    # both kinds of delay land in one write, which a list of mixed int and float once broke
    # (the completer retried it for ever, and the worker's jobs stayed running).
    async def body(pool: Any) -> int:
        [first, second] = await add_jobs(pool, "k", [{}, {}])
        jobs = await claim(pool, "me", 2, ["k"])
        held = {job.id for job in jobs}
        completer = Completer(pool, "me", held, asyncio.Lock())
        completer.release(first, delay_s=0, error="run again", failed=False)
        completer.release(second, delay_s=1.5, error=None, failed=False)
        await asyncio.wait_for(completer.flush(), timeout=5)
        return len(held)

    assert run(body, database_url) == 0
    rows = sql.execute("select status, attempts, run_after > now() from jobs order by id").fetchall()
    assert rows == [("ready", 0, False), ("ready", 0, True)]
