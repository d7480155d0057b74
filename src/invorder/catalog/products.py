"""Products: create, read, list, patch (optimistic concurrency) and soft delete."""

from __future__ import annotations

from datetime import datetime

import msgspec
from psycopg_pool import AsyncConnectionPool

from invorder import db
from invorder.errors import NotFound, PreconditionFailed
from invorder.sql import queries

Q = queries()


class ProductRow(msgspec.Struct, frozen=True):
    id: int
    name: str
    sku: str | None
    description: str | None
    price_cents: int
    version: int
    created_at: datetime
    updated_at: datetime


class NewProduct(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    price_cents: int
    sku: str | None = None
    description: str | None = None


class ProductChanges(msgspec.Struct, frozen=True, kw_only=True):
    """Fields to change; UNSET leaves a field as it is (None clears sku or description)."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    sku: str | msgspec.UnsetType | None = msgspec.UNSET
    description: str | msgspec.UnsetType | None = msgspec.UNSET
    price_cents: int | msgspec.UnsetType = msgspec.UNSET


def _not_found(product_id: int) -> NotFound:
    return NotFound(f"product {product_id} does not exist")


async def create_product(pool: AsyncConnectionPool[db.Conn], new: NewProduct) -> ProductRow:
    async with db.transaction(pool) as conn:
        row = await db.one(
            conn,
            Q.insert_product,
            ProductRow,
            name=new.name.strip(),
            sku=new.sku.strip() if new.sku else None,
            description=new.description,
            price_cents=new.price_cents,
        )
    assert row is not None
    return row


async def get_product(pool: AsyncConnectionPool[db.Conn], product_id: int) -> ProductRow:
    async with db.transaction(pool) as conn:
        row = await db.one(conn, Q.get_product, ProductRow, id=product_id)
    if row is None:
        raise _not_found(product_id)
    return row


async def list_products(
    pool: AsyncConnectionPool[db.Conn], *, after_id: int, limit: int, q: str | None
) -> list[ProductRow]:
    pattern = None
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
    async with db.transaction(pool) as conn:
        return await db.many(conn, Q.list_products, ProductRow, after_id=after_id, limit=limit, pattern=pattern)


async def update_product(
    pool: AsyncConnectionPool[db.Conn],
    product_id: int,
    changes: ProductChanges,
    *,
    expected_version: int | None,
) -> ProductRow:
    """Apply `changes`; 412 when `expected_version` (from If-Match) is no longer current."""

    def given(value: object) -> object:
        return None if value is msgspec.UNSET else value

    sku = given(changes.sku)
    async with db.transaction(pool) as conn:
        row = await db.one(
            conn,
            Q.update_product,
            ProductRow,
            id=product_id,
            expected_version=expected_version,
            name=changes.name.strip() if isinstance(changes.name, str) else None,
            set_sku=changes.sku is not msgspec.UNSET,
            sku=sku.strip() if isinstance(sku, str) else None,
            set_description=changes.description is not msgspec.UNSET,
            description=given(changes.description),
            price_cents=given(changes.price_cents),
        )
        if row is None:
            current = await db.one(conn, Q.get_product, ProductRow, id=product_id)
            if current is None:
                raise _not_found(product_id)
            raise PreconditionFailed(
                f"product {product_id} is at version {current.version}, not {expected_version}:"
                " read it again and reapply your change"
            )
    return row


async def delete_product(pool: AsyncConnectionPool[db.Conn], product_id: int) -> ProductRow:
    async with db.transaction(pool) as conn:
        row = await db.one(conn, Q.delete_product, ProductRow, id=product_id)
    if row is None:
        raise _not_found(product_id)
    return row
