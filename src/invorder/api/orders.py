"""`/orders`: place, read (optionally waiting for a final status), list, logs and cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, JSONBody, QueryParameter
from msgspec import Meta

from invorder.access.keys import Principal
from invorder.api.access import needs
from invorder.api.deps import (
    BodyId,
    Cursor,
    Limit,
    PathId,
    PoolDep,
    PrincipalDep,
    SettingsDep,
    provide_placer,
    provide_principal,
)
from invorder.api.middleware import extend_deadline
from invorder.api.pagination import DEFAULT_LIMIT, decode_cursor, next_cursor
from invorder.errors import BadRequest, FieldError, InvalidInput
from invorder.orders import cancelling, model, placing, reading
from invorder.orders.model import OrderItemRow, OrderRow

Quantity = Annotated[int, Meta(ge=1, le=1_000_000)]


class OrderLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product_id: BodyId
    quantity: Quantity


class OrderCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Either `items`, or the one-line form `product_id` + `quantity`."""

    __openapi_one_of__: ClassVar[list[dict[str, Any]]] = [
        {"name": "OrderCreateItems", "required": ["items"], "absent": ["product_id", "quantity"]},
        {"name": "OrderCreateLine", "required": ["product_id", "quantity"], "absent": ["items"]},
    ]
    items: Annotated[list[OrderLine], Meta(min_length=1, max_length=100)] | msgspec.UnsetType = msgspec.UNSET
    product_id: BodyId | msgspec.UnsetType = msgspec.UNSET
    quantity: Quantity | msgspec.UnsetType = msgspec.UNSET
    customer_ref: Annotated[str, Meta(max_length=200)] | None = None

    def to_new_order(self) -> placing.NewOrder:
        if isinstance(self.items, list):
            if self.product_id is not msgspec.UNSET or self.quantity is not msgspec.UNSET:
                raise BadRequest(
                    "give either items or product_id and quantity, not both",
                    [FieldError("items", "both forms given")],
                )
            lines = [(line.product_id, line.quantity) for line in self.items]
        elif isinstance(self.product_id, int) and isinstance(self.quantity, int):
            lines = [(self.product_id, self.quantity)]
        else:
            raise BadRequest(
                "an order needs items, or product_id and quantity",
                [FieldError("items", "required")],
            )
        merged: dict[int, int] = {}
        for product_id, quantity in lines:
            merged[product_id] = merged.get(product_id, 0) + quantity
        if any(q > 1_000_000 for q in merged.values()):
            raise InvalidInput("at most 1000000 of one product per order", [FieldError("items", "too many")])
        return placing.NewOrder(merged, self.customer_ref)


class OrderItemOut(msgspec.Struct, frozen=True):
    product_id: int
    quantity: int
    unit_price_cents: int
    fulfilled_quantity: int
    refunded_quantity: int  # units in refunds that are not failed
    restocked_quantity: int  # units back on hand (restock cancel or return)


class PaymentOut(msgspec.Struct, frozen=True):
    status: str
    attempts: int
    charge_id: str | None


class OrderOut(msgspec.Struct, frozen=True):
    id: int
    status: str
    customer_ref: str | None
    items: list[OrderItemOut]
    total_cents: int
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    payment: PaymentOut
    refunded_cents: int
    refund_status: str
    fulfillment_status: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class OrderSummaryOut(msgspec.Struct, frozen=True):
    id: int
    status: str
    customer_ref: str | None
    total_cents: int
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    payment: PaymentOut
    refunded_cents: int
    refund_status: str
    fulfillment_status: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class OrderMessage(msgspec.Struct, frozen=True):
    message: str
    data: OrderOut


class OrderPage(msgspec.Struct, frozen=True):
    data: list[OrderSummaryOut]
    next_cursor: str | None


class OrderLogOut(msgspec.Struct, frozen=True):
    id: int
    order_id: int
    attempt: int
    status: str
    processed_at: datetime
    error_message: str | None
    details: dict[str, Any]
    actor: str | None


class OrderLogPage(msgspec.Struct, frozen=True):
    data: list[OrderLogOut]
    next_cursor: str | None


def _summary_fields(order: OrderRow) -> dict[str, Any]:
    return {
        "id": order.id,
        "status": order.status,
        "customer_ref": order.customer_ref,
        "total_cents": order.total_cents,
        "attempts": order.attempts,
        "next_attempt_at": order.next_attempt_at,
        "last_error": order.last_error,
        "payment": PaymentOut(order.payment_status, order.payment_attempts, order.charge_id),
        "refunded_cents": order.refunded_cents,
        "refund_status": order.refund_status,
        "fulfillment_status": order.fulfillment_status,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "finished_at": order.finished_at,
    }


def order_out(order: OrderRow, items: list[OrderItemRow]) -> OrderOut:
    return OrderOut(items=[_item_out(i) for i in items], **_summary_fields(order))


def _item_out(item: OrderItemRow) -> OrderItemOut:
    return OrderItemOut(
        item.product_id,
        item.quantity,
        item.unit_price_cents,
        item.fulfilled_quantity,
        item.refunded_quantity,
        item.cancelled_quantity + item.returned_quantity,
    )


class CancelledOrderOut(OrderOut, frozen=True):
    refund_id: int | None  # the refund of a paid order; null for an order not yet charged


class CancelledOrderMessage(msgspec.Struct, frozen=True):
    message: str
    data: CancelledOrderOut


StatusFilter = Annotated[model.Status | None, QueryParameter(description="only orders in this status")]


def viewer(principal: Principal) -> int | None:
    """Whose orders `principal` may see: its client's, or everyone's (None) with `ops`."""
    return None if principal.allows("ops") else principal.client_id


def _with_accepted(route: dict[str, Any]) -> dict[str, Any]:
    """`route` (from needs) answering 202 as well: a paid order cancelled, its refund pending."""
    accepted = ResponseSpec(
        data_container=CancelledOrderMessage, description="Cancelled; a refund of the paid order is pending"
    )
    return {**route, "responses": {**route["responses"], 202: accepted}}


class OrderController(Controller):
    path = "/orders"
    tags = ["orders"]

    @post("/", status_code=202, **needs("orders:write", 400, 409, 422))
    async def place_order(
        self,
        data: JSONBody[OrderCreate],
        request: Request[Any, Any, Any],
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", min_length=1, max_length=255)
        ] = None,
    ) -> Response[OrderMessage]:
        # The busiest route takes its principal and placer from the request rather than as two
        # dependencies: Litestar resolves two or more in a task group of their own, which showed
        # in the API's profile (docs/benchmarks.md, "What bounds it" under Orders).
        principal = provide_principal(request)
        placer = provide_placer(request.app.state)
        placed = await placer.place(
            data.to_new_order(), client_id=principal.client_id, actor=principal.actor, idempotency_key=idempotency_key
        )
        headers = {"Location": f"/api/v1/orders/{placed.order.id}"}
        if placed.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(
            OrderMessage("Order accepted", order_out(placed.order, placed.items)), status_code=202, headers=headers
        )

    @get("/", **needs("orders:read", 400))
    async def list_orders(
        self,
        pool: PoolDep,
        principal: PrincipalDep,
        status: StatusFilter = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> OrderPage:
        rows = await reading.list_orders(
            pool, after_id=decode_cursor(cursor), limit=limit, status=status, viewer=viewer(principal)
        )
        return OrderPage(
            [OrderSummaryOut(**_summary_fields(r)) for r in rows], next_cursor([r.id for r in rows], limit)
        )

    @get("/{order_id:int}", **needs("orders:read", 400, 404))
    async def get_order(
        self,
        request: Request[Any, Any, Any],
        order_id: PathId,
        pool: PoolDep,
        settings: SettingsDep,
        principal: PrincipalDep,
        wait: Annotated[
            float | None,
            # schema_extra: Litestar leaves a bound of 0 out of the document (it tests the bound for truth)
            QueryParameter(
                ge=0, le=30, schema_extra={"minimum": 0}, description="seconds to wait for a final status (max 30)"
            ),
        ] = None,
    ) -> OrderOut:
        if wait:
            wait_s = min(wait, settings.order_wait_max_s)
            extend_deadline(request.scope, wait_s)  # the wait asked for is not the database's delay
            order, items = await reading.wait_for_final(pool, order_id, wait_s, viewer=viewer(principal))
        else:
            order, items = await reading.get_order(pool, order_id, viewer=viewer(principal))
        return order_out(order, items)

    @get("/{order_id:int}/logs", **needs("orders:read", 400, 404))
    async def list_order_logs(
        self,
        order_id: PathId,
        pool: PoolDep,
        principal: PrincipalDep,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> OrderLogPage:
        rows = await reading.list_order_logs(
            pool, order_id, after_id=decode_cursor(cursor), limit=limit, viewer=viewer(principal)
        )
        return OrderLogPage(
            [OrderLogOut(**msgspec.structs.asdict(r)) for r in rows], next_cursor([r.id for r in rows], limit)
        )

    @post(
        "/{order_id:int}/cancel",
        status_code=200,
        description=(
            "Cancels an order not yet charged (200), or a paid order with nothing shipped (202): that"
            " needs refunds:write as well, and refunds everything refundable, units back on hand."
        ),
        **_with_accepted(needs("orders:write", 400, 404, 409)),
    )
    async def cancel_order(
        self, order_id: PathId, pool: PoolDep, principal: PrincipalDep
    ) -> Response[CancelledOrderMessage]:
        done = await cancelling.cancel_order(
            pool,
            order_id,
            viewer=viewer(principal),
            actor=principal.actor,
            may_refund=principal.allows("refunds:write"),
        )
        data = CancelledOrderOut(
            items=[_item_out(i) for i in done.items], refund_id=done.refund_id, **_summary_fields(done.order)
        )
        if done.refund_id is None:
            return Response(CancelledOrderMessage("Order cancelled", data), status_code=200)
        return Response(
            CancelledOrderMessage("Order cancelled; its refund is pending", data),
            status_code=202,
            headers={"Location": f"/api/v1/refunds/{done.refund_id}"},
        )
