"""Stock: one row per product (on_hand, reserved, reorder_point), every on_hand change written to the ledger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import msgspec
from psycopg_pool import AsyncConnectionPool

from invorder import db
from invorder.db.queries import queries
from invorder.errors import Conflict, FieldError, NotFound, PreconditionFailed

Q = queries()


class InventoryRow(msgspec.Struct, frozen=True):
    product_id: int
    on_hand: int
    reserved: int
    available: int
    # At or below it, available counts as low stock (inventory.low_stock); None: no alert.
    reorder_point: int | None
    version: int
    updated_at: datetime


class LevelRow(msgspec.Struct, frozen=True):
    """One stock level: a product at one location."""

    location_id: int
    on_hand: int
    reserved: int
    available: int
    reorder_point: int | None
    version: int


class InventoryChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What a PATCH sets; UNSET leaves a field as it is (a reorder point of None clears it)."""

    on_hand: int | msgspec.UnsetType = msgspec.UNSET
    reorder_point: int | msgspec.UnsetType | None = msgspec.UNSET


class MovementRow(msgspec.Struct, frozen=True):
    id: int
    product_id: int
    delta: int
    on_hand_after: int
    kind: str
    reason: str
    order_id: int | None
    refund_id: int | None  # the refund whose units a restock put back
    location_id: int  # the stock level's location
    actor: str | None  # who: key:<id>, admin, worker, system (None before audit existed)
    created_at: datetime


def _no_inventory(product_id: int, location_id: int | None = None) -> NotFound:
    if location_id is None:
        return NotFound(f"product {product_id} has no inventory record")
    return NotFound(f"product {product_id} has no stock level at location {location_id}")


class _Level(msgspec.Struct, frozen=True):
    """A stock level as writers lock it."""

    product_id: int
    location_id: int
    on_hand: int
    reserved: int
    available: int
    reorder_point: int | None
    version: int
    updated_at: datetime


async def _lock_level(conn: db.Conn, product_id: int, location_id: int | None) -> _Level:
    """The product's level at `location_id`, locked; with None, its one level (409 when it has
    several: the caller must say which)."""
    levels = await db.many(conn, Q.lock_inventory, _Level, product_id=product_id, location_id=location_id)
    if not levels:
        raise _no_inventory(product_id, location_id)
    if len(levels) > 1:
        raise Conflict(
            f"product {product_id} has stock at {len(levels)} locations: give location_id",
            [FieldError("location_id", "required when a product has several stock levels")],
        )
    return levels[0]


# `hook(conn, product_id)`, run in the transaction that grows a product's stock: orders pass
# theirs (waiting orders retry at once) to every function that can grow stock, which requires it.
RestockHook = Callable[[db.Conn, int], Awaitable[None]]


async def create_inventory(
    pool: AsyncConnectionPool[db.Conn], product_id: int, on_hand: int, *, location_id: int, actor: str
) -> InventoryRow:
    """A product's stock level at a location; 409 when the product has one there (or, until the
    contract step of locations, anywhere)."""
    async with db.transaction(pool) as conn:
        if await db.scalar(conn, Q.location_exists, id=location_id) is None:
            raise NotFound(f"location {location_id} does not exist", [FieldError("location_id", "no such location")])
        row = await db.one(
            conn,
            Q.insert_inventory,
            InventoryRow,
            product_id=product_id,
            location_id=location_id,
            on_hand=on_hand,
            reason="inventory created",
            actor=actor,
        )
    if row is None:
        raise NotFound(f"product {product_id} does not exist", [FieldError("product_id", "no such product")])
    return row


async def get_inventory(pool: AsyncConnectionPool[db.Conn], product_id: int) -> InventoryRow:
    async with db.transaction(pool) as conn:
        row = await db.one(conn, Q.get_inventory, InventoryRow, product_id=product_id)
    if row is None:
        raise _no_inventory(product_id)
    return row


async def get_inventory_with_levels(
    pool: AsyncConnectionPool[db.Conn], product_id: int
) -> tuple[InventoryRow, list[LevelRow]]:
    """The product's stock and its levels, one per location, read in one snapshot."""
    async with db.transaction(pool) as conn:
        row = await db.one(conn, Q.get_inventory, InventoryRow, product_id=product_id)
        if row is None:
            raise _no_inventory(product_id)
        levels = await db.many(conn, Q.list_levels_of_product, LevelRow, product_id=product_id)
    return row, levels


async def get_level(pool: AsyncConnectionPool[db.Conn], product_id: int, location_id: int) -> LevelRow:
    async with db.transaction(pool) as conn:
        row = await db.one(conn, Q.get_level, LevelRow, product_id=product_id, location_id=location_id)
    if row is None:
        raise _no_inventory(product_id, location_id)
    return row


async def list_inventory(
    pool: AsyncConnectionPool[db.Conn],
    *,
    after_id: int,
    limit: int,
    below: int | None,
    below_reorder_point: bool = False,
) -> list[InventoryRow]:
    async with db.transaction(pool) as conn:
        return await db.many(
            conn,
            Q.list_inventory,
            InventoryRow,
            after_id=after_id,
            limit=limit,
            below=below,
            below_reorder_point=below_reorder_point,
        )


async def _change(
    conn: db.Conn,
    product_id: int,
    delta: int,
    kind: str,
    reason: str,
    actor: str,
    on_restock: RestockHook | None,  # None only where stock cannot grow
    reorder_point: int | msgspec.UnsetType | None = msgspec.UNSET,
    order_id: int | None = None,
    refund_id: int | None = None,
    location_id: int | None = None,  # None: the product's one level
) -> InventoryRow:
    current = await _lock_level(conn, product_id, location_id)
    if delta < 0 and current.on_hand + delta < current.reserved:
        raise Conflict(
            f"on_hand would become {current.on_hand + delta}, below the {current.reserved} units reserved for orders",
            [FieldError("on_hand", "cannot go below reserved")],
        )
    row = await db.one(
        conn,
        Q.change_on_hand,
        InventoryRow,
        product_id=product_id,
        location_id=current.location_id,
        delta=delta,
        kind=kind,
        reason=reason,
        actor=actor,
        set_reorder_point=reorder_point is not msgspec.UNSET,
        reorder_point=None if reorder_point is msgspec.UNSET else reorder_point,
        order_id=order_id,
        refund_id=refund_id,
    )
    if row is None:
        raise _no_inventory(product_id)
    if delta > 0 and on_restock is not None:
        await on_restock(conn, product_id)
    return row


async def update_inventory(
    pool: AsyncConnectionPool[db.Conn],
    product_id: int,
    changes: InventoryChanges,
    *,
    expected_version: int | None,
    actor: str,
    on_restock: RestockHook,
    location_id: int | None = None,
) -> InventoryRow:
    """Set on_hand to an absolute level (a stock count; the ledger records the difference), the
    reorder point, or both, in one statement that bumps the version once; 412 when
    `expected_version` (from If-Match) is no longer current. A reorder point alone moves no
    stock: no ledger row, and no event (available stays where it was). At `location_id`'s
    level, or with None the product's one level."""
    async with db.transaction(pool) as conn:
        current = await _lock_level(conn, product_id, location_id)
        if expected_version is not None and current.version != expected_version:
            raise PreconditionFailed(
                f"inventory of product {product_id} is at version {current.version},"
                f" not {expected_version}: read it again and reapply your change"
            )
        delta = 0 if changes.on_hand is msgspec.UNSET else changes.on_hand - current.on_hand
        return await _change(
            conn,
            product_id,
            delta,
            "set",
            "stock level set",
            actor,
            on_restock=on_restock,
            reorder_point=changes.reorder_point,
            location_id=current.location_id,
        )


async def adjust_on_hand(
    pool: AsyncConnectionPool[db.Conn],
    product_id: int,
    delta: int,
    reason: str,
    *,
    actor: str,
    on_restock: RestockHook,
    location_id: int | None = None,
) -> InventoryRow:
    """Add `delta` (signed) to on_hand atomically; concurrent adjustments never lose an update.
    At `location_id`'s level, or with None the product's one level."""
    async with db.transaction(pool) as conn:
        return await _change(
            conn, product_id, delta, "adjustment", reason, actor, on_restock=on_restock, location_id=location_id
        )


async def restock(
    conn: db.Conn,
    product_id: int,
    quantity: int,
    *,
    order_id: int,
    refund_id: int,
    actor: str,
    on_restock: RestockHook,
) -> InventoryRow:
    """Put `quantity` units of a refund back on hand, in the caller's transaction: one `restock`
    ledger row naming the order and the refund. NotFound when the product has no live stock row."""
    return await _change(
        conn,
        product_id,
        quantity,
        "restock",
        f"refund {refund_id} of order {order_id}",
        actor,
        on_restock=on_restock,
        order_id=order_id,
        refund_id=refund_id,
    )


async def delete_inventory(pool: AsyncConnectionPool[db.Conn], product_id: int, *, actor: str) -> InventoryRow:
    """Remove the product's one stock level (on_hand leaves through a `removed` ledger row); 409
    while reserved, or when it has several."""
    async with db.transaction(pool) as conn:
        current = await _lock_level(conn, product_id, None)
        if current.reserved > 0:
            raise Conflict(
                f"{current.reserved} units of product {product_id} are reserved for orders;"
                " it cannot be removed until they are settled"
            )
        await _change(
            conn,
            product_id,
            -current.on_hand,
            "removed",
            "inventory deleted",
            actor,
            on_restock=None,
            location_id=current.location_id,
        )
        await db.execute(conn, Q.delete_inventory, product_id=product_id, location_id=current.location_id)
    return InventoryRow(
        product_id=current.product_id,
        on_hand=current.on_hand,
        reserved=current.reserved,
        available=current.available,
        reorder_point=current.reorder_point,
        version=current.version,
        updated_at=current.updated_at,
    )


async def list_movements(
    pool: AsyncConnectionPool[db.Conn], product_id: int, *, after_id: int, limit: int
) -> list[MovementRow]:
    async with db.transaction(pool) as conn:
        if await db.one(conn, Q.get_inventory, InventoryRow, product_id=product_id) is None:
            raise _no_inventory(product_id)
        return await db.many(
            conn,
            Q.list_movements,
            MovementRow,
            product_id=product_id,
            after_id=after_id,
            limit=limit,
        )
