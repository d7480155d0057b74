"""Events: the outbox the database's triggers write and its commit-ordered feed (docs/events.md);
webhooks/ pushes them to endpoints."""

from __future__ import annotations

ORDER_EVENT_TYPES = (
    "order.placed",
    "order.processed",
    "order.failed",
    "order.cancelled",
    "order.fulfilled",
    "order.refunded",
)
REFUND_EVENT_TYPES = ("refund.created", "refund.succeeded", "refund.failed")
FULFILLMENT_EVENT_TYPES = ("fulfillment.created",)
INVENTORY_EVENT_TYPES = ("inventory.low_stock", "inventory.out_of_stock", "inventory.restocked")
PRODUCT_EVENT_TYPES = ("product.created", "product.updated", "product.deleted")
EVENT_TYPES = (
    *ORDER_EVENT_TYPES,
    *REFUND_EVENT_TYPES,
    *FULFILLMENT_EVENT_TYPES,
    *INVENTORY_EVENT_TYPES,
    *PRODUCT_EVENT_TYPES,
)
ALL_EVENTS = "*"  # an endpoint subscribed to every type
DELIVER_WEBHOOK = "deliver_webhook"  # the job kind of one delivery (one event to one endpoint)
