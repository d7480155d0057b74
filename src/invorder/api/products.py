"""`/products`: the catalog over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, patch, post
from litestar.params import HeaderParameter, JSONBody, QueryParameter
from msgspec import Meta

from invorder.api.conditional import etag, expected_version
from invorder.api.deps import PathId, PoolDep
from invorder.catalog import products
from invorder.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, next_cursor

Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"\S")]
Sku = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"\S")]
Description = Annotated[str, Meta(max_length=5000)]
PriceCents = Annotated[int, Meta(ge=0, le=10**12)]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="page size")]


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


class ProductOut(msgspec.Struct, frozen=True):
    id: int
    name: str
    sku: str | None
    description: str | None
    price_cents: int
    version: int
    created_at: datetime
    updated_at: datetime


class ProductMessage(msgspec.Struct, frozen=True):
    message: str
    data: ProductOut


class ProductPage(msgspec.Struct, frozen=True):
    data: list[ProductOut]
    next_cursor: str | None


def product_out(row: products.ProductRow) -> ProductOut:
    return ProductOut(**msgspec.structs.asdict(row))


class ProductController(Controller):
    path = "/products"
    tags = ["products"]

    @post("/")
    async def create_product(self, data: JSONBody[ProductCreate], pool: PoolDep) -> Response[ProductMessage]:
        row = await products.create_product(pool, products.NewProduct(**msgspec.structs.asdict(data)))
        return Response(
            ProductMessage("Product created successfully", product_out(row)),
            status_code=201,
            headers={"Location": f"/api/v1/products/{row.id}", "ETag": etag(row.version)},
        )

    @get("/")
    async def list_products(
        self,
        pool: PoolDep,
        q: Annotated[str | None, QueryParameter(max_length=200, description="text in name or sku")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> ProductPage:
        rows = await products.list_products(pool, after_id=decode_cursor(cursor), limit=limit, q=q)
        return ProductPage([product_out(r) for r in rows], next_cursor([r.id for r in rows], limit))

    @get("/{product_id:int}")
    async def get_product(self, product_id: PathId, pool: PoolDep) -> Response[ProductOut]:
        row = await products.get_product(pool, product_id)
        return Response(product_out(row), headers={"ETag": etag(row.version)})

    @patch("/{product_id:int}")
    async def update_product(
        self,
        product_id: PathId,
        data: JSONBody[ProductPatch],
        pool: PoolDep,
        if_match: Annotated[str | None, HeaderParameter(name="If-Match")] = None,
    ) -> Response[ProductMessage]:
        row = await products.update_product(
            pool,
            product_id,
            products.ProductChanges(**msgspec.structs.asdict(data)),
            expected_version=expected_version(if_match),
        )
        return Response(
            ProductMessage("Product updated successfully", product_out(row)),
            headers={"ETag": etag(row.version)},
        )

    @delete("/{product_id:int}", status_code=200)
    async def delete_product(self, product_id: PathId, pool: PoolDep) -> ProductMessage:
        row = await products.delete_product(pool, product_id)
        return ProductMessage("Product deleted successfully", product_out(row))
