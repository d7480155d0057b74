"""`/orders/{id}/fulfillments`: recording what of a paid order shipped, and listing it."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import JSONBody
from msgspec import Meta

from invorder.api.access import needs
from invorder.api.deps import BodyId, Cursor, Limit, PathId, PoolDep, PrincipalDep
from invorder.api.orders import Quantity, viewer
from invorder.api.pagination import DEFAULT_LIMIT, decode_cursor, next_cursor
from invorder.errors import FieldError, InvalidInput
from invorder.orders import fulfillments
from invorder.orders.fulfillments import Fulfillment


class FulfillmentLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product_id: BodyId
    quantity: Quantity


class FulfillmentCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Without `items`: every unit still to be shipped."""

    items: Annotated[list[FulfillmentLine], Meta(min_length=1, max_length=100)] | msgspec.UnsetType = msgspec.UNSET
    carrier: Annotated[str, Meta(max_length=100)] | None = None
    tracking_number: Annotated[str, Meta(max_length=200)] | None = None

    def units(self) -> dict[int, int] | None:
        if not isinstance(self.items, list):
            return None
        merged: dict[int, int] = {}
        for line in self.items:
            merged[line.product_id] = merged.get(line.product_id, 0) + line.quantity
        if any(q > 1_000_000 for q in merged.values()):
            raise InvalidInput("at most 1000000 of one product", [FieldError("items", "too many")])
        return merged


class FulfillmentMessage(msgspec.Struct, frozen=True):
    message: str
    data: Fulfillment


class FulfillmentPage(msgspec.Struct, frozen=True):
    data: list[Fulfillment]
    next_cursor: str | None


class FulfillmentController(Controller):
    path = "/orders/{order_id:int}/fulfillments"
    tags = ["fulfillments"]

    @post("/", status_code=201, **needs("fulfillments:write", 400, 404, 409, 422))
    async def create_fulfillment(
        self, order_id: PathId, data: JSONBody[FulfillmentCreate], pool: PoolDep, principal: PrincipalDep
    ) -> Response[FulfillmentMessage]:
        made = await fulfillments.create_fulfillment(
            pool,
            order_id,
            data.units(),
            carrier=data.carrier,
            tracking_number=data.tracking_number,
            viewer=viewer(principal),
            actor=principal.actor,
        )
        return Response(FulfillmentMessage("Fulfillment recorded", made), status_code=201)

    @get("/", **needs("orders:read", 400, 404))
    async def list_fulfillments(
        self,
        order_id: PathId,
        pool: PoolDep,
        principal: PrincipalDep,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> FulfillmentPage:
        rows = await fulfillments.list_fulfillments(
            pool, order_id, after_id=decode_cursor(cursor), limit=limit, viewer=viewer(principal)
        )
        return FulfillmentPage(rows, next_cursor([r.id for r in rows], limit))
