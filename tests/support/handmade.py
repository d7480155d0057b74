"""Rows written by hand in SQL, for tests that need a given state of stock and orders (and then
break it on purpose)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from invorder.payments.client import Charge, PaymentsClient
from invorder.payments.gateway import payment_key


def make_product(sql: Any, *, sku: str | None = None, price: int = 100, on_hand: int | None = 10) -> int:
    """A live product; with `on_hand`, its stock row and opening ledger row too."""
    pid = int(
        sql.execute(
            "insert into products (name, sku, price_cents) values (%s, %s, %s) returning id",
            (f"product {uuid.uuid4().hex[:10]}", sku, price),
        ).fetchone()[0]
    )
    if on_hand is not None:
        sql.execute("insert into inventory (product_id, on_hand) values (%s, %s)", (pid, on_hand))
        sql.execute(
            "insert into stock_movements (product_id, delta, on_hand_after, kind, reason)"
            " values (%s, %s, %s, 'initial', 'test')",
            (pid, on_hand, on_hand),
        )
    return pid


def make_order(
    sql: Any,
    items: dict[int, int],
    *,
    status: str = "pending",
    payment_status: str = "none",
    reserved_ago_s: float = 0.0,
    with_stock: bool = True,
    with_job: bool = True,
) -> int:
    """An order in `status` with its items at the products' prices. With `with_stock`, its stock
    effects are applied as processing would: a reserved order's quantities reserved, a processed
    order's deducted with sale ledger rows. With `with_job`, an order not final has its
    process_order job, as placement makes it, but due only in a day (no worker picks it up)."""
    prices = dict(sql.execute("select id, price_cents from products where id = any(%s)", (list(items),)).fetchall())
    total = sum(prices[pid] * qty for pid, qty in items.items())
    order_id = int(
        sql.execute(
            """
            insert into orders (status, total_cents, payment_status, reserved_at, finished_at)
            values (
                %(status)s, %(total)s, %(payment_status)s,
                case when %(status)s = 'reserved' then now() - make_interval(secs => %(ago)s) end,
                case when %(status)s in ('processed', 'failed', 'cancelled') then now() end
            )
            returning id
            """,
            {"status": status, "total": total, "payment_status": payment_status, "ago": reserved_ago_s},
        ).fetchone()[0]
    )
    if with_job and status in ("pending", "reserved"):
        sql.execute(
            "insert into jobs (kind, payload, run_after) values ('process_order', %s, now() + interval '1 day')",
            (f'{{"order_id": {order_id}}}',),
        )
    for pid, qty in sorted(items.items()):
        sql.execute(
            "insert into order_items (order_id, product_id, quantity, unit_price_cents) values (%s, %s, %s, %s)",
            (order_id, pid, qty, prices[pid]),
        )
        if with_stock and status == "reserved":
            sql.execute("update inventory set reserved = reserved + %s where product_id = %s", (qty, pid))
        if with_stock and status == "processed":
            after = sql.execute(
                "update inventory set on_hand = on_hand - %s where product_id = %s returning on_hand", (qty, pid)
            ).fetchone()[0]
            sql.execute(
                "insert into stock_movements (product_id, delta, on_hand_after, kind, reason, order_id)"
                " values (%s, %s, %s, 'sale', 'test', %s)",
                (pid, -qty, after, order_id),
            )
    return order_id


def order_total(sql: Any, order_id: int) -> int:
    return int(sql.execute("select total_cents from orders where id = %s", (order_id,)).fetchone()[0])


def charge(payments_url: str, order_id: int, amount_cents: int, *, key: str | None = None, sql: Any = None) -> Charge:
    """A charge at the payment simulator for the order, under its payment key (read through
    `sql`) unless `key` is given."""
    if key is None:
        created_at = sql.execute("select created_at from orders where id = %s", (order_id,)).fetchone()[0]
        key = payment_key(order_id, created_at)

    async def run() -> Charge:
        async with PaymentsClient(payments_url) as client:
            return await client.charge(idempotency_key=key, amount_cents=amount_cents, reference=str(order_id))

    return asyncio.run(run())


def stock(sql: Any, product_id: int) -> tuple[int, int, int]:
    """(on_hand, reserved, version) of a product."""
    row = sql.execute("select on_hand, reserved, version from inventory where product_id = %s", (product_id,))
    return tuple(row.fetchone())  # type: ignore[return-value]
