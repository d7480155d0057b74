"""The batch order handler in-process, against a real PostgreSQL and a real payment simulator
process: all-or-nothing per order inside one batch, first come first served within a product,
and a batch of one that behaves as the per-order path did."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

from invorder import db
from invorder.orders.processing import OrderBatchProcessor, OrderPolicy
from invorder.processes.worker import payment_gateway
from invorder.queue import Complete, Job, JobContext, Outcome, Snooze
from invorder.settings import load_settings
from tests.support.handmade import make_order, make_product, stock
from tests.support.invariants import check_stock_invariants
from tests.support.processes import LiveProcess


def jobs_for(order_ids: list[int]) -> list[Job]:
    """Jobs as a claim hands them over (the handler reads only the payload)."""
    now = datetime.now(UTC)
    return [Job(n, "process_order", {"order_id": oid}, 100, 1, 10, now, 0) for n, oid in enumerate(order_ids, 1)]


def process_batch(database_url: str, payments_url: str, order_ids: list[int]) -> list[Outcome]:
    settings = load_settings(environ={"INVORDER_PAYMENTS_URL": payments_url})

    async def main() -> list[Outcome]:
        pool = db.open_pool(database_url, min_size=1, max_size=2)
        await pool.open(wait=True)
        gateway = payment_gateway(settings)
        try:
            handler = OrderBatchProcessor(OrderPolicy.from_settings(settings), gateway)
            return await handler(jobs_for(order_ids), JobContext(pool=pool, worker_id="test"))
        finally:
            await gateway.client.aclose()
            await pool.close()

    return asyncio.run(main())


def statuses(sql: Any, order_ids: list[int]) -> list[str]:
    rows = dict(sql.execute("select id, status from orders where id = any(%s)", (order_ids,)).fetchall())
    return [rows[i] for i in order_ids]


def test_one_batch_serves_the_orders_that_fit_and_leaves_the_others_waiting(
    database_url: str, payments_sim: LiveProcess, sql: Any
) -> None:
    a = make_product(sql, on_hand=5)
    b = make_product(sql, on_hand=0)
    fits = make_order(sql, {a: 3})
    too_big = make_order(sql, {a: 3})  # after `fits`, only 2 are left
    fits_after = make_order(sql, {a: 2})
    crosses = make_order(sql, {a: 1, b: 1})  # all or nothing: b has none, so a is not held either
    ids = [fits, too_big, fits_after, crosses]

    outcomes = process_batch(database_url, payments_sim.url, ids)

    assert [type(o) for o in outcomes] == [Complete, Snooze, Complete, Snooze]
    assert statuses(sql, ids) == ["processed", "pending", "processed", "pending"]
    assert stock(sql, a)[:2] == (0, 0)
    waiting = sql.execute(
        "select id, attempts, last_error from orders where id = any(%s) order by id", ([too_big, crosses],)
    ).fetchall()
    assert waiting == [
        (too_big, 1, f"not enough stock: product {a} short by 1"),  # 2 of 3 left
        (crosses, 1, f"not enough stock: product {a} short by 1, product {b} short by 1"),
    ]
    logs = sql.execute(
        "select order_id, status, actor from order_logs where order_id = any(%s) order by id", (ids,)
    ).fetchall()
    assert {actor for _, _, actor in logs} == {"worker"}
    logs = [(o, s) for o, s, _ in logs]
    assert [s for o, s in logs if o == fits] == ["reserved", "payment_started", "processed"]
    assert [s for o, s in logs if o == too_big] == ["out_of_stock"]
    sales = sql.execute(
        "select order_id, delta, on_hand_after, actor from stock_movements where kind = 'sale' order by order_id"
    ).fetchall()
    assert sales == [(fits, -3, 2, "worker"), (fits_after, -2, 0, "worker")]  # counted down in order id order
    check_stock_invariants(sql)


def test_within_a_product_the_earlier_orders_of_a_batch_are_served_first(
    database_url: str, payments_sim: LiveProcess, sql: Any
) -> None:
    a = make_product(sql, on_hand=3)
    ids = [make_order(sql, {a: 1}) for _ in range(6)]
    shuffled = random.Random(7).sample(ids, len(ids))  # the claim's order is not the placement order

    outcomes = process_batch(database_url, payments_sim.url, shuffled)

    served = {oid for oid, o in zip(shuffled, outcomes, strict=True) if isinstance(o, Complete)}
    assert served == set(ids[:3])
    assert statuses(sql, ids) == ["processed"] * 3 + ["pending"] * 3
    check_stock_invariants(sql)


def test_a_batch_of_one_moves_an_order_through_as_the_per_order_path_did(
    database_url: str, payments_sim: LiveProcess, sql: Any
) -> None:
    a = make_product(sql, on_hand=2, price=250)
    order_id = make_order(sql, {a: 2})

    assert process_batch(database_url, payments_sim.url, [order_id]) == [Complete()]

    row = sql.execute(
        "select status, attempts, payment_status, payment_attempts, charge_id is not null, finished_at is not null"
        " from orders where id = %s",
        (order_id,),
    ).fetchone()
    assert row == ("processed", 1, "succeeded", 1, True, True)
    assert stock(sql, a)[:2] == (0, 0)
    # A second run of the same job (a crash after the conclusion committed) changes nothing.
    assert process_batch(database_url, payments_sim.url, [order_id]) == [Complete()]
    assert sql.execute("select count(*) from stock_movements where order_id = %s", (order_id,)).fetchone()[0] == 1
    check_stock_invariants(sql)


def test_two_jobs_of_one_order_in_a_batch_move_it_once(database_url: str, payments_sim: LiveProcess, sql: Any) -> None:
    a = make_product(sql, on_hand=5)
    order_id = make_order(sql, {a: 1})

    outcomes = process_batch(database_url, payments_sim.url, [order_id, order_id])

    assert isinstance(outcomes[0], Complete) and isinstance(outcomes[1], Snooze)
    assert statuses(sql, [order_id]) == ["processed"]
    assert stock(sql, a)[:2] == (4, 0)
    check_stock_invariants(sql)


def test_batches_in_hand_together_share_their_transactions(
    database_url: str, payments_sim: LiveProcess, sql: Any
) -> None:
    """Two batches of one worker on one hot product: the second asks while the first's step 1
    has not begun, so both are reserved in one transaction (group commit), earlier orders first."""
    settings = load_settings(environ={"INVORDER_PAYMENTS_URL": payments_sim.url})
    hot = make_product(sql, on_hand=5)
    first = [make_order(sql, {hot: 1}) for _ in range(3)]
    second = [make_order(sql, {hot: 1}) for _ in range(3)]  # only 2 of these fit

    async def main() -> list[list[Outcome]]:
        pool = db.open_pool(database_url, min_size=1, max_size=4)
        await pool.open(wait=True)
        gateway = payment_gateway(settings)
        try:
            handler = OrderBatchProcessor(OrderPolicy.from_settings(settings), gateway)
            ctx = JobContext(pool=pool, worker_id="test")
            return list(await asyncio.gather(handler(jobs_for(second), ctx), handler(jobs_for(first), ctx)))
        finally:
            await gateway.client.aclose()
            await pool.close()

    later, earlier = asyncio.run(main())
    assert [type(o) for o in earlier] == [Complete] * 3
    assert [type(o) for o in later] == [Complete, Complete, Snooze]
    assert statuses(sql, first + second) == ["processed"] * 5 + ["pending"]
    reserved_in = sql.execute(
        "select count(distinct xmin::text) from order_logs where status = 'reserved' and order_id = any(%s)",
        (first + second,),
    ).fetchone()
    assert reserved_in == (1,)
    check_stock_invariants(sql)
