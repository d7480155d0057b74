"""`/events`: the event feed (commit-ordered, with a cursor) and redelivery of one event."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

import msgspec
from litestar import Controller, get, post
from litestar.params import QueryParameter

from invorder.api.access import needs
from invorder.api.deps import Limit, PathId, PoolDep, PrincipalDep
from invorder.api.orders import viewer
from invorder.api.pagination import DEFAULT_LIMIT
from invorder.events import EVENT_TYPES, feed

EventType = Literal[
    "order.placed",
    "order.processed",
    "order.failed",
    "order.cancelled",
    "order.fulfilled",
    "order.refunded",
    "refund.created",
    "refund.succeeded",
    "refund.failed",
    "fulfillment.created",
    "inventory.low_stock",
    "inventory.out_of_stock",
    "inventory.restocked",
    "product.created",
    "product.updated",
    "product.deleted",
]
assert get_args(EventType) == EVENT_TYPES


class EventOut(msgspec.Struct, frozen=True):
    id: int
    type: str
    created_at: datetime
    # The resource as the API shows it at the change: the order (GET /orders/{id}), the product,
    # or the inventory row (product_id, on_hand, reserved, available, reorder_point).
    data: dict[str, Any]


class EventPage(msgspec.Struct, frozen=True):
    data: list[EventOut]
    # Pass it back as `after`. Never null: at the end of the feed it is the position reached,
    # to poll again from.
    next_cursor: str


class Redelivery(msgspec.Struct, frozen=True):
    event_id: int
    endpoint_ids: list[int]


class RedeliveryMessage(msgspec.Struct, frozen=True):
    message: str
    data: Redelivery


After = Annotated[
    str | None,
    QueryParameter(
        pattern=feed.FEED_CURSOR_PATTERN, description="the next_cursor of the previous page (none: from the start)"
    ),
]
TypeFilter = Annotated[EventType | None, QueryParameter(description="only events of this type")]


def _out(row: feed.EventRow) -> EventOut:
    return EventOut(row.id, row.type, row.created_at, row.data)


class EventController(Controller):
    path = "/events"
    tags = ["events"]

    @get("/", **needs("events:read", 400))
    async def list_events(
        self,
        pool: PoolDep,
        principal: PrincipalDep,
        after: After = None,
        type: TypeFilter = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> EventPage:
        """Events in the order they committed: a client sees its own orders' events and every
        catalog and inventory event; `ops` sees all. Read from the start, it rebuilds every
        order's status (within the retention)."""
        rows, cursor = await feed.list_events(
            pool, after=after, limit=limit, event_type=type, client_id=viewer(principal)
        )
        return EventPage([_out(r) for r in rows], cursor)

    @post("/{event_id:int}/redeliver", status_code=202, **needs("webhooks:write", 400, 404))
    async def redeliver(self, event_id: PathId, pool: PoolDep, principal: PrincipalDep) -> RedeliveryMessage:
        """Send the event again (same `webhook-id`) to every enabled endpoint subscribed to it:
        the client's own endpoints, or every endpoint with `ops`."""
        endpoints = await feed.redeliver(pool, event_id, client_id=viewer(principal))
        message = f"Event queued for redelivery to {len(endpoints)} endpoint(s)"
        return RedeliveryMessage(message, Redelivery(event_id, endpoints))
