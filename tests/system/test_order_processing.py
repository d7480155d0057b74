"""Orders processed by real worker processes against a real API process: no oversell, no
deadlock, nothing lost or done twice when workers are SIGKILLed."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.invariants import (
    charges_file,
    check_orders_settled,
    check_payments,
    check_stock_invariants,
    simulator_charges,
)
from tests.support.processes import AUTH, LiveProcess, start_api, start_worker, wait_until


@pytest.fixture
def env(system_env: dict[str, str]) -> dict[str, str]:
    return system_env


@pytest.fixture
def workers(env: dict[str, str]) -> Iterator[list[LiveProcess]]:
    started: list[LiveProcess] = []
    yield started
    for worker in started:
        worker.stop()


def api_post_all(url: str, requests: list[tuple[str, dict[str, Any], dict[str, str]]]) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(headers=AUTH, base_url=url, timeout=60, limits=limits) as http:
            return list(await asyncio.gather(*[http.post(p, json=b, headers=h) for p, b, h in requests]))

    return asyncio.run(run())


def make_products(url: str, stocks: list[int]) -> list[int]:
    ids = []
    with httpx.Client(headers=AUTH, base_url=url) as http:
        for n, stock in enumerate(stocks):
            pid = http.post("/api/v1/products", json={"name": f"P{n}", "price_cents": 100 + n}).json()["data"]["id"]
            assert http.post("/api/v1/inventory", json={"product_id": pid, "on_hand": stock}).status_code == 201
            ids.append(pid)
    return ids


def wait_all_final(sql: Any, count: int, timeout: float) -> None:
    def settled() -> bool:
        row = sql.execute(
            "select count(*) filter (where status in ('processed', 'failed', 'cancelled')), count(*) from orders"
        ).fetchone()
        return bool(row == (count, count))

    try:
        wait_until(settled, timeout=timeout, what=f"{count} orders to reach a final status", interval=0.2)
    except AssertionError:
        orders = sql.execute(
            "select status, payment_status, count(*), min(last_error) from orders group by 1, 2"
        ).fetchall()
        jobs = sql.execute(
            "select status, count(*), min(run_after), max(attempts), min(last_error) from jobs group by 1"
        )
        raise AssertionError(f"orders: {orders}\njobs: {jobs.fetchall()}") from None


def post_while_killing_workers(
    url: str,
    bodies: list[dict[str, Any]],
    workers: list[LiveProcess],
    restart: Callable[[], LiveProcess],
    *,
    chunk: int,
    pause_s: float,
    kills: int,
    gap_s: tuple[float, float],
    rng: random.Random,
) -> list[httpx.Response]:
    """POST `bodies` as orders, `chunk` at a time, while a random worker is SIGKILLed `kills`
    times, `gap_s` apart, each replaced at once by `restart()`; the answers, in order."""
    sent: list[httpx.Response] = []

    async def place() -> None:
        async with httpx.AsyncClient(headers=AUTH, base_url=url, timeout=60) as http:
            for start in range(0, len(bodies), chunk):
                orders = bodies[start : start + chunk]
                sent.extend(await asyncio.gather(*[http.post("/api/v1/orders", json=b) for b in orders]))
                await asyncio.sleep(pause_s)

    async def chaos() -> None:
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(*gap_s))
            victim = rng.randrange(len(workers))
            workers[victim].kill()
            workers[victim] = restart()

    async def both() -> None:
        await asyncio.gather(place(), chaos())

    asyncio.run(both())
    return sent


def assert_no_deadlock(processes: list[LiveProcess]) -> None:
    for process in processes:
        assert "deadlock" not in process.log().lower(), process.log()[-2000:]


def test_hot_product_sells_exactly_its_stock_across_4_workers(
    live_api: LiveProcess, env: dict[str, str], workers: list[LiveProcess], sql: Any
) -> None:
    [pid] = make_products(live_api.url, [100])
    workers += [start_worker(env, concurrency=8) for _ in range(4)]
    responses = api_post_all(live_api.url, [("/api/v1/orders", {"product_id": pid, "quantity": 1}, {})] * 300)
    assert [r.status_code for r in responses] == [202] * 300
    wait_all_final(sql, 300, timeout=120)
    statuses = dict(sql.execute("select status, count(*) from orders group by status").fetchall())
    assert statuses == {"processed": 100, "failed": 200}
    assert sql.execute("select on_hand, reserved from inventory").fetchone() == (0, 0)
    check_stock_invariants(sql)
    check_orders_settled(sql)
    assert_no_deadlock([*workers, live_api])
    reasons = {r[0] for r in sql.execute("select last_error from orders where status = 'failed'").fetchall()}
    assert all(r.startswith("not enough stock") for r in reasons), reasons


def test_two_item_orders_in_opposite_orders_all_process_with_exact_stock(
    live_api: LiveProcess, env: dict[str, str], workers: list[LiveProcess], sql: Any
) -> None:
    a, b = make_products(live_api.url, [200, 200])
    workers += [start_worker(env, concurrency=16) for _ in range(2)]
    bodies = []
    for n in range(80):
        first, second = (a, b) if n % 2 else (b, a)
        bodies.append({"items": [{"product_id": first, "quantity": 1}, {"product_id": second, "quantity": 2}]})
    responses = api_post_all(live_api.url, [("/api/v1/orders", body, {}) for body in bodies])
    assert {r.status_code for r in responses} == {202}
    wait_all_final(sql, 80, timeout=90)
    assert sql.execute("select count(*) from orders where status = 'processed'").fetchone()[0] == 80
    stock = dict(sql.execute("select product_id, on_hand from inventory").fetchall())
    assert stock == {a: 200 - 80 * 1.5, b: 200 - 80 * 1.5}
    check_stock_invariants(sql)
    check_orders_settled(sql)
    assert_no_deadlock([*workers, live_api])


def test_20_concurrent_posts_with_one_idempotency_key_make_one_order(live_api: LiveProcess, sql: Any) -> None:
    [pid] = make_products(live_api.url, [5])
    body = {"product_id": pid, "quantity": 1}
    responses = api_post_all(live_api.url, [("/api/v1/orders", body, {"Idempotency-Key": "same"})] * 20)
    codes = [r.status_code for r in responses]
    assert set(codes) <= {202, 409}, codes
    ids = {r.json()["data"]["id"] for r in responses if r.status_code == 202}
    assert len(ids) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == codes.count(202) - 1
    assert sql.execute("select count(*) from orders").fetchone()[0] == 1
    assert sql.execute("select count(*) from jobs").fetchone()[0] == 1


def test_restock_wakes_waiting_orders_before_their_backoff(
    env: dict[str, str], workers: list[LiveProcess], sql: Any
) -> None:
    slow_retry = {**env, "INVORDER_ORDER_RETRY_BASE_S": "600", "INVORDER_ORDER_RETRY_MAX_S": "600"}
    api = start_api(slow_retry)
    try:
        [pid] = make_products(api.url, [0])
        workers.append(start_worker(slow_retry, concurrency=4))
        with httpx.Client(headers=AUTH, base_url=api.url, timeout=40) as http:
            order_id = http.post("/api/v1/orders", json={"product_id": pid, "quantity": 2}).json()["data"]["id"]
            wait_until(
                lambda: http.get(f"/api/v1/orders/{order_id}").json()["attempts"] == 1, timeout=20, what="first attempt"
            )
            assert (
                http.post(f"/api/v1/inventory/{pid}/adjustments", json={"delta": 5, "reason": "delivery"}).status_code
                == 201
            )
            order = http.get(f"/api/v1/orders/{order_id}", params={"wait": 20}).json()
        assert order["status"] == "processed"  # a 300-600 s backoff was cut short by the restock
        check_stock_invariants(sql)
    finally:
        api.stop()


@pytest.mark.slow
def test_sigkilled_workers_lose_and_double_nothing(
    live_api: LiveProcess, env: dict[str, str], workers: list[LiveProcess], sql: Any
) -> None:
    rng = random.Random(42)
    products = make_products(live_api.url, [40] * 10)
    bodies = []
    for _ in range(500):
        chosen = rng.sample(products, rng.randint(1, 3))
        bodies.append({"items": [{"product_id": p, "quantity": rng.randint(1, 2)} for p in chosen]})

    workers += [start_worker(env, concurrency=8) for _ in range(3)]
    sent = post_while_killing_workers(
        live_api.url,
        bodies,
        workers,
        lambda: start_worker(env, concurrency=8),
        chunk=25,
        pause_s=0.05,
        kills=8,
        gap_s=(0.3, 0.8),
        rng=rng,
    )
    assert [r.status_code for r in sent] == [202] * 500
    wait_all_final(sql, 500, timeout=180)
    wait_until(lambda: sql.execute("select count(*) from jobs").fetchone()[0] == 0, timeout=30, what="queue to empty")
    check_stock_invariants(sql)
    check_orders_settled(sql)
    processed = sql.execute("select count(*) from orders where status = 'processed'").fetchone()[0]
    assert processed > 0
    # each processed order's reservation was made once: one `reserved` log row per processed order
    doubled = sql.execute(
        "select order_id from order_logs where status = 'processed' group by order_id having count(*) > 1"
    ).fetchall()
    assert doubled == []


@pytest.mark.slow
def test_sigkills_through_batch_reservations_and_conclusions_leave_1000_orders_settled(
    live_api: LiveProcess, env: dict[str, str], workers: list[LiveProcess], payments_sim: LiveProcess, sql: Any
) -> None:
    """Workers taking batches of up to 50 orders are SIGKILLed every 0.2-0.6 s while 1,000
    orders flow: with charges taking 20 ms and a few thousand orders a minute in batches, each
    kill lands in a batch's reservation, its charges in flight or its conclusions."""
    rng = random.Random(1000)
    response = httpx.put(payments_sim.url + "/_sim/config", json={"latency_ms": 20, "decline_rate": 0.1}, timeout=5)
    assert response.status_code == 200, response.text
    products = make_products(live_api.url, [150] * 8)  # about 1,500 units asked of 1,200: some orders wait, then fail
    bodies = []
    for _ in range(1000):
        chosen = rng.sample(products, rng.randint(1, 2))
        bodies.append({"items": [{"product_id": p, "quantity": rng.randint(1, 2)} for p in chosen]})
    batch_env = {**env, "INVORDER_ORDER_BATCH_SIZE": "50"}
    workers += [start_worker(batch_env, concurrency=100) for _ in range(3)]
    sent = post_while_killing_workers(
        live_api.url,
        bodies,
        workers,
        lambda: start_worker(batch_env, concurrency=100),
        chunk=50,
        pause_s=0,
        kills=15,
        gap_s=(0.2, 0.6),
        rng=rng,
    )
    assert [r.status_code for r in sent] == [202] * 1000
    wait_all_final(sql, 1000, timeout=240)
    wait_until(lambda: sql.execute("select count(*) from jobs").fetchone()[0] == 0, timeout=30, what="queue to empty")
    check_stock_invariants(sql)
    check_orders_settled(sql)
    statuses = dict(sql.execute("select status, count(*) from orders group by status").fetchall())
    assert statuses.get("processed", 0) > 0, statuses
    doubled = sql.execute(
        "select order_id from order_logs where status = 'processed' group by order_id having count(*) > 1"
    ).fetchall()
    assert doubled == []
    check_payments(sql, simulator_charges(charges_file(payments_sim)))  # invariant 4: one charge per processed order
    assert_no_deadlock(workers)
