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

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class OrderItemRow(msgspec.Struct, frozen=True):
    product_id: int
    quantity: int
    unit_price_cents: int


class OrderLogRow(msgspec.Struct, frozen=True):
    id: int
    order_id: int
    attempt: int
    status: str
    processed_at: datetime
    error_message: str | None
    details: dict[str, Any]
    actor: str | None  # who: key:<id>, admin, worker (None before audit existed)
