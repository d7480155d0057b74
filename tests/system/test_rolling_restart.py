"""Rolling restarts under load (issue 13): `invorder serve --processes 3` replaces its processes
one at a time on SIGHUP, and the workers are restarted one at a time (SIGTERM, wait, start the
next), while clients keep placing orders. No request fails (no refused or reset connection, no
5xx), no accepted order is lost, every order is processed once, and the invariants hold.

Each test prints one line for bin/chaos:
`CHAOS fault=... sent=N failed=N accepted=N lost=N double_charges=N recover_s=F`."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import TEST_ENV
from tests.support.invariants import (
    charges_file,
    check_orders_settled,
    check_payments,
    check_stock_invariants,
    simulator_charges,
)
from tests.support.processes import (
    AUTH,
    LiveProcess,
    child_pids,
    start_api,
    start_worker,
    wait_api_replaced,
    wait_until,
    wait_workers_ready,
)

API_PROCESSES = 3
# Clients that keep their connections (httpx's pool), and one that opens a new connection for
# every request: between them both ways a request can meet a process being replaced.
POOLED_CLIENTS = 4
FRESH_CLIENTS = 1


@dataclass
class Load:
    """What the clients sent and got: the ids of accepted orders, every failure (a transport
    error or an unexpected status), and when each successful answer came (monotonic)."""

    sent: int = 0
    accepted: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    answered_at: list[float] = field(default_factory=list)

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time without a successful answer between `start` and `end`."""
        inside = sorted(t for t in self.answered_at if start <= t <= end)
        if not inside:
            return end - start
        points = [start, *inside, end]
        return max(b - a for a, b in itertools.pairwise(points))


def run_load(url: str, product_ids: list[int], stop: threading.Event, load: Load) -> None:
    """Clients posting one-unit orders until `stop`; every fourth request is a GET instead (an
    order just placed, or a product)."""

    async def client(n: int, fresh: bool) -> None:
        limits = httpx.Limits(max_keepalive_connections=0) if fresh else httpx.Limits()
        async with httpx.AsyncClient(headers=AUTH, base_url=url, timeout=30, limits=limits) as http:
            i = n
            while not stop.is_set():
                i += 1
                load.sent += 1
                try:
                    if i % 4 == 0 and load.accepted:
                        path = f"/api/v1/orders/{load.accepted[-1]}" if i % 8 else f"/api/v1/products/{product_ids[0]}"
                        response = await http.get(path)
                        expected = 200
                    else:
                        body = {"product_id": product_ids[i % len(product_ids)], "quantity": 1}
                        response = await http.post("/api/v1/orders", json=body)
                        expected = 202
                except httpx.HTTPError as exc:
                    load.failed.append(f"{type(exc).__name__}: {exc}")
                    continue
                if response.status_code != expected:
                    load.failed.append(f"{response.request.method} {response.status_code} {response.text[:200]}")
                    continue
                load.answered_at.append(time.monotonic())
                if expected == 202:
                    load.accepted.append(int(response.json()["data"]["id"]))

    async def all_clients() -> None:
        await asyncio.gather(
            *(client(n, fresh=False) for n in range(POOLED_CLIENTS)),
            *(client(POOLED_CLIENTS + n, fresh=True) for n in range(FRESH_CLIENTS)),
        )

    asyncio.run(all_clients())


@pytest.fixture
def env(database_url: str, payments_sim: LiveProcess) -> dict[str, str]:
    return {**TEST_ENV, "DATABASE_URL": database_url, "INVORDER_PAYMENTS_URL": payments_sim.url}


@pytest.fixture
def stopped_after() -> Iterator[list[LiveProcess]]:
    """Processes to stop (in reverse order) when the test ends, however it ends."""
    processes: list[LiveProcess] = []
    try:
        yield processes
    finally:
        for process in reversed(processes):
            process.stop()


def make_products(url: str) -> list[int]:
    with httpx.Client(headers=AUTH, base_url=url, timeout=10) as http:
        product_ids = []
        for n in range(5):
            pid = http.post("/api/v1/products", json={"name": f"p{n}", "price_cents": 100}).json()["data"]["id"]
            http.post("/api/v1/inventory", json={"product_id": pid, "on_hand": 100_000})
            product_ids.append(pid)
        return product_ids


def under_load(url: str, product_ids: list[int], fault: Callable[[], None]) -> tuple[Load, float, float]:
    """Run `fault` while the clients place orders (2 s of load before it, 1 s after); the load,
    and when the fault began and ended."""
    load = Load()
    stop = threading.Event()
    thread = threading.Thread(target=run_load, args=(url, product_ids, stop, load))
    thread.start()
    try:
        time.sleep(2)
        began = time.monotonic()
        fault()
        ended = time.monotonic()
        time.sleep(1)
    finally:
        stop.set()
        thread.join(timeout=60)
    return load, began, ended


def settle_and_report(fault: str, database_url: str, sim: LiveProcess, load: Load, recover_s: float) -> dict[Any, Any]:
    """Wait until every order is final, print the CHAOS line, and return the orders by status."""
    with psycopg.connect(database_url, autocommit=True) as sql:
        wait_until(
            lambda: (
                sql.execute("select count(*) from orders where status not in ('processed', 'failed')").fetchone()
                == (0,)
            ),
            timeout=60,
            what="every order to settle",
        )
        stored = {r[0] for r in sql.execute("select id from orders").fetchall()}
        statuses: dict[Any, Any] = dict(sql.execute("select status, count(*) from orders group by status").fetchall())
    charges = simulator_charges(charges_file(sim))
    succeeded: dict[str, int] = {}
    for reference, status, _ in charges:
        if status == "succeeded":
            succeeded[reference] = succeeded.get(reference, 0) + 1
    lost = len(set(load.accepted) - stored)
    double = sum(1 for n in succeeded.values() if n > 1)
    print(
        f"CHAOS fault={fault} sent={load.sent} failed={len(load.failed)} accepted={len(load.accepted)}"
        f" lost={lost} double_charges={double} recover_s={recover_s:.3f}"
    )
    assert load.failed == [], load.failed[:20]
    assert lost == 0
    assert double == 0
    assert len(load.accepted) > 100, f"too little load to tell: {len(load.accepted)} orders"
    return statuses


def check_invariants(database_url: str, sim: LiveProcess) -> None:
    with psycopg.connect(database_url, autocommit=True) as sql:
        check_stock_invariants(sql)
        check_orders_settled(sql)
        check_payments(sql, simulator_charges(charges_file(sim)))


@pytest.mark.slow
@pytest.mark.chaos
def test_sighup_replaces_every_api_process_under_load_without_a_failed_request(
    env: dict[str, str], database_url: str, payments_sim: LiveProcess, stopped_after: list[LiveProcess]
) -> None:
    api = start_api(env, processes=API_PROCESSES)
    stopped_after.append(api)
    stopped_after.extend(start_worker(env, concurrency=16) for _ in range(2))
    product_ids = make_products(api.url)
    generations = [child_pids(api.popen.pid)]
    assert len(generations[0]) == API_PROCESSES

    def two_rolling_restarts() -> None:
        for _ in range(2):
            os.kill(api.popen.pid, signal.SIGHUP)
            generations.append(wait_api_replaced(api, generations[-1], processes=API_PROCESSES))
            time.sleep(1)

    load, began, ended = under_load(api.url, product_ids, two_rolling_restarts)
    statuses = settle_and_report(
        "rolling-restart-api", database_url, payments_sim, load, recover_s=load.longest_gap(began, ended)
    )
    # Really replaced: three generations of three processes, none shared.
    assert [len(g) for g in generations] == [API_PROCESSES] * 3
    assert not (generations[0] & generations[1] or generations[1] & generations[2] or generations[0] & generations[2])
    assert api.popen.poll() is None
    assert "Killing" not in api.log() and "killing" not in api.log(), api.log()
    assert statuses.get("processed") == sum(statuses.values()), statuses  # ample stock: every order processed
    check_invariants(database_url, payments_sim)


@pytest.mark.slow
@pytest.mark.chaos
def test_workers_restarted_one_at_a_time_under_load_lose_and_fail_no_order(
    env: dict[str, str], database_url: str, payments_sim: LiveProcess, stopped_after: list[LiveProcess]
) -> None:
    api = start_api(env)
    stopped_after.append(api)
    workers = [start_worker(env, concurrency=8) for _ in range(3)]
    stopped_after.extend(workers)
    product_ids = make_products(api.url)
    wait_workers_ready(database_url, workers)  # a SIGTERM before that kills it, not stops it
    exit_codes: list[int] = []

    def restart_each_worker() -> None:
        for n, worker in enumerate(list(workers)):
            exit_codes.append(worker.stop(timeout=30))  # SIGTERM; it finishes or hands back its jobs
            workers[n] = start_worker(env, concurrency=8)
            stopped_after.append(workers[n])
            time.sleep(1)

    load, began, ended = under_load(api.url, product_ids, restart_each_worker)
    statuses = settle_and_report(
        "rolling-restart-workers", database_url, payments_sim, load, recover_s=load.longest_gap(began, ended)
    )
    assert exit_codes == [0, 0, 0], exit_codes
    assert statuses.get("processed") == sum(statuses.values()), statuses  # none failed: stock was ample
    check_invariants(database_url, payments_sim)
