"""Placement of concurrent requests in one statement (OrderPlacer), against a real PostgreSQL:
every request gets its own answer, as if it had been placed alone, and one order the server
refuses does not fail the others written with it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from invorder import db
from invorder.errors import BadRequest, IdempotencyMismatch, InvalidInput
from invorder.orders.placing import NewOrder, OrderPlacer, Placed
from tests.support.handmade import make_product

Request = tuple[NewOrder, int, str | None]  # the order, its client, its Idempotency-Key


def place_together(database_url: str, requests: list[Request]) -> list[Placed | BaseException]:
    """Every request submitted at once to one placer, as concurrent API requests are."""

    async def main() -> list[Placed | BaseException]:
        pool = db.open_pool(database_url, min_size=1, max_size=2)
        await pool.open(wait=True)
        try:
            placer = OrderPlacer(pool, max_attempts=10)
            return await asyncio.gather(
                *(
                    placer.place(new, client_id=client, actor=f"key:{client}", idempotency_key=key)
                    for new, client, key in requests
                ),
                return_exceptions=True,
            )
        finally:
            await pool.close()

    return asyncio.run(main())


def new_client(sql: Any, name: str) -> int:
    return int(sql.execute("insert into clients (name) values (%s) returning id", (name,)).fetchone()[0])


def placed(result: Placed | BaseException) -> Placed:
    assert isinstance(result, Placed), result
    return result


def test_concurrent_requests_are_one_statement_and_each_gets_its_own_answer(database_url: str, sql: Any) -> None:
    p1 = make_product(sql, price=100)
    p2 = make_product(sql, price=250)
    gone = make_product(sql, price=5)
    sql.execute("update products set deleted_at = now() where id = %s", (gone,))
    a, b = new_client(sql, "client-a"), new_client(sql, "client-b")
    results = place_together(
        database_url,
        [
            (NewOrder({p1: 2}, "first"), a, None),
            (NewOrder({p1: 1, p2: 3}, None), b, "key-1"),
            (NewOrder({p1: 1, p2: 3}, None), b, "key-1"),  # the same request again: replayed
            (NewOrder({p2: 1}, None), a, "key-1"),  # keys are per client: another order
            (NewOrder({p1: 1, gone: 1}, None), a, None),  # a deleted product: refused
            (NewOrder({p2: 2}, None), b, "key-2"),
            (NewOrder({p2: 5}, None), b, "key-2"),  # the key of another request: refused
        ],
    )
    first, multi, replay, other_client, deleted, keyed, mismatch = results
    assert placed(first).order.total_cents == 200 and placed(first).order.customer_ref == "first"
    assert placed(multi).order.total_cents == 100 + 750
    assert [(i.product_id, i.quantity, i.unit_price_cents) for i in placed(multi).items] == sorted(
        [(p1, 1, 100), (p2, 3, 250)]
    )
    assert placed(replay).replayed and placed(replay).order.id == placed(multi).order.id
    assert not placed(other_client).replayed and placed(other_client).order.id != placed(multi).order.id
    assert isinstance(deleted, InvalidInput) and str(gone) in deleted.detail
    assert placed(keyed).order.total_cents == 500
    assert isinstance(mismatch, IdempotencyMismatch)

    ids = [placed(r).order.id for r in (first, multi, other_client, keyed)]
    assert ids == sorted(ids), "ids follow the order the requests arrived in"
    rows = sql.execute(
        "select o.id, o.client_id, o.xmin::text, l.actor, j.id is not null"
        " from orders o join order_logs l on l.order_id = o.id and l.status = 'placed'"
        " left join jobs j on j.kind = 'process_order' and (j.payload->>'order_id')::bigint = o.id"
        " order by o.id"
    ).fetchall()
    assert [r[0] for r in rows] == ids, "each placed order once, with its placed log row"
    assert [r[1] for r in rows] == [a, b, a, b]
    assert [r[3] for r in rows] == [f"key:{c}" for c in (a, b, a, b)]
    assert all(r[4] for r in rows), "each placed order has its job"
    assert len({r[2] for r in rows}) == 1, "the four orders were written by one transaction"
    assert sql.execute("select count(*) from order_items").fetchone()[0] == 1 + 2 + 1 + 1


def test_an_order_the_server_refuses_does_not_fail_the_others_written_with_it(database_url: str, sql: Any) -> None:
    cheap = make_product(sql, price=100)
    costly = make_product(sql, price=2**62)
    results = place_together(
        database_url,
        [
            (NewOrder({cheap: 1}, None), 1, None),
            (NewOrder({costly: 4}, None), 1, None),  # a total past bigint: the statement fails
            (NewOrder({cheap: 2}, None), 1, None),
        ],
    )
    assert placed(results[0]).order.total_cents == 100
    assert isinstance(results[1], InvalidInput) and "out of range" in results[1].detail
    assert placed(results[2]).order.total_cents == 200
    totals = [r[0] for r in sql.execute("select total_cents from orders order by id").fetchall()]
    assert totals == [100, 200]
    assert sql.execute("select count(*) from jobs where kind = 'process_order'").fetchone()[0] == 2


@pytest.mark.parametrize("count", [1, 150])
def test_a_group_places_every_order_with_its_items_log_and_job(database_url: str, sql: Any, count: int) -> None:
    products = [make_product(sql, price=10 + n) for n in range(5)]
    requests: list[Request] = [
        (NewOrder({products[n % 5]: 1 + n % 3, products[(n + 1) % 5]: 1}, f"c{n}"), 1, f"k{n}") for n in range(count)
    ]
    results = place_together(database_url, requests)
    for (new, _, _), result in zip(requests, results, strict=True):
        order = placed(result).order
        assert order.customer_ref == new.customer_ref
        expected = sum((10 + products.index(pid)) * qty for pid, qty in new.items.items())
        assert order.total_cents == expected
    counts = sql.execute(
        "select (select count(*) from orders), (select count(*) from order_items),"
        " (select count(*) from order_logs where status = 'placed'),"
        " (select count(*) from jobs where kind = 'process_order')"
    ).fetchone()
    assert counts == (count, 2 * count, count, count)


def test_nul_in_one_orders_text_is_a_400_for_it_alone(database_url: str, sql: Any) -> None:
    # jsonb refuses \u0000: the statement fails, and each order is tried again alone
    item = make_product(sql, price=100)
    results = place_together(
        database_url, [(NewOrder({item: 1}, "fine"), 1, None), (NewOrder({item: 1}, "bad\x00ref"), 1, None)]
    )
    assert placed(results[0]).order.customer_ref == "fine"
    assert isinstance(results[1], BadRequest) and "NUL" in results[1].detail
    assert sql.execute("select count(*) from orders").fetchone()[0] == 1
