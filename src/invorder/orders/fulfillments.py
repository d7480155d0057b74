"""Fulfillments: recording what of a paid order shipped, and reading them back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from psycopg.types.json import Jsonb

from invorder import db
from invorder.db.queries import queries
from invorder.errors import Conflict, FieldError, InvalidInput, NotFound
from invorder.orders import model
from invorder.orders.model import OrderItemRow, OrderRow

Q = queries()


class FulfillmentItem(msgspec.Struct, frozen=True):
    product_id: int
    quantity: int


class Fulfillment(msgspec.Struct, frozen=True):
    """A fulfillment as the API shows it (and fulfillment.created carries it)."""

    id: int
    order_id: int
    items: list[FulfillmentItem]
    carrier: str | None
    tracking_number: str | None
    created_at: datetime


class _Data(msgspec.Struct, frozen=True):
    data: str


def _decode(row: _Data) -> Fulfillment:
    return msgspec.json.decode(row.data, type=Fulfillment)


async def locked_visible_order(conn: db.Conn, order_id: int, *, viewer: int | None) -> OrderRow:
    """The order, locked, when `viewer` (a client id; None: anyone's) may see it; else 404.
    Every writer of an order's fulfillments, refunds and status holds this lock."""
    if await db.one(conn, Q.get_order, OrderRow, id=order_id, client_id=viewer) is None:
        raise NotFound(f"order {order_id} does not exist")
    order = next(iter(await db.many(conn, Q.lock_orders, OrderRow, ids=[order_id])), None)
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    return order


async def create_fulfillment(
    pool: Any,
    order_id: int,
    items: dict[int, int] | None,
    *,
    carrier: str | None,
    tracking_number: str | None,
    viewer: int | None,
    actor: str,
) -> Fulfillment:
    """Record that `items` (product id -> units; None: every unit left to ship) of a paid order
    shipped. 409 unless the order is processed or when nothing is left to ship; 422 for a
    product not in the order or more units than are left to ship."""
    async with db.transaction(pool) as conn:
        order = await locked_visible_order(conn, order_id, viewer=viewer)
        if order.status != model.PROCESSED:
            raise Conflict(f"order {order_id} is {order.status}: only a processed (paid) order ships")
        lines = {i.product_id: i for i in await db.many(conn, Q.get_order_items, OrderItemRow, order_id=order_id)}
        if sum(line.left_to_ship for line in lines.values()) == 0:
            raise Conflict(f"order {order_id} has nothing left to ship")
        if items is None:
            items = {pid: line.left_to_ship for pid, line in lines.items() if line.left_to_ship > 0}
        errors = [
            FieldError("items", f"product {pid} is not in order {order_id}")
            for pid in sorted(items)
            if pid not in lines
        ]
        errors += [
            FieldError("items", f"product {pid}: {qty} units asked, {lines[pid].left_to_ship} left to ship")
            for pid, qty in sorted(items.items())
            if pid in lines and qty > lines[pid].left_to_ship
        ]
        if errors:
            raise InvalidInput("these units cannot ship", errors)
        fulfillment_id = await db.scalar(
            conn,
            Q.insert_fulfillment,
            order_id=order_id,
            items=Jsonb([{"product_id": pid, "quantity": qty} for pid, qty in sorted(items.items())]),
            carrier=carrier,
            tracking_number=tracking_number,
            actor=actor,
        )
        await db.execute(conn, Q.update_fulfillment_status, order_id=order_id)
        row = await db.one(conn, Q.get_fulfillment, _Data, id=fulfillment_id)
    assert row is not None
    return _decode(row)


async def list_fulfillments(
    pool: Any, order_id: int, *, after_id: int, limit: int, viewer: int | None
) -> list[Fulfillment]:
    async with db.transaction(pool) as conn:
        if await db.one(conn, Q.get_order, OrderRow, id=order_id, client_id=viewer) is None:
            raise NotFound(f"order {order_id} does not exist")
        rows = await db.many(
            conn, Q.list_fulfillments_of_order, _Data, order_id=order_id, after_id=after_id, limit=limit
        )
    return [_decode(r) for r in rows]
