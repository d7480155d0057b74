"""Placing orders (the API side): the order, its items, its first log row and its first job in
one transaction, which the orders of concurrent requests share."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import msgspec
import psycopg
from psycopg.types.json import Jsonb

from invorder import db
from invorder.db.group_commit import GroupCommit
from invorder.db.queries import queries
from invorder.errors import Conflict, FieldError, IdempotencyMismatch, InvalidInput, InvorderError
from invorder.orders import model
from invorder.orders.model import OrderItemRow, OrderRow
from invorder.queue import CHANNEL

Q = queries()


@dataclass(frozen=True)
class NewOrder:
    items: dict[int, int]  # product_id -> quantity (lines naming one product are merged)
    customer_ref: str | None

    def request_hash(self) -> str:
        canonical = json.dumps(
            {"items": sorted(self.items.items()), "customer_ref": self.customer_ref}, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Placed:
    order: OrderRow
    items: list[OrderItemRow]
    replayed: bool


class _PriceRow(msgspec.Struct, frozen=True):
    id: int
    price_cents: int


class _KeyRow(msgspec.Struct, frozen=True):
    id: int
    request_hash: str | None


class _PlacedRow(OrderRow, frozen=True):
    place: int  # 1-based, in the statement's `orders`
    unit_prices: list[int]  # of the items, in product-id order
    notified: None


@dataclass(frozen=True)
class _Placing:
    """One request's order, as the group statement takes it."""

    client_id: int
    actor: str
    customer_ref: str | None
    idempotency_key: str | None
    request_hash: str
    product_ids: list[int]  # sorted
    quantities: list[int]  # of each product


# Orders written by one placement statement at most.
MOST_ORDERS_PER_STATEMENT = 200


class OrderPlacer:
    """Placement in one API process. The orders of concurrent requests are written together:
    while one placement statement runs, the requests that arrive wait, and the next statement
    writes all of theirs (group commit), so a busy process pays one round trip, one commit
    and one notification for many orders, and a lone request waits for nothing."""

    def __init__(self, pool: Any, *, max_attempts: int) -> None:
        self._pool = pool
        self._max_attempts = max_attempts
        self._group: GroupCommit[_Placing, _PlacedRow | None] = GroupCommit(
            self._place_group, max_items=MOST_ORDERS_PER_STATEMENT, retry_alone=_wrote_nothing
        )

    async def place(self, new: NewOrder, *, client_id: int, actor: str, idempotency_key: str | None) -> Placed:
        """Write the order of `client_id`, its items, a `placed` log row and its
        `process_order` job atomically. With an idempotency key this client used already: the
        same request replays the first order; another request is refused (422)."""
        ids = sorted(new.items)
        placing = _Placing(
            client_id=client_id,
            actor=actor,
            customer_ref=new.customer_ref,
            idempotency_key=idempotency_key,
            request_hash=new.request_hash(),
            product_ids=ids,
            quantities=[new.items[pid] for pid in ids],
        )
        [order] = await self._group.submit([placing])
        if order is None:
            async with db.transaction(self._pool) as conn:
                return await _not_placed(conn, placing)
        items = [
            OrderItemRow(pid, qty, price)
            for pid, qty, price in zip(placing.product_ids, placing.quantities, order.unit_prices, strict=True)
        ]
        return Placed(order, items, replayed=False)

    async def _place_group(self, group: list[_Placing]) -> list[_PlacedRow | None]:
        """One statement for every order of `group`: each one's row, or None if not placed."""
        orders = [
            {
                "client_id": p.client_id,
                "customer_ref": p.customer_ref,
                "idempotency_key": p.idempotency_key,
                "request_hash": p.request_hash,
                "actor": p.actor,
            }
            for p in group
        ]
        lines = [
            {"place": place, "product_id": pid, "quantity": qty}
            for place, p in enumerate(group, 1)
            for pid, qty in zip(p.product_ids, p.quantities, strict=True)
        ]
        async with db.single_statement(self._pool) as conn:
            rows = await db.many(
                conn,
                Q.place_orders,
                _PlacedRow,
                orders=Jsonb(orders),
                lines=Jsonb(lines),
                job_kind=model.PROCESS_ORDER,
                channel=CHANNEL,
                max_attempts=self._max_attempts,
            )
        placed: list[_PlacedRow | None] = [None] * len(group)
        for row in rows:
            placed[row.place - 1] = row
        return placed


def _wrote_nothing(exc: Exception) -> bool:
    """Whether a placement statement that raised `exc` surely wrote nothing, so each of its
    orders may be tried again alone: the server refused it (a domain error such as a total past
    bigint, or a rollback such as a deadlock). A lost connection may have come after the
    commit: trying again could place an order twice, so the requests get the error."""
    if isinstance(exc, InvorderError):
        return True
    return isinstance(exc, psycopg.Error) and (exc.sqlstate or "").startswith("40")


async def _not_placed(conn: db.Conn, placing: _Placing) -> Placed:
    """Why the placement statement wrote nothing for this order: the key was used before
    (replay it, or refuse a different request), or a product is missing."""
    if placing.idempotency_key is not None:
        existing = await db.one(
            conn,
            Q.find_order_by_idempotency_key,
            _KeyRow,
            client_id=placing.client_id,
            idempotency_key=placing.idempotency_key,
        )
        if existing is not None:
            return await _replay(conn, existing, placing.request_hash)
    ids = placing.product_ids
    live = {r.id for r in await db.many(conn, Q.live_products_for_order, _PriceRow, ids=ids)}
    missing = [pid for pid in ids if pid not in live]
    if missing:
        raise InvalidInput(
            f"no such product: {', '.join(map(str, missing))}",
            [FieldError("items", f"product {pid} does not exist or was deleted") for pid in missing],
        )
    # Nothing was placed, yet no order of this client holds the key and every product is there:
    # another client's order holds the key in the unique index on the key alone, which stays
    # until per-client keys are fully deployed (docs/migrations.md), or a product came back.
    raise Conflict("this order could not be placed now; retry, with another Idempotency-Key if this persists")


async def _replay(conn: db.Conn, existing: _KeyRow, request_hash: str) -> Placed:
    if existing.request_hash != request_hash:
        raise IdempotencyMismatch(
            "this Idempotency-Key was used for a different request; use a new key for a new order"
        )
    order = await db.one(conn, Q.get_order, OrderRow, id=existing.id, client_id=None)
    items = await db.many(conn, Q.get_order_items, OrderItemRow, order_id=existing.id)
    assert order is not None
    return Placed(order, items, replayed=True)
