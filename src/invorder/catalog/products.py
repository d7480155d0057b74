"""Products: create, read, list, patch (optimistic concurrency) and soft delete, each with its categories.
Reads go through the catalog cache (a no-op without Redis); writes invalidate it after they commit."""

from __future__ import annotations

from datetime import datetime

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from invorder import db
from invorder.catalog.cache import PRODUCT_CREATED, CatalogCache, list_entry, product_changed, product_entry
from invorder.db.queries import queries
from invorder.errors import NotFound, PreconditionFailed

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


class CategoryRef(msgspec.Struct, frozen=True):
    """A category as a product lists it."""

    id: int
    name: str


class ProductCategoryRow(msgspec.Struct, frozen=True):
    product_id: int
    id: int
    name: str


class Product(msgspec.Struct, frozen=True):
    """A product and the categories it is in."""

    row: ProductRow
    categories: list[CategoryRef]


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


def product_not_found(product_id: int) -> NotFound:
    return NotFound(f"product {product_id} does not exist")


async def categories_by_product(conn: db.Conn, product_ids: list[int]) -> dict[int, list[CategoryRef]]:
    """The categories each product is in (a product in none is left out).

    While the database predates the categories migration there are none, rather than an
    error: during a deploy this version can serve on the previous schema until `invorder
    migrate up` has run (docs/migrations.md). The lookup runs in a savepoint, so a missing
    table leaves the caller's transaction usable."""
    if not product_ids:
        return {}
    try:
        async with conn.transaction():
            rows = await db.many(conn, Q.list_categories_of_products, ProductCategoryRow, product_ids=product_ids)
    except psycopg.errors.UndefinedTable:
        return {}
    found: dict[int, list[CategoryRef]] = {}
    for r in rows:
        found.setdefault(r.product_id, []).append(CategoryRef(r.id, r.name))
    return found


async def with_categories(conn: db.Conn, rows: list[ProductRow]) -> list[Product]:
    by_product = await categories_by_product(conn, [r.id for r in rows])
    return [Product(r, by_product.get(r.id, [])) for r in rows]


async def create_product(pool: AsyncConnectionPool[db.Conn], new: NewProduct, *, cache: CatalogCache) -> Product:
    async with cache.invalidating(PRODUCT_CREATED), db.transaction(pool) as conn:
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
    return Product(row, [])


async def get_product(pool: AsyncConnectionPool[db.Conn], product_id: int, *, cache: CatalogCache) -> Product:
    async def load() -> Product:
        async with db.transaction(pool) as conn:
            row = await db.one(conn, Q.get_product, ProductRow, id=product_id)
            if row is None:
                raise product_not_found(product_id)
            return (await with_categories(conn, [row]))[0]

    return await cache.read(product_entry(product_id), Product, load)


async def list_products(
    pool: AsyncConnectionPool[db.Conn],
    *,
    after_id: int,
    limit: int,
    q: str | None,
    category_id: int | None = None,
    cache: CatalogCache,
) -> list[Product]:
    """Live products after `after_id`, matching `q` in name or sku, in `category_id` when given."""
    pattern = None
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"

    async def load() -> list[Product]:
        async with db.transaction(pool) as conn:
            if category_id is None:
                rows = await db.many(conn, Q.list_products, ProductRow, after_id=after_id, limit=limit, pattern=pattern)
            else:
                rows = await db.many(
                    conn,
                    Q.list_products_in_category,
                    ProductRow,
                    category_id=category_id,
                    after_id=after_id,
                    limit=limit,
                    pattern=pattern,
                )
            return await with_categories(conn, rows)

    entry = list_entry("product_list", after_id=after_id, limit=limit, q=q, category_id=category_id)
    return await cache.read(entry, list[Product], load)


async def update_product(
    pool: AsyncConnectionPool[db.Conn],
    product_id: int,
    changes: ProductChanges,
    *,
    expected_version: int | None,
    cache: CatalogCache,
) -> Product:
    """Apply `changes`; 412 when `expected_version` (from If-Match) is no longer current."""

    def given(value: object) -> object:
        return None if value is msgspec.UNSET else value

    sku = given(changes.sku)
    async with cache.invalidating(product_changed(product_id)), db.transaction(pool) as conn:
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
                raise product_not_found(product_id)
            raise PreconditionFailed(
                f"product {product_id} is at version {current.version}, not {expected_version}:"
                " read it again and reapply your change"
            )
        return (await with_categories(conn, [row]))[0]


async def delete_product(pool: AsyncConnectionPool[db.Conn], product_id: int, *, cache: CatalogCache) -> Product:
    """Soft-deletes a product; the answer lists the categories it was in (its assignments stay
    with its row, out of every read)."""
    async with cache.invalidating(product_changed(product_id)), db.transaction(pool) as conn:
        row = await db.one(conn, Q.delete_product, ProductRow, id=product_id)
        if row is None:
            raise product_not_found(product_id)
        return (await with_categories(conn, [row]))[0]
