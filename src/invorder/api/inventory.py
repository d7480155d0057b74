"""`/inventory`: stock levels, adjustments and the ledger over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, patch, post
from litestar.params import HeaderParameter, JSONBody, QueryParameter
from msgspec import Meta

from invorder.api.access import needs
from invorder.api.conditional import etag, expected_version
from invorder.api.deps import BodyId, PathId, PoolDep
from invorder.catalog import inventory
from invorder.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, next_cursor

Quantity = Annotated[int, Meta(ge=0, le=10**12)]
Delta = Annotated[int, Meta(ge=-(10**12), le=10**12)]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="page size")]


class InventoryCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product_id: BodyId
    on_hand: Quantity


class InventorySet(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    on_hand: Quantity


class AdjustmentCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    delta: Delta
    reason: Annotated[str, Meta(min_length=1, max_length=500, pattern=r"\S")]


class InventoryOut(msgspec.Struct, frozen=True):
    product_id: int
    on_hand: int
    reserved: int
    available: int
    version: int
    updated_at: datetime


class MovementOut(msgspec.Struct, frozen=True):
    id: int
    product_id: int
    delta: int
    on_hand_after: int
    kind: str
    reason: str
    order_id: int | None
    created_at: datetime


class InventoryMessage(msgspec.Struct, frozen=True):
    message: str
    data: InventoryOut


class InventoryPage(msgspec.Struct, frozen=True):
    data: list[InventoryOut]
    next_cursor: str | None


class MovementPage(msgspec.Struct, frozen=True):
    data: list[MovementOut]
    next_cursor: str | None


def inventory_out(row: inventory.InventoryRow) -> InventoryOut:
    return InventoryOut(**msgspec.structs.asdict(row))


def _message(text: str, row: inventory.InventoryRow, status: int = 200) -> Response[InventoryMessage]:
    return Response(
        InventoryMessage(text, inventory_out(row)),
        status_code=status,
        headers={"ETag": etag(row.version)},
    )


class InventoryController(Controller):
    path = "/inventory"
    tags = ["inventory"]

    @post("/", opt=needs("inventory:write"))
    async def create_inventory(self, data: JSONBody[InventoryCreate], pool: PoolDep) -> Response[InventoryMessage]:
        row = await inventory.create_inventory(pool, data.product_id, data.on_hand)
        response = _message("Inventory created successfully", row, 201)
        response.headers["Location"] = f"/api/v1/inventory/{row.product_id}"
        return response

    @get("/", opt=needs("inventory:read"))
    async def list_inventory(
        self,
        pool: PoolDep,
        below: Annotated[int | None, QueryParameter(ge=0, description="only rows with available < below")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> InventoryPage:
        rows = await inventory.list_inventory(pool, after_id=decode_cursor(cursor), limit=limit, below=below)
        return InventoryPage([inventory_out(r) for r in rows], next_cursor([r.product_id for r in rows], limit))

    @get("/{product_id:int}", opt=needs("inventory:read"))
    async def get_inventory(self, product_id: PathId, pool: PoolDep) -> Response[InventoryOut]:
        row = await inventory.get_inventory(pool, product_id)
        return Response(inventory_out(row), headers={"ETag": etag(row.version)})

    @patch("/{product_id:int}", opt=needs("inventory:write"))
    async def set_inventory(
        self,
        product_id: PathId,
        data: JSONBody[InventorySet],
        pool: PoolDep,
        if_match: Annotated[str | None, HeaderParameter(name="If-Match")] = None,
    ) -> Response[InventoryMessage]:
        row = await inventory.set_on_hand(pool, product_id, data.on_hand, expected_version=expected_version(if_match))
        return _message("Inventory updated successfully", row)

    @post("/{product_id:int}/adjustments", opt=needs("inventory:write"))
    async def adjust_inventory(
        self, product_id: PathId, data: JSONBody[AdjustmentCreate], pool: PoolDep
    ) -> Response[InventoryMessage]:
        row = await inventory.adjust_on_hand(pool, product_id, data.delta, data.reason.strip())
        return _message("Inventory adjusted successfully", row, 201)

    @delete("/{product_id:int}", status_code=200, opt=needs("inventory:write"))
    async def delete_inventory(self, product_id: PathId, pool: PoolDep) -> InventoryMessage:
        row = await inventory.delete_inventory(pool, product_id)
        return InventoryMessage("Inventory deleted successfully", inventory_out(row))

    @get("/{product_id:int}/movements", opt=needs("inventory:read"))
    async def list_movements(
        self,
        product_id: PathId,
        pool: PoolDep,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> MovementPage:
        rows = await inventory.list_movements(pool, product_id, after_id=decode_cursor(cursor), limit=limit)
        return MovementPage(
            [MovementOut(**msgspec.structs.asdict(r)) for r in rows],
            next_cursor([r.id for r in rows], limit),
        )
