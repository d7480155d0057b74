"""`/categories`: categories over HTTP, and the products in each."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, patch, post
from litestar.params import JSONBody
from msgspec import Meta

from invorder.api.access import needs
from invorder.api.deps import CacheDep, Cursor, Limit, PathId, PoolDep
from invorder.api.pagination import DEFAULT_LIMIT, decode_cursor, next_cursor
from invorder.api.products import ProductPage, product_page
from invorder.catalog import categories

CategoryName = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"\S")]


class CategoryCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: CategoryName


class CategoryPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: CategoryName


class CategoryOut(msgspec.Struct, frozen=True):
    id: int
    name: str
    created_at: datetime
    updated_at: datetime


class CategoryMessage(msgspec.Struct, frozen=True):
    message: str
    data: CategoryOut


class CategoryPage(msgspec.Struct, frozen=True):
    data: list[CategoryOut]
    next_cursor: str | None


def category_out(row: categories.CategoryRow) -> CategoryOut:
    return CategoryOut(**msgspec.structs.asdict(row))


class CategoryController(Controller):
    path = "/categories"
    tags = ["categories"]

    @post("/", **needs("catalog:write", 400, 409))
    async def create_category(
        self, data: JSONBody[CategoryCreate], pool: PoolDep, catalog_cache: CacheDep
    ) -> Response[CategoryMessage]:
        row = await categories.create_category(pool, data.name, cache=catalog_cache)
        return Response(
            CategoryMessage("Category created successfully", category_out(row)),
            status_code=201,
            headers={"Location": f"/api/v1/categories/{row.id}"},
        )

    @get("/", **needs("catalog:read", 400))
    async def list_categories(
        self, pool: PoolDep, catalog_cache: CacheDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> CategoryPage:
        rows = await categories.list_categories(pool, after_id=decode_cursor(cursor), limit=limit, cache=catalog_cache)
        return CategoryPage([category_out(r) for r in rows], next_cursor([r.id for r in rows], limit))

    @get("/{category_id:int}", **needs("catalog:read", 400, 404))
    async def get_category(self, category_id: PathId, pool: PoolDep, catalog_cache: CacheDep) -> CategoryOut:
        return category_out(await categories.get_category(pool, category_id, cache=catalog_cache))

    @patch("/{category_id:int}", **needs("catalog:write", 400, 404, 409))
    async def rename_category(
        self, category_id: PathId, data: JSONBody[CategoryPatch], pool: PoolDep, catalog_cache: CacheDep
    ) -> CategoryMessage:
        row = await categories.rename_category(pool, category_id, data.name, cache=catalog_cache)
        return CategoryMessage("Category updated successfully", category_out(row))

    @delete("/{category_id:int}", status_code=200, **needs("catalog:write", 400, 404))
    async def delete_category(self, category_id: PathId, pool: PoolDep, catalog_cache: CacheDep) -> CategoryMessage:
        row = await categories.delete_category(pool, category_id, cache=catalog_cache)
        return CategoryMessage("Category deleted successfully", category_out(row))

    @get("/{category_id:int}/products", **needs("catalog:read", 400, 404))
    async def list_category_products(
        self,
        category_id: PathId,
        pool: PoolDep,
        catalog_cache: CacheDep,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> ProductPage:
        found = await categories.list_category_products(
            pool, category_id, after_id=decode_cursor(cursor), limit=limit, cache=catalog_cache
        )
        return product_page(found, limit)
