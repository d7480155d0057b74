"""Writing an order's state: the transition (under the caller's row lock), its log row, and
the stock its reservation holds."""

from __future__ import annotations

from typing import Any

import msgspec
from psycopg.types.json import Jsonb

from invorder import db
from invorder.orders.model import OrderRow
from invorder.sql import queries

Q = queries()


async def move_order(conn: db.Conn, order: OrderRow, **changes: Any) -> OrderRow:
    """Write `order` with `changes` applied and return it as stored. The caller holds the
    order's row lock (lock_order), so no other step can move it meanwhile."""
    moved = await db.one(conn, Q.set_order_state, OrderRow, **{**msgspec.structs.asdict(order), **changes})
    assert moved is not None
    return moved


async def log_order(
    conn: db.Conn,
    order_id: int,
    attempt: int,
    status: str,
    *,
    error: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await db.execute(
        conn,
        Q.insert_order_log,
        order_id=order_id,
        attempt=attempt,
        status=status,
        error_message=error,
        details=Jsonb(details or {}),
    )


async def release_reserved_stock(conn: db.Conn, order_id: int) -> None:
    """Give back what the order reserved (ledger-neutral: on_hand does not change)."""
    await _lock_order_stock(conn, order_id)
    await db.execute(conn, Q.release_order_stock, order_id=order_id)


async def deduct_reserved_stock(conn: db.Conn, order_id: int) -> None:
    """Turn the order's reservation into a sale: on_hand and reserved drop, one `sale` ledger
    row per line."""
    await _lock_order_stock(conn, order_id)
    await db.execute(conn, Q.deduct_order_stock, order_id=order_id)


async def _lock_order_stock(conn: db.Conn, order_id: int) -> None:
    """Lock the order's stock rows in product id order, the one global lock order, before
    changing several of them. The update alone would lock them in whatever order its plan
    reads them, and deadlock against another multi-row writer (a reservation, a stock import);
    its snapshot would also predate a wait for a lock, so the check constraints could judge a
    row by an older version than the one it changes."""
    await db.execute(conn, Q.lock_stock_for_order, order_id=order_id)
