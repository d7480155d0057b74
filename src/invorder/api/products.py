"""`/products`: the catalog over HTTP, and the categories each product is in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, patch, post, put
from litestar.params import HeaderParameter, JSONBody, QueryParameter
from msgspec import Meta

from invorder.api.access import needs
from invorder.api.conditional import etag, expected_version
from invorder.api.deps import MAX_ID, BodyId, CacheDep, Cursor, Limit, PathId, PoolDep
from invorder.api.pagination import DEFAULT_LIMIT, decode_cursor, next_cursor
from invorder.catalog import categories, products

Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"\S")]
Sku = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"\S")]
Description = Annotated[str, Meta(max_length=5000)]
PriceCents = Annotated[int, Meta(ge=0, le=10**12)]


class ProductCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name
    price_cents: PriceCents
    sku: Sku | None = None
    description: Description | None = None


class ProductPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    sku: Sku | msgspec.UnsetType | None = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    price_cents: PriceCents | msgspec.UnsetType = msgspec.UNSET


class ProductCategoriesPut(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The whole set of categories the product is to be in (empty: none)."""

    category_ids: Annotated[list[BodyId], Meta(max_length=100)]


class CategoryRefOut(msgspec.Struct, frozen=True):
    id: int
    name: str


class ProductOut(msgspec.Struct, frozen=True):
    id: int
    name: str
    sku: str | None
    description: str | None
    price_cents: int
    version: int
    created_at: datetime
    updated_at: datetime
    # Added with categories; by name. A product's version and ETag cover its own fields only:
    # putting it in a category or taking it out changes neither.
    categories: list[CategoryRefOut]


class ProductMessage(msgspec.Struct, frozen=True):
    message: str
    data: ProductOut


class ProductPage(msgspec.Struct, frozen=True):
    data: list[ProductOut]
    next_cursor: str | None


def product_out(product: products.Product) -> ProductOut:
    return ProductOut(
        **msgspec.structs.asdict(product.row),
        categories=[CategoryRefOut(c.id, c.name) for c in product.categories],
    )


def product_page(found: list[products.Product], limit: int) -> ProductPage:
    return ProductPage([product_out(p) for p in found], next_cursor([p.row.id for p in found], limit))


class ProductController(Controller):
    path = "/products"
    tags = ["products"]

    @post("/", **needs("catalog:write", 400, 409))
    async def create_product(
        self, data: JSONBody[ProductCreate], pool: PoolDep, catalog_cache: CacheDep
    ) -> Response[ProductMessage]:
        product = await products.create_product(
            pool, products.NewProduct(**msgspec.structs.asdict(data)), cache=catalog_cache
        )
        return Response(
            ProductMessage("Product created successfully", product_out(product)),
            status_code=201,
            headers={"Location": f"/api/v1/products/{product.row.id}", "ETag": etag(product.row.version)},
        )

    @get("/", **needs("catalog:read", 400))
    async def list_products(
        self,
        pool: PoolDep,
        catalog_cache: CacheDep,
        q: Annotated[str | None, QueryParameter(max_length=200, description="text in name or sku")] = None,
        category_id: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_ID, description="only products in this category")
        ] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> ProductPage:
        found = await products.list_products(
            pool, after_id=decode_cursor(cursor), limit=limit, q=q, category_id=category_id, cache=catalog_cache
        )
        return product_page(found, limit)

    @get("/{product_id:int}", **needs("catalog:read", 400, 404))
    async def get_product(self, product_id: PathId, pool: PoolDep, catalog_cache: CacheDep) -> Response[ProductOut]:
        product = await products.get_product(pool, product_id, cache=catalog_cache)
        return Response(product_out(product), headers={"ETag": etag(product.row.version)})

    @patch("/{product_id:int}", **needs("catalog:write", 400, 404, 409, 412))
    async def update_product(
        self,
        product_id: PathId,
        data: JSONBody[ProductPatch],
        pool: PoolDep,
        catalog_cache: CacheDep,
        if_match: Annotated[str | None, HeaderParameter(name="If-Match")] = None,
    ) -> Response[ProductMessage]:
        product = await products.update_product(
            pool,
            product_id,
            products.ProductChanges(**msgspec.structs.asdict(data)),
            expected_version=expected_version(if_match),
            cache=catalog_cache,
        )
        return Response(
            ProductMessage("Product updated successfully", product_out(product)),
            headers={"ETag": etag(product.row.version)},
        )

    @delete("/{product_id:int}", status_code=200, **needs("catalog:write", 400, 404))
    async def delete_product(self, product_id: PathId, pool: PoolDep, catalog_cache: CacheDep) -> ProductMessage:
        product = await products.delete_product(pool, product_id, cache=catalog_cache)
        return ProductMessage("Product deleted successfully", product_out(product))

    @put("/{product_id:int}/categories", **needs("catalog:write", 400, 404))
    async def set_product_categories(
        self, product_id: PathId, data: JSONBody[ProductCategoriesPut], pool: PoolDep, catalog_cache: CacheDep
    ) -> ProductMessage:
        product = await categories.set_product_categories(
            pool, product_id, list(data.category_ids), cache=catalog_cache
        )
        return ProductMessage("Product categories updated successfully", product_out(product))

    @delete("/{product_id:int}/categories/{category_id:int}", status_code=200, **needs("catalog:write", 400, 404))
    async def remove_product_category(
        self, product_id: PathId, category_id: PathId, pool: PoolDep, catalog_cache: CacheDep
    ) -> ProductMessage:
        product = await categories.remove_product_category(pool, product_id, category_id, cache=catalog_cache)
        return ProductMessage("Product removed from category successfully", product_out(product))
