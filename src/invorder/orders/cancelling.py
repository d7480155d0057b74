"""Cancelling an order (the API side): one not yet charged gives back its reservation; a paid one
with nothing shipped is refunded in full, its units back on hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from invorder import db
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
    """Cancelled at once; one refund of the whole refundable amount, restock cancel for every
    unit not yet refunded (restock none for a unit cancelled already by a refund that failed)."""
    if not may_refund:
        raise Forbidden("cancelling a paid order refunds it: this API key lacks the scope refunds:write")
    assert was_paid(order)
    items = await db.many(conn, Q.get_order_items, OrderItemRow, order_id=order.id)
    if any(i.fulfilled_quantity > 0 for i in items):
        raise Conflict(f"order {order.id} has shipped units: refund them with restock return instead")
    changes = OrderChanges(actor=actor)
    changes.move(order, status=model.CANCELLED, next_attempt_at=None)
    changes.log(order.id, order.attempts, model.CANCELLED, details={"was": order.status})
    cancelled = (await changes.write(conn))[order.id]
    lines: dict[tuple[int, str], int] = {}
    for item in items:
        unrefunded = item.quantity - item.refunded_quantity
        to_cancel = min(unrefunded, item.left_to_ship)
        if to_cancel:
            lines[(item.product_id, "cancel")] = to_cancel
        if unrefunded - to_cancel:
            lines[(item.product_id, "none")] = unrefunded - to_cancel
    refundable = order.total_cents - int(await db.scalar(conn, Q.refunds_total_not_failed, order_id=order.id))
    refund_id = None
    if refundable > 0:  # nothing left to refund: the order is cancelled with no new refund
        refund = await accept_refund(
            conn,
            cancelled,
            lines,
            refundable,
            reason="other",
            note="order cancelled",
            idempotency_key=None,
            request_hash=None,
            actor=actor,
        )
        assert refund is not None  # no key, so no conflict on one
        refund_id = refund.id
    items = await db.many(conn, Q.get_order_items, OrderItemRow, order_id=order.id)
    cancelled = await db.one(conn, Q.get_order, OrderRow, id=order.id, client_id=None) or cancelled
    return Cancelled(cancelled, items, refund_id)
