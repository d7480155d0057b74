"""Cancelling an order that no charge was attempted for (the API side)."""

from __future__ import annotations

from typing import Any

from invorder import db
from invorder.db.queries import queries
from invorder.errors import Conflict, NotFound
from invorder.orders import model
from invorder.orders.model import OrderItemRow, OrderRow
from invorder.orders.state import OrderChanges

Q = queries()


async def cancel_order(
    pool: Any, order_id: int, *, viewer: int | None, actor: str
) -> tuple[OrderRow, list[OrderItemRow]]:
    """Cancel an order not yet charged, giving back any reservation; `actor` is logged."""
    async with db.transaction(pool) as conn:
        if await db.one(conn, Q.get_order, OrderRow, id=order_id, client_id=viewer) is None:
            raise NotFound(f"order {order_id} does not exist")
        order = next(iter(await db.many(conn, Q.lock_orders, OrderRow, ids=[order_id])), None)
        if order is None:
            raise NotFound(f"order {order_id} does not exist")
        if order.is_final:
            raise Conflict(f"order {order_id} is {order.status} already")
        if order.payment_status != "none":
            raise Conflict(f"a charge was attempted for order {order_id}; it can no longer be cancelled")
        changes = OrderChanges(actor=actor)
        if order.status == model.RESERVED:
            changes.release(order_id)
        changes.move(order, status=model.CANCELLED, next_attempt_at=None, reserved_at=None)
        changes.log(order_id, order.attempts, model.CANCELLED, details={"was": order.status})
        cancelled = (await changes.write(conn))[order_id]
        items = await db.many(conn, Q.get_order_items, OrderItemRow, order_id=order_id)
    return cancelled, items
