"""Waking the orders that wait for stock, in the transaction that restocks a product."""

from __future__ import annotations

from invorder import db
from invorder.db.queries import queries
from invorder.orders import model
from invorder.queue import notify_workers

Q = queries()


async def wake_orders_waiting_for(conn: db.Conn, product_id: int) -> None:
    """Run in the transaction that grows a product's stock: orders waiting for it are retried
    as soon as that commits, not after their backoff."""
    if await db.execute(conn, Q.wake_orders_for_product, kind=model.PROCESS_ORDER, product_id=product_id):
        await notify_workers(conn, model.PROCESS_ORDER)
