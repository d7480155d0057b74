"""`/orders/{id}/refunds` and `/refunds/{id}`: asking for a refund (with a required
Idempotency-Key), and reading refunds."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import HeaderParameter, JSONBody
from msgspec import Meta

from invorder.api.access import needs
from invorder.api.deps import BodyId, Cursor, Limit, PathId, PoolDep, PrincipalDep
from invorder.api.orders import Quantity, viewer
from invorder.api.pagination import DEFAULT_LIMIT, decode_cursor, next_cursor
from invorder.errors import BadRequest, FieldError, InvalidInput
from invorder.orders import refunds
from invorder.orders.refunds import Reason, Refund, Restock

MAX_CENTS = 2**53  # past any order's total; keeps the document's bound exact for clients


class RefundLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product_id: BodyId
    quantity: Quantity
    restock: Restock = "none"


class RefundCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """By `items`, by `amount_cents`, or both (then at most what the items are worth)."""

    # Neither is a 400, as the document says with two closed forms: with `items` (and
    # `amount_cents` or not), and with `amount_cents` and no `items`.
    __openapi_one_of__: ClassVar[list[dict[str, Any]]] = [
        {"name": "RefundCreateItems", "required": ["items"], "absent": []},
        {"name": "RefundCreateAmount", "required": ["amount_cents"], "absent": ["items"]},
    ]
    items: Annotated[list[RefundLine], Meta(min_length=1, max_length=100)] | msgspec.UnsetType = msgspec.UNSET
    amount_cents: Annotated[int, Meta(ge=1, le=MAX_CENTS)] | msgspec.UnsetType = msgspec.UNSET
    reason: Reason | None = None
    note: Annotated[str, Meta(max_length=1000)] | None = None

    def to_new_refund(self) -> refunds.NewRefund:
        if not isinstance(self.items, list) and not isinstance(self.amount_cents, int):
            raise BadRequest(
                "a refund needs items, amount_cents, or both", [FieldError("amount_cents", "required without items")]
            )
        merged: dict[tuple[int, str], int] = {}
        for line in self.items if isinstance(self.items, list) else []:
            key = (line.product_id, line.restock)
            merged[key] = merged.get(key, 0) + line.quantity
        if any(q > 1_000_000 for q in merged.values()):
            raise InvalidInput("at most 1000000 of one product", [FieldError("items", "too many")])
        amount = self.amount_cents if isinstance(self.amount_cents, int) else None
        return refunds.NewRefund(merged, amount, self.reason, self.note)


class RefundMessage(msgspec.Struct, frozen=True):
    message: str
    data: Refund


class RefundPage(msgspec.Struct, frozen=True):
    data: list[Refund]
    next_cursor: str | None


class OrderRefundController(Controller):
    path = "/orders/{order_id:int}/refunds"
    tags = ["refunds"]

    @post("/", status_code=202, **needs("refunds:write", 400, 404, 409, 422))
    async def create_refund(
        self,
        order_id: PathId,
        data: JSONBody[RefundCreate],
        pool: PoolDep,
        principal: PrincipalDep,
        idempotency_key: Annotated[
            str, HeaderParameter(name="Idempotency-Key", min_length=1, max_length=255, required=True)
        ],
    ) -> Response[RefundMessage]:
        accepted = await refunds.create_refund(
            pool,
            order_id,
            data.to_new_refund(),
            idempotency_key=idempotency_key,
            client_id=principal.client_id,
            viewer=viewer(principal),
            actor=principal.actor,
        )
        headers: dict[str, Any] = {"Location": f"/api/v1/refunds/{accepted.refund.id}"}
        if accepted.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(RefundMessage("Refund accepted", accepted.refund), status_code=202, headers=headers)

    @get("/", **needs("orders:read", 400, 404))
    async def list_refunds(
        self,
        order_id: PathId,
        pool: PoolDep,
        principal: PrincipalDep,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> RefundPage:
        rows = await refunds.list_refunds(
            pool, order_id, after_id=decode_cursor(cursor), limit=limit, viewer=viewer(principal)
        )
        return RefundPage(rows, next_cursor([r.id for r in rows], limit))


class RefundController(Controller):
    path = "/refunds"
    tags = ["refunds"]

    @get("/{refund_id:int}", **needs("orders:read", 400, 404))
    async def get_refund(self, refund_id: PathId, pool: PoolDep, principal: PrincipalDep) -> Refund:
        return await refunds.get_refund(pool, refund_id, viewer=viewer(principal))
