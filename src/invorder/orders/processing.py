"""Processing an order, in the workers: a state machine whose steps each run in one
transaction that holds the order's row lock, so a step's effects and the order's new state
commit together, and a step run twice (after a crash) finds the state already moved on."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from invorder import db
from invorder.orders import model
from invorder.orders.model import OrderItemRow, OrderRow
from invorder.orders.placement import log_order
from invorder.queue import Complete, Job, JobContext, Outcome, Registry, Snooze, backoff_s
from invorder.settings import Settings
from invorder.sql import queries

log = logging.getLogger(__name__)
Q = queries()


class _StockLine(msgspec.Struct, frozen=True):
    product_id: int
    quantity: int
    available: int
    product_deleted: bool


@dataclass(frozen=True)
class OrderPolicy:
    max_attempts: int
    retry_base_s: float
    retry_max_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> OrderPolicy:
        return cls(settings.order_max_attempts, settings.order_retry_base_s, settings.order_retry_max_s)


def _state(order: OrderRow, **changes: Any) -> dict[str, Any]:
    return {**msgspec.structs.asdict(order), **changes}


class OrderProcessor:
    """The `process_order` job handler."""

    def __init__(self, policy: OrderPolicy) -> None:
        self.policy = policy

    async def __call__(self, job: Job, ctx: JobContext) -> Outcome:
        order_id = int(job.payload["order_id"])
        fields = {"order_id": order_id, "job_id": job.id, "worker_id": ctx.worker_id}
        while True:
            async with db.transaction(ctx.pool) as conn:
                order = await db.one(conn, Q.lock_order, OrderRow, id=order_id)
                if order is None or order.is_final:
                    return Complete()
                if order.status == model.PENDING:
                    outcome = await self._reserve(conn, order, fields)
                elif order.status == model.RESERVED:
                    outcome = await self._complete_sale(conn, order, fields)
                else:  # pragma: no cover - the status check constraint allows nothing else
                    raise RuntimeError(f"order {order_id} has unknown status {order.status}")
            if outcome is not None:
                return outcome

    async def _reserve(self, conn: db.Conn, order: OrderRow, fields: dict[str, Any]) -> Outcome | None:
        """Reserve every line or none. Short of stock: wait with backoff, then fail."""
        attempt = order.attempts + 1
        items = await db.many(conn, Q.get_order_items, OrderItemRow, order_id=order.id)
        lines = {
            line.product_id: line for line in await db.many(conn, Q.lock_stock_for_order, _StockLine, order_id=order.id)
        }
        deleted = [line.product_id for line in lines.values() if line.product_deleted]
        short = {
            item.product_id: item.quantity - (lines[item.product_id].available if item.product_id in lines else 0)
            for item in items
            if item.product_id not in lines or lines[item.product_id].available < item.quantity
        }
        if deleted:
            return await self._fail(conn, order, attempt, f"product {', '.join(map(str, deleted))} was deleted", fields)
        if short:
            reason = "not enough stock: " + ", ".join(f"product {pid} short by {n}" for pid, n in sorted(short.items()))
            details: dict[str, Any] = {"short": {str(pid): n for pid, n in short.items()}}
            if attempt >= self.policy.max_attempts:
                return await self._fail(conn, order, attempt, f"{reason} after {attempt} attempts", fields, details)
            delay = backoff_s(attempt, base_s=self.policy.retry_base_s, max_s=self.policy.retry_max_s)
            next_at = datetime.now(UTC) + timedelta(seconds=delay)
            await db.execute(
                conn, Q.set_order_state, **_state(order, attempts=attempt, next_attempt_at=next_at, last_error=reason)
            )
            await log_order(
                conn,
                order.id,
                attempt,
                "out_of_stock",
                error=reason,
                details={**details, "retry_in_s": round(delay, 3)},
            )
            log.info("order %d waits for stock (attempt %d): %s", order.id, attempt, reason, extra=fields)
            return Snooze(delay, reason)
        await db.execute(conn, Q.reserve_order_stock, order_id=order.id)
        await db.execute(
            conn,
            Q.set_order_state,
            **_state(
                order,
                status=model.RESERVED,
                attempts=attempt,
                next_attempt_at=None,
                last_error=None,
                reserved_at=datetime.now(UTC),
            ),
        )
        await log_order(
            conn, order.id, attempt, "reserved", details={"items": {str(i.product_id): i.quantity for i in items}}
        )
        return None

    async def _complete_sale(self, conn: db.Conn, order: OrderRow, fields: dict[str, Any]) -> Outcome:
        """Reservation becomes a deduction (ledger rows) and the order is processed."""
        await db.execute(conn, Q.deduct_order_stock, order_id=order.id)
        await db.execute(conn, Q.set_order_state, **_state(order, status=model.PROCESSED, next_attempt_at=None))
        await log_order(conn, order.id, order.attempts, "processed")
        log.info("order %d processed", order.id, extra=fields)
        return Complete()

    async def _fail(
        self,
        conn: db.Conn,
        order: OrderRow,
        attempt: int,
        reason: str,
        fields: dict[str, Any],
        details: dict[str, Any] | None = None,
    ) -> Outcome:
        if order.status == model.RESERVED:
            await db.execute(conn, Q.release_order_stock, order_id=order.id)
        await db.execute(
            conn,
            Q.set_order_state,
            **_state(order, status=model.FAILED, attempts=attempt, next_attempt_at=None, last_error=reason),
        )
        await log_order(conn, order.id, attempt, "failed", error=reason, details=details)
        log.info("order %d failed: %s", order.id, reason, extra=fields)
        return Complete()


def register_order_handlers(registry: Registry, settings: Settings) -> None:
    registry.register(model.PROCESS_ORDER, OrderProcessor(OrderPolicy.from_settings(settings)))
