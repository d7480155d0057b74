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
from invorder.logs import log_context
from invorder.metrics import PAYMENT_OUTCOMES
from invorder.orders import model
from invorder.orders.model import OrderItemRow, OrderRow
from invorder.orders.payment import ChargeResult, PaymentGateway, payment_key
from invorder.orders.state import deduct_reserved_stock, log_order, move_order, release_reserved_stock
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
    payment_max_attempts: int
    payment_retry_base_s: float
    payment_retry_max_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> OrderPolicy:
        return cls(
            settings.order_max_attempts,
            settings.order_retry_base_s,
            settings.order_retry_max_s,
            settings.payment_max_attempts,
            settings.payment_retry_base_s,
            settings.payment_retry_max_s,
        )


class OrderProcessor:
    """The `process_order` job handler: pending -> reserved -> processed, or failed."""

    def __init__(self, policy: OrderPolicy, payments: PaymentGateway) -> None:
        self.policy = policy
        self.payments = payments

    async def __call__(self, job: Job, ctx: JobContext) -> Outcome:
        order_id = int(job.payload["order_id"])
        with log_context(order_id=order_id):
            return await self._process(order_id, job, ctx)

    async def _process(self, order_id: int, job: Job, ctx: JobContext) -> Outcome:
        fields = {"order_id": order_id, "job_id": job.id, "worker_id": ctx.worker_id}
        # Step 1, one transaction: reserve the stock (when pending) and record that a charge
        # request is about to go out.
        async with db.transaction(ctx.pool) as conn:
            order = await db.one(conn, Q.lock_order, OrderRow, id=order_id)
            if order is None or order.is_final:
                return Complete()
            if order.status == model.PENDING:
                reserved = await self._reserve(conn, order, fields)
                if not isinstance(reserved, OrderRow):
                    return reserved
                order = reserved
            paused = self.payments.breaker.acquire()
            if paused:  # the provider is failing: wait without spending a try
                PAYMENT_OUTCOMES.labels("breaker_open").inc()
                return Snooze(paused + backoff_s(1, base_s=0.5, max_s=1.0), "payment provider failing: waiting")
            ask_only = order.payment_attempts >= self.policy.payment_max_attempts
            if not ask_only:
                order = await self._start_payment(conn, order)
        # Step 2, outside any transaction: the provider may take seconds, and no lock is held.
        if ask_only:
            no_charge = await self.payments.confirm_no_charge(order)
        else:
            result = await self.payments.charge(order)
        # Step 3, one transaction: apply what the provider said, if this run still may.
        async with db.transaction(ctx.pool) as conn:
            current = await db.one(conn, Q.lock_order, OrderRow, id=order_id)
            if current is None or current.status != model.RESERVED:
                return Complete()  # another run of this job concluded it meanwhile
            if ask_only:
                return await self._conclude_exhausted(conn, current, no_charge, fields)
            return await self._conclude_payment(conn, current, result, fields)

    async def _reserve(self, conn: db.Conn, order: OrderRow, fields: dict[str, Any]) -> OrderRow | Outcome:
        """Reserve every line or none (the reserved order comes back). Short of stock: wait
        with backoff, then fail."""
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
            await move_order(conn, order, attempts=attempt, next_attempt_at=next_at, last_error=reason)
            details["retry_in_s"] = round(delay, 3)
            await log_order(conn, order.id, attempt, "out_of_stock", error=reason, details=details)
            log.info("order %d waits for stock (attempt %d): %s", order.id, attempt, reason, extra=fields)
            return Snooze(delay, reason)
        await db.execute(conn, Q.reserve_order_stock, order_id=order.id)
        reserved = await move_order(
            conn,
            order,
            status=model.RESERVED,
            attempts=attempt,
            next_attempt_at=None,
            last_error=None,
            reserved_at=datetime.now(UTC),
        )
        await log_order(
            conn, order.id, attempt, "reserved", details={"items": {str(i.product_id): i.quantity for i in items}}
        )
        return reserved

    async def _start_payment(self, conn: db.Conn, order: OrderRow) -> OrderRow:
        """Record that a charge request is about to go out: from here a cancel can no longer
        win, and a crash leaves `pending`, which the next run resolves by replaying the key."""
        attempt = order.payment_attempts + 1
        status = "pending" if order.payment_status == "none" else order.payment_status
        started = await move_order(conn, order, payment_status=status, payment_attempts=attempt)
        details = {
            "payment_attempt": attempt,
            "idempotency_key": payment_key(order.id, order.created_at),
            "amount_cents": order.total_cents,
        }
        await log_order(conn, order.id, order.attempts, "payment_started", details=details)
        return started

    async def _conclude_payment(
        self, conn: db.Conn, order: OrderRow, result: ChargeResult, fields: dict[str, Any]
    ) -> Outcome:
        charge = result.charge
        if charge is None:
            delay = backoff_s(
                order.payment_attempts, base_s=self.policy.payment_retry_base_s, max_s=self.policy.payment_retry_max_s
            )
            if result.delivered:
                error = f"payment outcome unknown: {result.error}"
                changes: dict[str, Any] = {"payment_status": "unknown"}
            else:  # never reached the provider: not a try, and nothing charged by it
                error = f"payment provider unreachable: {result.error}"
                changes = {"payment_attempts": order.payment_attempts - 1}
            next_at = datetime.now(UTC) + timedelta(seconds=delay)
            await move_order(conn, order, **changes, last_error=error, next_attempt_at=next_at)
            details: dict[str, Any] = {"payment_attempt": order.payment_attempts, "retry_in_s": round(delay, 3)}
            await log_order(conn, order.id, order.attempts, "payment_error", error=error, details=details)
            log.info("order %d: %s; retry in %.1fs", order.id, error, delay, extra=fields)
            return Snooze(delay, error)
        details = {
            "charge_id": charge.id,
            "payment_attempt": order.payment_attempts,
            "amount_cents": charge.amount_cents,
        }
        if charge.succeeded:
            await deduct_reserved_stock(conn, order.id)
            await move_order(
                conn,
                order,
                status=model.PROCESSED,
                payment_status="succeeded",
                charge_id=charge.id,
                next_attempt_at=None,
                last_error=None,
            )
            await log_order(conn, order.id, order.attempts, "processed", details=details)
            log.info("order %d paid and processed", order.id, extra=fields)
            return Complete()
        await release_reserved_stock(conn, order.id)
        reason = "payment declined"
        await move_order(
            conn,
            order,
            status=model.FAILED,
            payment_status="declined",
            charge_id=charge.id,
            next_attempt_at=None,
            last_error=reason,
            reserved_at=None,
        )
        await log_order(conn, order.id, order.attempts, "declined", error=reason, details=details)
        log.info("order %d: payment declined; stock released", order.id, extra=fields)
        return Complete()

    async def _conclude_exhausted(
        self, conn: db.Conn, order: OrderRow, no_charge: bool | None, fields: dict[str, Any]
    ) -> Outcome:
        """Charge tries used up. Fail (and release) only once the provider confirms there is no
        charge; if one exists, one more replay of the key fetches it; if the provider cannot
        say, keep waiting."""
        if no_charge is True:
            reason = f"payment failed: no answer from the provider after {order.payment_attempts} tries; no charge"
            await release_reserved_stock(conn, order.id)
            await move_order(
                conn,
                order,
                status=model.FAILED,
                payment_status="not_charged",
                next_attempt_at=None,
                last_error=reason,
                reserved_at=None,
            )
            await log_order(conn, order.id, order.attempts, "failed", error=reason)
            log.info("order %d failed: %s", order.id, reason, extra=fields)
            return Complete()
        if no_charge is False:
            # The provider holds a charge for this key: allow one more try, which replays it.
            await move_order(conn, order, payment_attempts=order.payment_attempts - 1)
            return Snooze(0, "a charge exists: fetching it")
        delay = self.policy.payment_retry_max_s
        await move_order(conn, order, next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay))
        await log_order(
            conn, order.id, order.attempts, "payment_unconfirmed", error="provider cannot say whether it charged"
        )
        return Snooze(delay, "waiting for the provider to confirm whether it charged")

    async def _fail(
        self,
        conn: db.Conn,
        order: OrderRow,
        attempt: int,
        reason: str,
        fields: dict[str, Any],
        details: dict[str, Any] | None = None,
    ) -> Outcome:
        """Give up on a pending order (nothing reserved, nothing charged)."""
        await move_order(conn, order, status=model.FAILED, attempts=attempt, next_attempt_at=None, last_error=reason)
        await log_order(conn, order.id, attempt, "failed", error=reason, details=details)
        log.info("order %d failed: %s", order.id, reason, extra=fields)
        return Complete()


def register_order_handlers(registry: Registry, settings: Settings, payments: PaymentGateway) -> None:
    registry.register(model.PROCESS_ORDER, OrderProcessor(OrderPolicy.from_settings(settings), payments))
