"""Writing orders' states: the changes one transaction makes to many orders (their new rows,
their log rows, the stock their reservations hold), gathered and then written set-based."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
from psycopg.types.json import Jsonb

from invorder import db
from invorder.audit import WORKER
from invorder.db.queries import queries
from invorder.orders.model import OrderRow

Q = queries()


class _LogRow(msgspec.Struct, frozen=True):
    order_id: int
    attempt: int
    status: str
    error_message: str | None
    details: dict[str, Any]


@dataclass
class OrderChanges:
    """What one transaction does to the orders it holds locked (lock_orders): `move`, `log`,
    `reserve`, `release` and `deduct` only gather; `write` sends it all in one statement per
    table, whether one order changes or a batch of hundreds."""

    actor: str = WORKER  # who makes these changes, for the log rows and sale movements
    _rows: dict[int, OrderRow] = field(default_factory=dict)
    _logs: list[_LogRow] = field(default_factory=list)
    _reserve: list[int] = field(default_factory=list)
    _release: list[int] = field(default_factory=list)
    _deduct: list[int] = field(default_factory=list)
    _stock_locked: set[int] = field(default_factory=set)

    def move(self, order: OrderRow, **changes: Any) -> OrderRow:
        """`order` with `changes` applied, to be written (a later move of the same order wins)."""
        moved = msgspec.structs.replace(order, **changes)
        self._rows[order.id] = moved
        return moved

    def log(
        self,
        order_id: int,
        attempt: int,
        status: str,
        *,
        error: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self._logs.append(_LogRow(order_id, attempt, status, error, details or {}))

    def reserve(self, order_id: int) -> None:
        """Hold every line of the order (the caller checked that the stock is there)."""
        self._reserve.append(order_id)

    def release(self, order_id: int) -> None:
        """Give back what the order reserved (ledger-neutral: on_hand does not change)."""
        self._release.append(order_id)

    def stock_locked(self, order_ids: list[int]) -> None:
        """The caller holds the stock rows of these orders locked already (it read them with
        lock_stock_for_orders to decide): `write` does not lock them again."""
        self._stock_locked.update(order_ids)

    def deduct(self, order_id: int) -> None:
        """Turn the order's reservation into a sale: on_hand and reserved drop, one `sale`
        ledger row per line."""
        self._deduct.append(order_id)

    async def write(self, conn: db.Conn) -> dict[int, OrderRow]:
        """Write everything gathered; the moved orders as stored, by id."""
        to_lock = sorted({*self._reserve, *self._release, *self._deduct} - self._stock_locked)
        if to_lock:  # every stock row first, in product-id order, before any is written
            await db.execute(conn, Q.lock_stock_for_orders, order_ids=to_lock)
        if self._reserve or self._release:
            await db.execute(conn, Q.move_reservations_for_orders, reserve_ids=self._reserve, release_ids=self._release)
        if self._deduct:
            await db.execute(conn, Q.deduct_stock_for_orders, order_ids=self._deduct, actor=self.actor)
        stored: dict[int, OrderRow] = {}
        if self._rows:
            # One JSON document each for the new states and the log rows (see set_order_states)
            written = await db.many(conn, Q.set_order_states, OrderRow, orders=Jsonb(list(self._rows.values())))
            stored = {r.id: r for r in written}
        if self._logs:
            await db.execute(conn, Q.insert_order_logs, logs=Jsonb(self._logs), actor=self.actor)
        return stored
