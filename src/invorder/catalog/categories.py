"""Categories: create, read, list, rename and delete them; put products in them and take them out.
Reads go through the catalog cache (a no-op without Redis); writes invalidate it after they commit."""

from __future__ import annotations

from datetime import datetime

import msgspec
from psycopg_pool import AsyncConnectionPool

from invorder import db
from invorder.catalog.cache import (
    CATEGORY_CHANGED,
    CATEGORY_CREATED,
    CatalogCache,
    category_entry,
    list_entry,
    product_changed,
)
from invorder.catalog.products import Product, ProductRow, list_products, product_not_found, with_categories
from invorder.db.queries import queries
from invorder.errors import FieldError, NotFound

Q = queries()


class CategoryRow(msgspec.Struct, frozen=True):
    id: int
    name: str
    created_at: datetime
    updated_at: datetime


class CategoryIdRow(msgspec.Struct, frozen=True):
    id: int


def _no_category(category_id: int) -> NotFound:
    return NotFound(f"category {category_id} does not exist")


async def create_category(pool: AsyncConnectionPool[db.Conn], name: str, *, cache: CatalogCache) -> CategoryRow:
    async with cache.invalidating(CATEGORY_CREATED), db.transaction(pool) as conn:
        row = await db.one(conn, Q.insert_category, CategoryRow, name=name.strip())
    assert row is not None
    return row


async def get_category(pool: AsyncConnectionPool[db.Conn], category_id: int, *, cache: CatalogCache) -> CategoryRow:
    async def load() -> CategoryRow:
        async with db.transaction(pool) as conn:
            row = await db.one(conn, Q.get_category, CategoryRow, id=category_id)
        if row is None:
            raise _no_category(category_id)
        return row

    return await cache.read(category_entry(category_id), CategoryRow, load)


async def list_categories(
    pool: AsyncConnectionPool[db.Conn], *, after_id: int, limit: int, cache: CatalogCache
) -> list[CategoryRow]:
    async def load() -> list[CategoryRow]:
        async with db.transaction(pool) as conn:
            return await db.many(conn, Q.list_categories, CategoryRow, after_id=after_id, limit=limit)

    return await cache.read(list_entry("category_list", after_id=after_id, limit=limit), list[CategoryRow], load)


async def rename_category(
    pool: AsyncConnectionPool[db.Conn], category_id: int, name: str, *, cache: CatalogCache
) -> CategoryRow:
    """A new name; 409 (categories_name_key) when another category has it."""
    async with cache.invalidating(CATEGORY_CHANGED), db.transaction(pool) as conn:
        row = await db.one(conn, Q.rename_category, CategoryRow, id=category_id, name=name.strip())
    if row is None:
        raise _no_category(category_id)
    return row


async def delete_category(pool: AsyncConnectionPool[db.Conn], category_id: int, *, cache: CatalogCache) -> CategoryRow:
    """Deletes a category; the products in it stay, out of it."""
    async with cache.invalidating(CATEGORY_CHANGED), db.transaction(pool) as conn:
        row = await db.one(conn, Q.delete_category, CategoryRow, id=category_id)
    if row is None:
        raise _no_category(category_id)
    return row


async def list_category_products(
    pool: AsyncConnectionPool[db.Conn], category_id: int, *, after_id: int, limit: int, cache: CatalogCache
) -> list[Product]:
    """The live products of a category (404 when there is no such category)."""
    await get_category(pool, category_id, cache=cache)
    return await list_products(pool, after_id=after_id, limit=limit, q=None, category_id=category_id, cache=cache)


async def set_product_categories(
    pool: AsyncConnectionPool[db.Conn], product_id: int, category_ids: list[int], *, cache: CatalogCache
) -> Product:
    """Makes `category_ids` the product's whole set of categories. An unknown product or
    category is a 404 and changes nothing."""
    wanted = sorted(set(category_ids))
    async with cache.invalidating(product_changed(product_id)), db.transaction(pool) as conn:
        row = await db.one(conn, Q.lock_product_for_categories, ProductRow, product_id=product_id)
        if row is None:
            raise product_not_found(product_id)
        missing = [r.id for r in await db.many(conn, Q.missing_categories, CategoryIdRow, ids=wanted)]
        if missing:
            detail = "no such category: " + ", ".join(map(str, missing))
            raise NotFound(detail, [FieldError("category_ids", detail)])
        await db.execute(conn, Q.remove_product_categories_except, product_id=product_id, category_ids=wanted)
        # A category deleted since the check above fails the foreign key: NotFound, nothing changed.
        await db.execute(conn, Q.add_product_categories, product_id=product_id, category_ids=wanted)
        return (await with_categories(conn, [row]))[0]


async def remove_product_category(
    pool: AsyncConnectionPool[db.Conn], product_id: int, category_id: int, *, cache: CatalogCache
) -> Product:
    """Takes a product out of one category; 404 when the product is not in it."""
    async with cache.invalidating(product_changed(product_id)), db.transaction(pool) as conn:
        row = await db.one(conn, Q.lock_product_for_categories, ProductRow, product_id=product_id)
        if row is None:
            raise product_not_found(product_id)
        if not await db.execute(conn, Q.remove_product_category, product_id=product_id, category_id=category_id):
            raise NotFound(f"product {product_id} is not in category {category_id}")
        return (await with_categories(conn, [row]))[0]
