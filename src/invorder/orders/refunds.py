"""Refunds (the API side): accepting one under the order's lock, every bound checked and its
restocks written at once, and reading them back. The process_refund job (orders/refunding.py)
moves the money."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec
from psycopg.types.json import Jsonb

from invorder import db
from invorder.catalog import inventory
from invorder.db.queries import queries
from invorder.errors import Conflict, FieldError, IdempotencyMismatch, InvalidInput, NotFound
from invorder.orders import model
from invorder.orders.fulfillments import locked_visible_order
from invorder.orders.model import OrderItemRow, OrderRow
from invorder.orders.state import OrderChanges
from invorder.orders.waking import wake_orders_waiting_for
from invorder.queue import enqueue

Q = queries()
PROCESS_REFUND = "process_refund"  # the job kind that asks the provider for a refund
Restock = Literal["none", "cancel", "return"]
Reason = Literal["requested_by_customer", "returned", "damaged", "duplicate", "fraudulent", "other"]


class RefundItem(msgspec.Struct, frozen=True):
    product_id: int
    quantity: int
    restock: Restock


class Refund(msgspec.Struct, frozen=True):
    """A refund as the API shows it (and refund.* events carry it)."""

    id: int
    order_id: int
    amount_cents: int
    status: str
    items: list[RefundItem]
    reason: str | None
    note: str | None
    failure_reason: str | None
    provider_refund_id: str | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class NewRefund:
    items: dict[tuple[int, str], int]  # (product id, restock) -> units (lines naming both are merged)
    amount_cents: int | None  # None: the items' value
    reason: str | None
    note: str | None

    def request_hash(self, order_id: int) -> str:
        canonical = json.dumps(
            {
                "order_id": order_id,
                "items": sorted([pid, restock, qty] for (pid, restock), qty in self.items.items()),
                "amount_cents": self.amount_cents,
                "reason": self.reason,
                "note": self.note,
            },
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Accepted:
    refund: Refund
    replayed: bool


class _Data(msgspec.Struct, frozen=True):
    data: str


class _KeyRow(msgspec.Struct, frozen=True):
    id: int
    order_id: int
    request_hash: str | None


class _Inserted(msgspec.Struct, frozen=True):
    id: int
    created_at: datetime


def _decode(row: _Data) -> Refund:
    return msgspec.json.decode(row.data, type=Refund)


def was_paid(order: OrderRow) -> bool:
    """Whether the order holds a succeeded charge (processed, or cancelled after payment)."""
    return order.payment_status == "succeeded"


async def create_refund(
    pool: Any,
    order_id: int,
    new: NewRefund,
    *,
    idempotency_key: str,
    client_id: int,  # the asking key's client: its Idempotency-Keys are its own
    viewer: int | None,
    actor: str,
) -> Accepted:
    """Accept a refund of a paid order: every bound checked under the order's lock, the units
    counted and restocked, and its process_refund job added, in one transaction. The same key
    with the same request replays the first refund; with another request, or on another order,
    it is refused (422)."""
    request_hash = new.request_hash(order_id)
    async with db.transaction(pool) as conn:
        order = await locked_visible_order(conn, order_id, viewer=viewer)
        # The order's lock serialises the key's users on this order; one on another order is
        # found here once it committed (or by the insert, which waits for it).
        replay = await _replay(conn, client_id, idempotency_key, order_id, request_hash)
        if replay is not None:
            return Accepted(replay, replayed=True)
        if order.status in (model.PENDING, model.RESERVED):
            raise Conflict(f"order {order_id} is {order.status}: it can be refunded once it is paid")
        if not was_paid(order):
            raise InvalidInput(f"order {order_id} was never paid: there is nothing to refund")
        lines = {i.product_id: i for i in await db.many(conn, Q.get_order_items, OrderItemRow, order_id=order_id)}
        _check_items(order_id, new.items, lines)
        value = sum(lines[pid].unit_price_cents * qty for (pid, _), qty in new.items.items())
        if new.items and new.amount_cents is not None and new.amount_cents > value:
            raise InvalidInput(
                f"amount_cents {new.amount_cents} is more than the items are worth ({value})",
                [FieldError("amount_cents", f"at most {value} for these items")],
            )
        if not new.items and new.amount_cents is None:
            raise InvalidInput(
                "a refund needs items, amount_cents, or both", [FieldError("amount_cents", "required without items")]
            )
        amount = value if new.amount_cents is None else new.amount_cents
        if amount < 1:
            raise InvalidInput(
                "a refund is at least 1 cent; these items are worth nothing",
                [FieldError("amount_cents", "must be at least 1")],
            )
        refundable = order.total_cents - int(await db.scalar(conn, Q.refunds_total_not_failed, order_id=order_id))
        if amount > refundable:
            raise InvalidInput(
                f"amount {amount} is more than the {refundable} cents left to refund on order {order_id}",
                [FieldError("amount_cents", f"at most {refundable}")],
            )
        refund = await accept_refund(
            conn,
            order,
            new.items,
            amount,
            reason=new.reason,
            note=new.note,
            key_client_id=client_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            actor=actor,
        )
        if refund is None:  # the key was taken meanwhile by a refund of another order
            replay = await _replay(conn, client_id, idempotency_key, order_id, request_hash)
            if replay is None:
                raise Conflict("a refund with this Idempotency-Key is being written; retry")
            return Accepted(replay, replayed=True)
    return Accepted(refund, replayed=False)


def _check_items(order_id: int, items: dict[tuple[int, str], int], lines: dict[int, OrderItemRow]) -> None:
    """Invariant 8 for the units asked: 422 naming each bound they would pass."""
    errors: list[FieldError] = []
    per_product: dict[int, dict[str, int]] = {}
    for (pid, restock), qty in items.items():
        per_product.setdefault(pid, {"none": 0, "cancel": 0, "return": 0})[restock] += qty
    for pid, asked in sorted(per_product.items()):
        line = lines.get(pid)
        if line is None:
            errors.append(FieldError("items", f"product {pid} is not in order {order_id}"))
            continue
        units = sum(asked.values())
        if line.refunded_quantity + units > line.quantity:
            left = line.quantity - line.refunded_quantity
            errors.append(FieldError("items", f"product {pid}: {units} units asked, {left} left to refund"))
        if asked["cancel"] > line.left_to_ship:
            errors.append(
                FieldError(
                    "items",
                    f"product {pid}: restock cancel of {asked['cancel']} units, {line.left_to_ship} not shipped",
                )
            )
        returnable = line.fulfilled_quantity - line.returned_quantity
        if asked["return"] > returnable:
            errors.append(
                FieldError(
                    "items",
                    f"product {pid}: restock return of {asked['return']} units, {returnable} shipped and not returned",
                )
            )
    if errors:
        raise InvalidInput("these units cannot be refunded", errors)


async def accept_refund(
    conn: db.Conn,
    order: OrderRow,
    items: dict[tuple[int, str], int],
    amount_cents: int,
    *,
    reason: str | None,
    note: str | None,
    key_client_id: int | None,
    idempotency_key: str | None,
    request_hash: str | None,
    actor: str,
) -> Refund | None:
    """Write a refund whose bounds the caller checked under the order's lock: the refund, its
    items and their counts, one restock ledger row per restocked item, the order's fulfillment
    status, a log row and its job. None when the asking client's (`key_client_id`) key is taken."""
    inserted = await db.one(
        conn,
        Q.insert_refund,
        _Inserted,
        order_id=order.id,
        amount_cents=amount_cents,
        reason=reason,
        note=note,
        key_client_id=key_client_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        actor=actor,
        items=Jsonb(
            [{"product_id": pid, "restock": restock, "quantity": qty} for (pid, restock), qty in sorted(items.items())]
        ),
    )
    if inserted is None:
        return None
    restocked: dict[int, int] = {}
    for (pid, restock), qty in items.items():
        if restock != "none":
            restocked[pid] = restocked.get(pid, 0) + qty
    for pid, qty in sorted(restocked.items()):  # stock rows in product-id order, as every writer
        try:
            await inventory.restock(
                conn,
                pid,
                qty,
                order_id=order.id,
                refund_id=inserted.id,
                actor=actor,
                on_restock=wake_orders_waiting_for,
            )
        except NotFound:
            raise InvalidInput(
                f"product {pid} has no stock record to put units back on: create it, or refund with restock none",
                [FieldError("items", f"product {pid}: no stock record")],
            ) from None
    if any(restock == "cancel" for _, restock in items):
        await db.execute(conn, Q.update_fulfillment_status, order_id=order.id)
    changes = OrderChanges(actor=actor)
    changes.log(
        order.id,
        order.attempts,
        "refund_requested",
        details={
            "refund_id": inserted.id,
            "amount_cents": amount_cents,
            "restocked": {str(p): q for p, q in restocked.items()},
        },
    )
    await changes.write(conn)
    await enqueue(conn, PROCESS_REFUND, {"refund_id": inserted.id}, max_attempts=25)
    row = await db.one(conn, Q.get_refund, _Data, id=inserted.id, client_id=None)
    assert row is not None
    return _decode(row)


async def _replay(
    conn: db.Conn, key_client_id: int, idempotency_key: str, order_id: int, request_hash: str
) -> Refund | None:
    """The refund the asking client's key made, when it made one for the same request; 422 when
    it was used for another request or another order."""
    existing = await db.one(
        conn,
        Q.find_refund_by_idempotency_key,
        _KeyRow,
        key_client_id=key_client_id,
        idempotency_key=idempotency_key,
    )
    if existing is None:
        return None
    if existing.order_id != order_id:
        raise IdempotencyMismatch(
            f"this Idempotency-Key was used for a refund of order {existing.order_id}; use a new key for a new refund"
        )
    if existing.request_hash != request_hash:
        raise IdempotencyMismatch(
            "this Idempotency-Key was used for a different refund; use a new key for a new refund"
        )
    row = await db.one(conn, Q.get_refund, _Data, id=existing.id, client_id=None)
    assert row is not None
    return _decode(row)


async def get_refund(pool: Any, refund_id: int, *, viewer: int | None) -> Refund:
    async with db.transaction(pool) as conn:
        row = await db.one(conn, Q.get_refund, _Data, id=refund_id, client_id=viewer)
    if row is None:
        raise NotFound(f"refund {refund_id} does not exist")
    return _decode(row)


async def list_refunds(pool: Any, order_id: int, *, after_id: int, limit: int, viewer: int | None) -> list[Refund]:
    async with db.transaction(pool) as conn:
        if await db.one(conn, Q.get_order, OrderRow, id=order_id, client_id=viewer) is None:
            raise NotFound(f"order {order_id} does not exist")
        rows = await db.many(conn, Q.list_refunds_of_order, _Data, order_id=order_id, after_id=after_id, limit=limit)
    return [_decode(r) for r in rows]
