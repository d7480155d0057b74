"""Order rows and statuses."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

import msgspec

PENDING, RESERVED, PROCESSED, FAILED, CANCELLED = "pending", "reserved", "processed", "failed", "cancelled"
FINAL_STATUSES = frozenset({PROCESSED, FAILED, CANCELLED})
Status = Literal["pending", "reserved", "processed", "failed", "cancelled"]
STATUSES: tuple[str, ...] = get_args(Status)
assert STATUSES == (PENDING, RESERVED, PROCESSED, FAILED, CANCELLED)
PROCESS_ORDER = "process_order"  # the job kind that moves an order along


class OrderRow(msgspec.Struct, frozen=True):
    id: int
    status: str
    customer_ref: str | None
    total_cents: int
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    payment_status: str
    payment_attempts: int
    charge_id: str | None
    reserved_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime
    refunded_cents: int  # sum of succeeded refunds
    refund_status: str  # none, partially_refunded, refunded
    fulfillment_status: str  # unfulfilled, partially_fulfilled, fulfilled

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class OrderItemRow(msgspec.Struct, frozen=True):
    product_id: int
    quantity: int
    unit_price_cents: int
    fulfilled_quantity: int = 0
    refunded_quantity: int = 0  # units in refunds that are not failed
    cancelled_quantity: int = 0  # refunded with restock cancel (kept when the refund fails)
    returned_quantity: int = 0  # refunded with restock return (kept when the refund fails)

    @property
    def left_to_ship(self) -> int:
        return self.quantity - self.fulfilled_quantity - self.cancelled_quantity


class OrderLogRow(msgspec.Struct, frozen=True):
    id: int
    order_id: int
    attempt: int
    status: str
    processed_at: datetime
    error_message: str | None
    details: dict[str, Any]
    actor: str | None  # who: key:<id>, admin, worker (None before audit existed)
