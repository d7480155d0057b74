"""Writing an order's state: the transition (under the caller's row lock) and its log row."""

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
