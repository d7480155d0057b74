"""`/inventory`: stock levels, adjustments and the ledger over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

import msgspec
from litestar import Controller, Response, delete, get, patch, post
from litestar.params import HeaderParameter, JSONBody, QueryParameter
from msgspec import Meta

from invorder.api.access import needs
from invorder.api.conditional import etag, expected_version
from invorder.api.deps import MAX_ID, BodyId, Cursor, Limit, PathId, PoolDep, PrincipalDep
from invorder.api.pagination import DEFAULT_LIMIT, decode_cursor, next_cursor
from invorder.catalog import inventory
from invorder.catalog.locations import DEFAULT_LOCATION_ID
from invorder.errors import BadRequest, FieldError
from invorder.orders.waking import wake_orders_waiting_for

Quantity = Annotated[int, Meta(ge=0, le=10**12)]
Delta = Annotated[int, Meta(ge=-(10**12), le=10**12)]


class InventoryCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product_id: BodyId
    on_hand: Quantity
    location_id: BodyId | msgspec.UnsetType = msgspec.UNSET  # default (1) when left out


class InventoryPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`on_hand` (an absolute level), `reorder_point` (null clears it), or both; not neither."""

    # Two forms that never overlap, so that exactly one matches a body with either field or both.
    __openapi_one_of__: ClassVar[list[dict[str, Any]]] = [
        {"name": "InventoryPatchOnHand", "required": ["on_hand"], "absent": []},
        {"name": "InventoryPatchReorderPoint", "required": ["reorder_point"], "absent": ["on_hand"]},
    ]
    on_hand: Quantity | msgspec.UnsetType = msgspec.UNSET
    reorder_point: Quantity | msgspec.UnsetType | None = msgspec.UNSET
    location_id: BodyId | msgspec.UnsetType = msgspec.UNSET  # the level; needed when there are several

    def to_changes(self) -> inventory.InventoryChanges:
        # The document's oneOf refuses a body with neither field, so it is a 400, as an order with
        # neither form is.
        if self.on_hand is msgspec.UNSET and self.reorder_point is msgspec.UNSET:
            raise BadRequest(
                "give on_hand, reorder_point or both",
                [
                    FieldError("on_hand", "required when reorder_point is not given"),
                    FieldError("reorder_point", "required when on_hand is not given"),
                ],
            )
        return inventory.InventoryChanges(on_hand=self.on_hand, reorder_point=self.reorder_point)


class LevelPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One level's `on_hand`, `reorder_point` (null clears it), or both; not neither."""

    __openapi_one_of__: ClassVar[list[dict[str, Any]]] = [
        {"name": "LevelPatchOnHand", "required": ["on_hand"], "absent": []},
        {"name": "LevelPatchReorderPoint", "required": ["reorder_point"], "absent": ["on_hand"]},
    ]
    on_hand: Quantity | msgspec.UnsetType = msgspec.UNSET
    reorder_point: Quantity | msgspec.UnsetType | None = msgspec.UNSET

    def to_changes(self) -> inventory.InventoryChanges:
        return InventoryPatch(on_hand=self.on_hand, reorder_point=self.reorder_point).to_changes()


class AdjustmentCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    delta: Delta
    reason: Annotated[str, Meta(min_length=1, max_length=500, pattern=r"\S")]
    location_id: BodyId | msgspec.UnsetType = msgspec.UNSET  # the level; needed when there are several


class InventoryOut(msgspec.Struct, frozen=True):
    product_id: int
    on_hand: int
    reserved: int
    available: int
    reorder_point: int | None
    version: int
    updated_at: datetime


class LevelOut(msgspec.Struct, frozen=True):
    location_id: int
    on_hand: int
    reserved: int
    available: int
    reorder_point: int | None
    version: int


class InventoryWithLevelsOut(InventoryOut, frozen=True):
    locations: list[LevelOut]  # one per location holding a level of the product


class LevelMessage(msgspec.Struct, frozen=True):
    message: str
    data: LevelOut


class MovementOut(msgspec.Struct, frozen=True):
    id: int
    product_id: int
    delta: int
    on_hand_after: int
    kind: str
    reason: str
    order_id: int | None
    refund_id: int | None
    location_id: int
    actor: str | None
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

    @post("/", **needs("inventory:write", 400, 404, 409))
    async def create_inventory(
        self, data: JSONBody[InventoryCreate], pool: PoolDep, principal: PrincipalDep
    ) -> Response[InventoryMessage]:
        location_id = DEFAULT_LOCATION_ID if isinstance(data.location_id, msgspec.UnsetType) else data.location_id
        row = await inventory.create_inventory(
            pool, data.product_id, data.on_hand, location_id=location_id, actor=principal.actor
        )
        response = _message("Inventory created successfully", row, 201)
        response.headers["Location"] = f"/api/v1/inventory/{row.product_id}"
        return response

    @get("/", **needs("inventory:read", 400))
    async def list_inventory(
        self,
        pool: PoolDep,
        below: Annotated[
            int | None,
            # schema_extra: Litestar leaves a bound of 0 out of the document (it tests the bound for truth)
            QueryParameter(
                ge=0, le=MAX_ID, schema_extra={"minimum": 0}, description="only rows with available < below"
            ),
        ] = None,
        below_reorder_point: Annotated[
            bool,
            QueryParameter(description="true: only rows with available <= reorder_point (never a null one)"),
        ] = False,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> InventoryPage:
        rows = await inventory.list_inventory(
            pool,
            after_id=decode_cursor(cursor),
            limit=limit,
            below=below,
            below_reorder_point=below_reorder_point,
        )
        return InventoryPage([inventory_out(r) for r in rows], next_cursor([r.product_id for r in rows], limit))

    @get("/{product_id:int}", **needs("inventory:read", 400, 404))
    async def get_inventory(self, product_id: PathId, pool: PoolDep) -> Response[InventoryWithLevelsOut]:
        row, levels = await inventory.get_inventory_with_levels(pool, product_id)
        shown = InventoryWithLevelsOut(
            **msgspec.structs.asdict(row), locations=[LevelOut(**msgspec.structs.asdict(level)) for level in levels]
        )
        return Response(shown, headers={"ETag": etag(row.version)})

    @get("/{product_id:int}/locations/{location_id:int}", **needs("inventory:read", 400, 404))
    async def get_level(self, product_id: PathId, location_id: PathId, pool: PoolDep) -> Response[LevelOut]:
        level = await inventory.get_level(pool, product_id, location_id)
        return Response(LevelOut(**msgspec.structs.asdict(level)), headers={"ETag": etag(level.version)})

    @patch("/{product_id:int}/locations/{location_id:int}", **needs("inventory:write", 400, 404, 409, 412))
    async def set_level(
        self,
        product_id: PathId,
        location_id: PathId,
        data: JSONBody[LevelPatch],
        pool: PoolDep,
        principal: PrincipalDep,
        if_match: Annotated[str | None, HeaderParameter(name="If-Match")] = None,
    ) -> Response[LevelMessage]:
        row = await inventory.update_inventory(
            pool,
            product_id,
            data.to_changes(),
            expected_version=expected_version(if_match),
            actor=principal.actor,
            on_restock=wake_orders_waiting_for,
            location_id=location_id,
        )
        level = LevelOut(location_id, row.on_hand, row.reserved, row.available, row.reorder_point, row.version)
        return Response(LevelMessage("Stock level updated successfully", level), headers={"ETag": etag(row.version)})

    @patch("/{product_id:int}", **needs("inventory:write", 400, 404, 409, 412))
    async def set_inventory(
        self,
        product_id: PathId,
        data: JSONBody[InventoryPatch],
        pool: PoolDep,
        principal: PrincipalDep,
        if_match: Annotated[str | None, HeaderParameter(name="If-Match")] = None,
    ) -> Response[InventoryMessage]:
        row = await inventory.update_inventory(
            pool,
            product_id,
            data.to_changes(),
            expected_version=expected_version(if_match),
            actor=principal.actor,
            on_restock=wake_orders_waiting_for,
            location_id=None if isinstance(data.location_id, msgspec.UnsetType) else data.location_id,
        )
        return _message("Inventory updated successfully", row)

    @post("/{product_id:int}/adjustments", **needs("inventory:write", 400, 404, 409))
    async def adjust_inventory(
        self, product_id: PathId, data: JSONBody[AdjustmentCreate], pool: PoolDep, principal: PrincipalDep
    ) -> Response[InventoryMessage]:
        row = await inventory.adjust_on_hand(
            pool,
            product_id,
            data.delta,
            data.reason.strip(),
            actor=principal.actor,
            on_restock=wake_orders_waiting_for,
            location_id=None if isinstance(data.location_id, msgspec.UnsetType) else data.location_id,
        )
        return _message("Inventory adjusted successfully", row, 201)

    @delete("/{product_id:int}", status_code=200, **needs("inventory:write", 400, 404, 409))
    async def delete_inventory(self, product_id: PathId, pool: PoolDep, principal: PrincipalDep) -> InventoryMessage:
        row = await inventory.delete_inventory(pool, product_id, actor=principal.actor)
        return InventoryMessage("Inventory deleted successfully", inventory_out(row))

    @get("/{product_id:int}/movements", **needs("inventory:read", 400, 404))
    async def list_movements(
        self,
        product_id: PathId,
        pool: PoolDep,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> MovementPage:
        rows = await inventory.list_movements(pool, product_id, after_id=decode_cursor(cursor), limit=limit)
        return MovementPage(
            [MovementOut(**msgspec.structs.asdict(r)) for r in rows],
            next_cursor([r.id for r in rows], limit),
        )
