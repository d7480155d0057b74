"""Reading orders as a client may see them: one, a page, its log, or one once it is final."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from invorder import db
from invorder.db.queries import queries
from invorder.errors import NotFound
from invorder.orders.model import OrderItemRow, OrderLogRow, OrderRow

Q = queries()


async def get_order(pool: Any, order_id: int, *, viewer: int | None) -> tuple[OrderRow, list[OrderItemRow]]:
    """The order and its items, when `viewer` (a client id; None: anyone's) may see it."""
    async with db.transaction(pool) as conn:
        order = await db.one(conn, Q.get_order, OrderRow, id=order_id, client_id=viewer)
        if order is None:
            raise NotFound(f"order {order_id} does not exist")
        items = await db.many(conn, Q.get_order_items, OrderItemRow, order_id=order_id)
    return order, items


async def wait_for_final(
    pool: Any, order_id: int, wait_s: float, *, viewer: int | None
) -> tuple[OrderRow, list[OrderItemRow]]:
    """The order once it is final, or as it is after `wait_s` seconds."""
    deadline = time.monotonic() + wait_s
    delay = 0.02
    while True:
        order, items = await get_order(pool, order_id, viewer=viewer)
        if order.is_final or time.monotonic() >= deadline:
            return order, items
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, 0.25)


async def list_orders(
    pool: Any, *, after_id: int, limit: int, status: str | None, viewer: int | None
) -> list[OrderRow]:
    async with db.transaction(pool) as conn:
        return await db.many(
            conn, Q.list_orders, OrderRow, after_id=after_id, limit=limit, status=status, client_id=viewer
        )


async def list_order_logs(
    pool: Any, order_id: int, *, after_id: int, limit: int, viewer: int | None
) -> list[OrderLogRow]:
    async with db.transaction(pool) as conn:
        if await db.one(conn, Q.get_order, OrderRow, id=order_id, client_id=viewer) is None:
            raise NotFound(f"order {order_id} does not exist")
        return await db.many(conn, Q.list_order_logs, OrderLogRow, order_id=order_id, after_id=after_id, limit=limit)
