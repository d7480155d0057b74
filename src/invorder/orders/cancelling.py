"""Cancelling an order (the API side): one not yet charged gives back its reservation; a paid one
with nothing shipped is refunded in full, its units back on hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from invorder import db
from invorder.catalog.inventory import InventoryRow
from invorder.db.queries import queries
from invorder.errors import Conflict, Forbidden
from invorder.orders import model
from invorder.orders.fulfillments import locked_visible_order
from invorder.orders.model import OrderItemRow, OrderRow
from invorder.orders.refunds import accept_refund, was_paid
from invorder.orders.state import OrderChanges

Q = queries()


@dataclass(frozen=True)
class Cancelled:
    order: OrderRow
    items: list[OrderItemRow]
    refund_id: int | None  # the refund of a paid order


async def cancel_order(pool: Any, order_id: int, *, viewer: int | None, actor: str, may_refund: bool) -> Cancelled:
    """Cancel an order not yet charged, giving back any reservation, or a processed order with
    nothing shipped (only when `may_refund`: the key holds refunds:write), with one refund of
    everything refundable; `actor` is logged."""
    async with db.transaction(pool) as conn:
        order = await locked_visible_order(conn, order_id, viewer=viewer)
        if order.status == model.PROCESSED:
            return await _cancel_paid(conn, order, actor=actor, may_refund=may_refund)
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
    return Cancelled(cancelled, items, None)


async def _cancel_paid(conn: db.Conn, order: OrderRow, *, actor: str, may_refund: bool) -> Cancelled:
    """One refund of the whole refundable amount, `restock: cancel` for every unit not yet
    refunded (`none` for a unit cancelled already by a refund that failed, or whose product has
    no stock row left to put it back on), then the order `cancelled`, so that its event shows
    the refund's counts. 409 when a unit shipped, or when nothing is left to refund (no refund
    can carry the restock then: an inventory adjustment puts the units back)."""
    if not may_refund:
        raise Forbidden("cancelling a paid order refunds it: this API key lacks the scope refunds:write")
    assert was_paid(order)
    items = await db.many(conn, Q.get_order_items, OrderItemRow, order_id=order.id)
    if any(i.fulfilled_quantity > 0 for i in items):
        raise Conflict(f"order {order.id} has shipped units: refund them with restock return instead")
    refundable = order.total_cents - int(await db.scalar(conn, Q.refunds_total_not_failed, order_id=order.id))
    if refundable <= 0:
        raise Conflict(
            f"order {order.id} is refunded in full already: nothing is left to refund, so no refund can put"
            " its units back; adjust the stock (POST /inventory/{product_id}/adjustments) instead"
        )
    stocked = {
        i.product_id
        for i in items
        if await db.one(conn, Q.get_inventory, InventoryRow, product_id=i.product_id) is not None
    }
    lines: dict[tuple[int, str], int] = {}
    for item in items:
        unrefunded = item.quantity - item.refunded_quantity
        to_cancel = min(unrefunded, item.left_to_ship) if item.product_id in stocked else 0
        if to_cancel:
            lines[(item.product_id, "cancel")] = to_cancel
        if unrefunded - to_cancel:
            lines[(item.product_id, "none")] = unrefunded - to_cancel
    refund = await accept_refund(
        conn,
        order,
        lines,
        refundable,
        reason="other",
        note="order cancelled",
        key_client_id=None,
        idempotency_key=None,
        request_hash=None,
        actor=actor,
    )
    assert refund is not None  # no key, so no conflict on one
    changes = OrderChanges(actor=actor)
    changes.move(order, status=model.CANCELLED, next_attempt_at=None)
    changes.log(order.id, order.attempts, model.CANCELLED, details={"was": order.status, "refund_id": refund.id})
    cancelled = (await changes.write(conn))[order.id]
    items = await db.many(conn, Q.get_order_items, OrderItemRow, order_id=order.id)
    return Cancelled(cancelled, items, refund.id)
