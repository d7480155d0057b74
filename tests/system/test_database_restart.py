"""PostgreSQL restarted (fast mode) and then its postmaster SIGKILLed while orders flow through
a live API and workers, on a private server: no accepted order is lost, every order settles,
no request gets a 500 or a transport error (only 503s with Retry-After, each within the
bound), and the pool's check on checkout (no round trip) keeps the failed requests to those in
flight when the server went away."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import psycopg
import pytest

from invorder import db
from invorder.db import with_database
from invorder.db.migrate import migrate_up
from invorder.queue import Complete, Job, JobContext, Registry, enqueue
from invorder.queue import Outcome as JobOutcome
from invorder.queue.config import WorkerConfig
from invorder.queue.worker import Worker
from tests.conftest import TEST_ENV
from tests.support.invariants import (
    charges_file,
    check_orders_settled,
    check_payments,
    check_stock_invariants,
    double_charges,
    simulator_charges,
)
from tests.support.private_postgres import PrivatePostgres
from tests.support.processes import AUTH, LiveProcess, start_api, start_worker, wait_until

CLIENTS = 4


@pytest.fixture
def private_pg(tmp_path: Path) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(tmp_path / "pg")
    try:
        yield server
    finally:
        server.stop()


class Outcome(NamedTuple):
    at: float  # time.monotonic() when the answer came
    took: float
    order_id: int | None  # the order of a 202
    failure: str | None  # what came instead: "503 retry-after=2", "500 ...", "ReadTimeout"


def post_orders_until(url: str, product_ids: list[int], stop: threading.Event) -> list[Outcome]:
    """CLIENTS loops posting one-unit orders until `stop`: what each request got."""
    results: list[Outcome] = []

    async def client(n: int) -> None:
        async with httpx.AsyncClient(headers=AUTH, base_url=url, timeout=12) as http:
            i = n
            while not stop.is_set():
                i += CLIENTS
                body = {"product_id": product_ids[i % len(product_ids)], "quantity": 1}
                started = time.monotonic()
                try:
                    response = await http.post("/api/v1/orders", json=body)
                except httpx.HTTPError as exc:
                    results.append(Outcome(time.monotonic(), time.monotonic() - started, None, type(exc).__name__))
                    continue
                took = time.monotonic() - started
                if response.status_code == 202:
                    results.append(Outcome(time.monotonic(), took, int(response.json()["data"]["id"]), None))
                elif response.status_code == 503:
                    failure = f"503 retry-after={response.headers.get('retry-after')}"
                    results.append(Outcome(time.monotonic(), took, None, failure))
                    await asyncio.sleep(0.05)
                else:
                    failure = f"{response.status_code} {response.text[:200]}"
                    results.append(Outcome(time.monotonic(), took, None, failure))

    async def all_clients() -> None:
        await asyncio.gather(*(client(n) for n in range(CLIENTS)))

    asyncio.run(all_clients())
    return results


def poll_readyz_until(url: str, stop: threading.Event) -> list[int | str]:
    """GET /readyz every 50 ms until `stop`: each status, or the transport error."""
    seen: list[int | str] = []
    with httpx.Client(base_url=url, timeout=12) as http:
        while not stop.is_set():
            try:
                seen.append(http.get("/readyz").status_code)
            except httpx.HTTPError as exc:
                seen.append(type(exc).__name__)
            time.sleep(0.05)
    return seen


def longest_gap_s(results: list[Outcome], after: float) -> float:
    """The longest time after `after` with no 202 answered: how long the API took to recover."""
    times = sorted(r.at for r in results if r.order_id is not None and r.at >= after)
    return max((b - a for a, b in zip([after, *times], times, strict=False)), default=0.0)


def test_a_job_finished_after_a_restart_of_the_server_that_granted_its_claim_runs_again(
    private_pg: PrivatePostgres,
) -> None:
    """What the handler committed before a restart may be gone (an asynchronous standby
    promoted, synchronous_commit off) while the claim survived: the job must not be deleted as
    done on the server that came up, but run again."""
    with psycopg.connect(private_pg.url(), autocommit=True) as admin:
        admin.execute("create database invorder")
    url = with_database(private_pg.url(), "invorder")
    migrate_up(url)
    runs: list[int] = []

    async def handler(job: Job, ctx: JobContext) -> JobOutcome:
        runs.append(job.server_run)
        if len(runs) == 1:
            await asyncio.to_thread(private_pg.restart_fast)
        return Complete()

    async def main() -> None:
        pool = db.open_pool(url, min_size=1, max_size=4)
        await pool.open(wait=True)
        try:
            async with db.transaction(pool) as conn:
                await enqueue(conn, "k", {})
            registry = Registry()
            registry.register("k", handler)
            config = WorkerConfig(concurrency=2, lease_s=5, poll_interval_s=0.2, heartbeat_s=60)
            worker = Worker(pool, registry, database_url=url, config=config)
            running = asyncio.create_task(worker.run())
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and await count_jobs(pool) != 0:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            worker.stop()
            await running
        finally:
            await pool.close()

    async def count_jobs(pool: Any) -> int:
        try:
            async with pool.connection() as conn:
                cur = await conn.execute("select count(*) from jobs")
                return int((await cur.fetchone())[0])
        except psycopg.OperationalError:
            return -1  # the server is restarting

    asyncio.run(main())
    assert len(runs) == 2, runs  # once before the restart, once after it
    assert runs[0] != runs[1]  # each claim saw the server run that granted it
    with psycopg.connect(url, autocommit=True) as sql:
        assert sql.execute("select count(*) from jobs").fetchone() == (0,)  # done the second time


def test_readyz_is_503_while_the_server_is_down_and_200_once_it_is_back(private_pg: PrivatePostgres) -> None:
    with psycopg.connect(private_pg.url(), autocommit=True) as admin:
        admin.execute("create database invorder")
    url = with_database(private_pg.url(), "invorder")
    migrate_up(url)
    api = start_api({**TEST_ENV, "DATABASE_URL": url})
    try:
        with httpx.Client(base_url=api.url, timeout=12) as http:
            assert http.get("/readyz").status_code == 200
            private_pg.stop_server()
            for _ in range(3):  # each probe answers in bounded time, and says 503 with Retry-After
                started = time.monotonic()
                answer = http.get("/readyz")
                assert answer.status_code == 503, answer.text
                assert 1 <= int(answer.headers["retry-after"]) <= 30, answer.headers
                assert time.monotonic() - started < 5
            private_pg.start_server()
            wait_until(lambda: http.get("/readyz").status_code == 200, timeout=30, what="/readyz to say 200")
    finally:
        api.stop()


@pytest.mark.slow
@pytest.mark.chaos
def test_fast_restart_then_postmaster_sigkill_under_load_lose_no_order(
    private_pg: PrivatePostgres, payments_sim: LiveProcess
) -> None:
    with psycopg.connect(private_pg.url(), autocommit=True) as admin:
        admin.execute("create database invorder")
    url = with_database(private_pg.url(), "invorder")
    migrate_up(url)
    env = {**TEST_ENV, "DATABASE_URL": url, "INVORDER_PAYMENTS_URL": payments_sim.url}
    api = start_api(env)
    workers = [start_worker(env, concurrency=16) for _ in range(2)]
    try:
        with httpx.Client(headers=AUTH, base_url=api.url, timeout=10) as http:
            product_ids = []
            for n in range(5):
                pid = http.post("/api/v1/products", json={"name": f"p{n}", "price_cents": 100}).json()["data"]["id"]
                http.post("/api/v1/inventory", json={"product_id": pid, "on_hand": 100_000})
                product_ids.append(pid)

        stop = threading.Event()
        results: list[Outcome] = []
        load = threading.Thread(target=lambda: results.extend(post_orders_until(api.url, product_ids, stop)))
        load.start()
        readiness: list[int | str] = []
        probe = threading.Thread(target=lambda: readiness.extend(poll_readyz_until(api.url, stop)))
        probe.start()
        try:
            time.sleep(2)
            first_fault = time.monotonic()
            private_pg.restart_fast()
            time.sleep(2)
            private_pg.kill_postmaster_and_start()
            time.sleep(3)
        finally:
            stop.set()
            load.join(timeout=120)
            probe.join(timeout=30)

        # /readyz never said anything but 200 or 503 (whether a probe lands in a fault this
        # short is luck; test_readyz_is_503_while_the_server_is_down holds the server away),
        # and is 200 again.
        assert set(readiness) <= {200, 503}, sorted(set(map(str, readiness)))
        assert httpx.get(api.url + "/readyz", timeout=5).status_code == 200
        accepted = [r.order_id for r in results if r.order_id is not None]
        failed = [r.failure for r in results if r.failure is not None]
        print(f"database restart then postmaster SIGKILL: {len(results)} requests, {len(failed)} failed: {failed}")
        assert len(accepted) > 100, results[-5:]
        # Never a 500, a transport error or a hang: a 503 with a Retry-After in 1-30, in time.
        for failure in failed:
            assert failure.startswith("503 retry-after="), failed
            assert 1 <= int(failure.split("=")[1]) <= 30, failed
        assert max(r.took for r in results) < 10, max(r.took for r in results)
        # Only requests in flight when the server went away may fail, at most CLIENTS at each
        # of the two faults; a stale pooled connection handed out afterwards would add more.
        assert len(failed) <= 2 * CLIENTS, failed

        with psycopg.connect(url, autocommit=True) as sql:
            unsettled = "select count(*) from orders where status not in ('processed', 'failed')"
            wait_until(
                lambda: sql.execute(unsettled).fetchone() == (0,),
                timeout=120,
                what="every order to settle after the restarts",
            )
            stored = {r[0] for r in sql.execute("select id from orders").fetchall()}
            assert set(accepted) <= stored  # every 202 is kept
            statuses: dict[Any, Any] = dict(
                sql.execute("select status, count(*) from orders group by status").fetchall()
            )
            assert statuses.get("processed") == len(stored), statuses  # stock was ample: all processed
            check_stock_invariants(sql)
            check_orders_settled(sql)
            charges = simulator_charges(charges_file(payments_sim))
            doubled = double_charges(charges)
            check_payments(sql, charges)
            lost = len(set(accepted) - stored)
        print(
            f"CHAOS fault=database-restart-and-crash sent={len(results)} failed={len(failed)}"
            f" accepted={len(accepted)} lost={lost} double_charges={doubled}"
            f" recover_s={longest_gap_s(results, first_fault):.1f}"
        )
    finally:
        for worker in workers:
            worker.stop()
        api.stop()
