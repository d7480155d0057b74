"""Orders against the real payment simulator process, with its faults switched on over HTTP:
declines compensate, unknown outcomes are retried with the same key, a provider outage makes
orders wait, and SIGKILLed workers never charge twice."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
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
from tests.support.processes import (
    AUTH,
    LiveProcess,
    set_sim_faults,
    start_api,
    start_payments_sim,
    start_worker,
    wait_until,
)


def stocked_product(api: LiveProcess, stock: int = 10, price: int = 500) -> int:
    with httpx.Client(headers=AUTH, base_url=api.url) as http:
        name = f"P{random.random()}"
        pid = int(http.post("/api/v1/products", json={"name": name, "price_cents": price}).json()["data"]["id"])
        http.post("/api/v1/inventory", json={"product_id": pid, "on_hand": stock})
    return pid


def place(api: LiveProcess, pid: int, quantity: int = 1) -> int:
    response = httpx.post(
        api.url + "/api/v1/orders", json={"product_id": pid, "quantity": quantity}, headers=AUTH, timeout=10
    )
    assert response.status_code == 202
    return int(response.json()["data"]["id"])


def order(api: LiveProcess, order_id: int, wait: float = 0) -> dict[str, Any]:
    params = {"wait": wait} if wait else {}
    return dict(httpx.get(f"{api.url}/api/v1/orders/{order_id}", params=params, headers=AUTH, timeout=40).json())


def logs(api: LiveProcess, order_id: int) -> list[dict[str, Any]]:
    return list(
        httpx.get(f"{api.url}/api/v1/orders/{order_id}/logs", params={"limit": 500}, headers=AUTH).json()["data"]
    )


def test_decline_fails_the_order_and_gives_the_stock_back(
    system: dict[str, Any], payments_sim: LiveProcess, sql: Any
) -> None:
    set_sim_faults(payments_sim, decline_rate=1.0)
    api = system["api"]
    pid = stocked_product(api, stock=5)
    result = order(api, place(api, pid, 2), wait=20)
    assert result["status"] == "failed" and result["payment"]["status"] == "declined"
    assert result["last_error"] == "payment declined"
    inventory = httpx.get(f"{api.url}/api/v1/inventory/{pid}", headers=AUTH).json()
    assert (inventory["on_hand"], inventory["reserved"], inventory["available"]) == (5, 0, 5)
    declined = [e for e in logs(api, result["id"]) if e["status"] == "declined"]
    assert declined and declined[0]["error_message"] == "payment declined"
    assert [c[1] for c in simulator_charges(charges_file(payments_sim))] == ["declined"]
    check_stock_invariants(sql)
    check_payments(sql, simulator_charges(charges_file(payments_sim)))


def test_5xx_for_a_while_then_recovery_processes_with_one_charge(
    system: dict[str, Any], payments_sim: LiveProcess, sql: Any
) -> None:
    set_sim_faults(payments_sim, error_rate=1.0)
    api = system["api"]
    order_id = place(api, stocked_product(api))
    wait_until(lambda: order(api, order_id)["payment"]["attempts"] >= 2, timeout=30, what="two failed payment tries")
    assert order(api, order_id)["payment"]["status"] == "unknown"
    set_sim_faults(payments_sim)
    result = order(api, order_id, wait=30)
    assert result["status"] == "processed" and result["payment"]["status"] == "succeeded"
    assert [e["status"] for e in logs(api, order_id)].count("payment_error") >= 2
    check_payments(sql, simulator_charges(charges_file(payments_sim)))
    assert len(simulator_charges(charges_file(payments_sim))) == 1


def test_lost_responses_are_replayed_with_the_same_key_to_one_charge(
    system: dict[str, Any], payments_sim: LiveProcess, sql: Any
) -> None:
    set_sim_faults(payments_sim, lost_response_rate=1.0)
    api = system["api"]
    ids = [place(api, stocked_product(api)) for _ in range(5)]
    for order_id in ids:
        result = order(api, order_id, wait=30)
        assert result["status"] == "processed", result
    charges = simulator_charges(charges_file(payments_sim))
    assert sorted(int(c[0]) for c in charges) == sorted(ids)  # one charge each, despite the lost answers
    check_payments(sql, charges)
    check_stock_invariants(sql)


def test_provider_down_makes_orders_wait_not_fail(
    system: dict[str, Any], payments_sim: LiveProcess, sql: Any, tmp_path: Path
) -> None:
    api = system["api"]
    data_file = charges_file(payments_sim)
    port = int(payments_sim.url.rsplit(":", 1)[1])
    payments_sim.stop()
    ids = [place(api, stocked_product(api)) for _ in range(10)]
    # The first five failures open the breaker; then one order tries per open period (1 s here),
    # whichever comes first: reaching the other five is a coupon collector's wait, about 23
    # trials on average (10/5 + 10/4 + ... + 10/1) and often more, so 30 s failed now and then.
    wait_until(
        lambda: all(any(e["status"] == "payment_error" for e in logs(api, i)) for i in ids),
        timeout=90,
        what="every order to find the provider down",
    )
    # Down 15 s more (watched, not slept through): with tries 0.2-1 s apart, five tries per order
    # would be spent three times over if a refused connection counted as a try.
    outage_end = time.monotonic() + 15
    while time.monotonic() < outage_end:
        assert all(order(api, i)["status"] == "reserved" for i in ids)
        time.sleep(1)
    restarted = start_payments_sim(system["env"], data_file, port=port)
    try:
        for order_id in ids:
            assert order(api, order_id, wait=30)["status"] == "processed"
        charges = simulator_charges(data_file)
        assert len(charges) == 10
        check_payments(sql, charges)
    finally:
        restarted.stop()


@pytest.mark.slow
def test_500_orders_under_faults_and_sigkills_end_consistent(
    system: dict[str, Any], payments_sim: LiveProcess, sql: Any
) -> None:
    set_sim_faults(payments_sim, decline_rate=0.3, error_rate=0.1, timeout_rate=0.05, lost_response_rate=0.05)
    api, env, workers = system["api"], system["env"], system["workers"]
    rng = random.Random(5)
    products = [stocked_product(api, stock=60, price=100 + n) for n in range(10)]
    bodies = [
        {"items": [{"product_id": p, "quantity": rng.randint(1, 2)} for p in rng.sample(products, rng.randint(1, 2))]}
        for _ in range(500)
    ]
    sent: list[int] = []

    async def place_all() -> None:
        async with httpx.AsyncClient(headers=AUTH, base_url=api.url, timeout=60) as http:
            for start in range(0, 500, 25):
                batch = bodies[start : start + 25]
                responses = await asyncio.gather(*[http.post("/api/v1/orders", json=b) for b in batch])
                sent.extend(r.status_code for r in responses)
                await asyncio.sleep(0.05)

    async def kill_workers() -> None:
        for _ in range(6):
            await asyncio.sleep(rng.uniform(1.0, 2.0))
            victim = rng.randrange(len(workers))
            workers[victim].kill()
            workers[victim] = start_worker(env, concurrency=16)

    async def both() -> None:
        await asyncio.gather(place_all(), kill_workers())

    asyncio.run(both())
    assert sent == [202] * 500
    set_sim_faults(payments_sim)  # the storm ends; whatever is unknown now gets its answer

    def settled() -> bool:
        return bool(
            sql.execute("select count(*) from orders where status in ('pending', 'reserved')").fetchone()[0] == 0
        )

    wait_until(settled, timeout=240, what="every order to reach a final status", interval=0.5)
    wait_until(
        lambda: sql.execute("select count(*) from jobs").fetchone()[0] == 0, timeout=60, what="the queue to empty"
    )
    check_stock_invariants(sql)
    check_orders_settled(sql)
    charges = simulator_charges(charges_file(payments_sim))
    check_payments(sql, charges)
    statuses = dict(sql.execute("select status, count(*) from orders group by status").fetchall())
    assert statuses.get("processed", 0) > 100 and statuses.get("failed", 0) > 50, statuses


def test_a_rebuilt_database_reusing_order_ids_never_collides_with_old_charges(
    system: dict[str, Any], payments_sim: LiveProcess, pg_admin_url: str, template_database: str
) -> None:
    from invorder.db import with_database
    from tests.conftest import create_database, drop_database

    api = system["api"]
    first = order(api, place(api, stocked_product(api), 1), wait=20)
    assert first["status"] == "processed"
    # A new database (a rebuilt shop) on the same provider account: order ids start again at 1.
    name = create_database(pg_admin_url, template=template_database)
    env = {**system["env"], "DATABASE_URL": with_database(pg_admin_url, name)}
    api2, worker2 = start_api(env), start_worker(env, concurrency=4)
    try:
        again = order(api2, place(api2, stocked_product(api2), 2), wait=20)
        assert again["id"] == first["id"]
        assert again["status"] == "processed", again
        assert again["payment"]["charge_id"] != first["payment"]["charge_id"]
    finally:
        worker2.stop()
        api2.stop()
        drop_database(pg_admin_url, name)
