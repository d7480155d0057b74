"""Refunds, fulfillments and cancelling paid orders against real API, worker and payment
simulator processes: racing refunds never exceed the charge, cancel and fulfillment race to one
winner, and under provider faults with SIGKILLed workers every refund is made exactly once."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.support.invariants import (
    charges_file,
    check_after_payment,
    check_orders_settled,
    check_payments,
    check_refunds,
    check_stock_invariants,
    simulator_charges,
    simulator_refunds,
)
from tests.support.processes import AUTH, LiveProcess, set_sim_faults, start_worker, wait_until


def paid_orders(api: LiveProcess, count: int, *, quantity: int = 3, price: int = 400) -> tuple[int, list[int]]:
    """A product and `count` processed orders of `quantity` units of it each."""
    with httpx.Client(headers=AUTH, base_url=api.url, timeout=40) as http:
        pid = int(
            http.post("/api/v1/products", json={"name": f"P{random.random()}", "price_cents": price}).json()["data"][
                "id"
            ]
        )
        http.post("/api/v1/inventory", json={"product_id": pid, "on_hand": count * quantity + 5})
        ids = [
            int(http.post("/api/v1/orders", json={"product_id": pid, "quantity": quantity}).json()["data"]["id"])
            for _ in range(count)
        ]
        for order_id in ids:
            status = http.get(f"/api/v1/orders/{order_id}", params={"wait": 20}).json()["status"]
            assert status == "processed", status
    return pid, ids


def quiet(sql: Any) -> None:
    wait_until(
        lambda: sql.execute("select count(*) from refunds where status = 'pending'").fetchone()[0] == 0,
        timeout=240,
        what="every refund to be succeeded or failed",
        interval=0.5,
    )
    wait_until(lambda: sql.execute("select count(*) from jobs").fetchone()[0] == 0, timeout=60, what="an empty queue")


def check_all(sql: Any, sim: LiveProcess) -> None:
    check_stock_invariants(sql)
    check_orders_settled(sql)
    check_payments(sql, simulator_charges(charges_file(sim)))
    check_refunds(sql, simulator_refunds(charges_file(sim)))
    check_after_payment(sql)


def test_a_refund_succeeds_once_at_the_provider(system: dict[str, Any], payments_sim: LiveProcess, sql: Any) -> None:
    api = system["api"]
    pid, [order_id] = paid_orders(api, 1)
    with httpx.Client(headers=AUTH, base_url=api.url, timeout=10) as http:
        body = {"items": [{"product_id": pid, "quantity": 3, "restock": "cancel"}], "reason": "requested_by_customer"}
        made = http.post(f"/api/v1/orders/{order_id}/refunds", json=body, headers={"Idempotency-Key": "one"})
        assert made.status_code == 202, made.text
        refund_id = made.json()["data"]["id"]
        quiet(sql)
        refund = http.get(f"/api/v1/refunds/{refund_id}").json()
        assert refund["status"] == "succeeded" and refund["provider_refund_id"], refund
        order = http.get(f"/api/v1/orders/{order_id}").json()
    assert (order["refunded_cents"], order["refund_status"], order["status"]) == (1200, "refunded", "processed")
    types = [t for (t,) in sql.execute("select type from events where type like 'refund.%' or type = 'order.refunded'")]
    assert types == ["refund.created", "refund.succeeded", "order.refunded"]
    check_all(sql, payments_sim)


def test_racing_refunds_never_exceed_the_charge(system: dict[str, Any], payments_sim: LiveProcess, sql: Any) -> None:
    api = system["api"]
    _, orders = paid_orders(api, 10)  # each charged 1200

    async def race() -> list[list[int]]:
        async with httpx.AsyncClient(headers=AUTH, base_url=api.url, timeout=20) as http:

            async def one(order_id: int, n: int) -> int:
                response = await http.post(
                    f"/api/v1/orders/{order_id}/refunds",
                    json={"amount_cents": 700},
                    headers={"Idempotency-Key": f"race-{order_id}-{n}"},
                )
                return response.status_code

            return [sorted(await asyncio.gather(one(o, 1), one(o, 2))) for o in orders]

    assert asyncio.run(race()) == [[202, 422]] * len(orders)
    quiet(sql)
    provider = simulator_refunds(charges_file(payments_sim))
    assert sorted(amount for _, _, amount, status in provider if status == "succeeded") == [700] * len(orders)
    check_all(sql, payments_sim)


def test_cancel_racing_a_fulfillment_has_one_winner(
    system: dict[str, Any], payments_sim: LiveProcess, sql: Any
) -> None:
    api = system["api"]
    _, orders = paid_orders(api, 12, quantity=1)

    async def race() -> list[tuple[int, int]]:
        async with httpx.AsyncClient(headers=AUTH, base_url=api.url, timeout=20) as http:

            async def both(order_id: int) -> tuple[int, int]:
                cancel, ship = await asyncio.gather(
                    http.post(f"/api/v1/orders/{order_id}/cancel"),
                    http.post(f"/api/v1/orders/{order_id}/fulfillments", json={}),
                )
                return cancel.status_code, ship.status_code

            return list(await asyncio.gather(*[both(o) for o in orders]))

    outcomes = asyncio.run(race())
    assert all(o in [(202, 409), (409, 201)] for o in outcomes), outcomes
    quiet(sql)
    for order_id, (cancel, _) in zip(orders, outcomes, strict=True):
        status, fulfillment = sql.execute(
            "select status, fulfillment_status from orders where id = %s", (order_id,)
        ).fetchone()
        assert (status, fulfillment) == (("cancelled", "unfulfilled") if cancel == 202 else ("processed", "fulfilled"))
    check_all(sql, payments_sim)


@pytest.mark.slow
def test_300_refunds_under_faults_and_sigkills_are_made_exactly_once(
    system: dict[str, Any], payments_sim: LiveProcess, sql: Any
) -> None:
    api, env, workers = system["api"], system["env"], system["workers"]
    rng = random.Random(22)
    pid, orders = paid_orders(api, 100)  # 3 units of 400 each
    # Ship one unit of half the orders, so that returns happen too.
    with httpx.Client(headers=AUTH, base_url=api.url, timeout=20) as http:
        for order_id in orders[:50]:
            shipped = http.post(
                f"/api/v1/orders/{order_id}/fulfillments", json={"items": [{"product_id": pid, "quantity": 1}]}
            )
            assert shipped.status_code == 201
    set_sim_faults(payments_sim, error_rate=0.1, timeout_rate=0.05, lost_response_rate=0.1, refund_failure_rate=0.15)
    bodies: list[tuple[int, dict[str, Any]]] = []
    for n, order_id in enumerate(orders):
        restocks = ["return", "none", "cancel"] if n < 50 else ["cancel", "none", "cancel"]
        for restock in restocks:
            bodies.append((order_id, {"items": [{"product_id": pid, "quantity": 1, "restock": restock}]}))
    rng.shuffle(bodies)
    sent: list[int] = []

    async def refund_all() -> None:
        async with httpx.AsyncClient(headers=AUTH, base_url=api.url, timeout=60) as http:
            for start in range(0, len(bodies), 20):
                batch = bodies[start : start + 20]
                responses = await asyncio.gather(
                    *[
                        http.post(
                            f"/api/v1/orders/{o}/refunds", json=b, headers={"Idempotency-Key": f"chaos-{start + i}"}
                        )
                        for i, (o, b) in enumerate(batch)
                    ]
                )
                sent.extend(r.status_code for r in responses)
                await asyncio.sleep(0.1)

    async def kill_workers() -> None:
        for _ in range(6):
            await asyncio.sleep(rng.uniform(1.0, 2.0))
            victim = rng.randrange(len(workers))
            workers[victim].kill()
            workers[victim] = start_worker(env, concurrency=16)

    async def both() -> None:
        await asyncio.gather(refund_all(), kill_workers())

    asyncio.run(both())
    assert sent == [202] * 300, Counter(sent)
    set_sim_faults(payments_sim)  # the storm ends: whatever is unknown now gets its answer
    quiet(sql)
    statuses = dict(sql.execute("select status, count(*) from refunds group by status").fetchall())
    assert sum(statuses.values()) == 300 and statuses.get("failed", 0) > 10, statuses
    restocks = sql.execute("select count(*) from stock_movements where kind = 'restock'").fetchone()[0]
    assert restocks == 200  # every cancel and return once, whatever became of its refund
    check_all(sql, payments_sim)
