"""The process_refund job: asks the provider for one refund, under a key fixed per refund, until
the provider says succeeded or failed (docs/design.md, "Refunds exactly once")."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import msgspec

from invorder import db
from invorder.db.queries import queries
from invorder.logs import log_context
from invorder.orders.model import OrderRow
from invorder.orders.refunds import PROCESS_REFUND
from invorder.orders.state import OrderChanges
from invorder.payments.gateway import PaymentGateway, RefundResult, refund_key
from invorder.queue import Complete, Job, JobContext, Outcome, Registry, Snooze, backoff_s
from invorder.settings import Settings

log = logging.getLogger(__name__)
Q = queries()


class _ToSend(msgspec.Struct, frozen=True):
    id: int
    order_id: int
    amount_cents: int
    status: str
    attempts: int
    created_at: datetime
    charge_id: str | None


@dataclass(frozen=True)
class RefundPolicy:
    retry_base_s: float
    retry_max_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RefundPolicy:
        return cls(settings.payment_retry_base_s, settings.payment_retry_max_s)


class RefundProcessor:
    """pending -> succeeded or failed. The provider call happens outside any transaction; what
    it said is written under the order's lock, and only while the refund is still pending, so a
    second run of the job (after a crash, or a lease that ran out) changes nothing twice."""

    def __init__(self, policy: RefundPolicy, payments: PaymentGateway) -> None:
        self.policy = policy
        self.payments = payments

    async def __call__(self, job: Job, ctx: JobContext) -> Outcome:
        refund_id = int(job.payload["refund_id"])
        async with db.transaction(ctx.pool) as conn:
            refund = await db.one(conn, Q.get_refund_to_send, _ToSend, id=refund_id)
        if refund is None or refund.status != "pending":
            return Complete()
        with log_context(order_id=refund.order_id, refund_id=refund_id, job_id=job.id):
            if refund.charge_id is None:  # cannot happen for a paid order; never guess
                return await self._note(ctx, refund, RefundResult(None, error="the order has no charge id"))
            answer = await self.payments.refund(
                key=refund_key(refund.id, refund.created_at),
                charge_id=refund.charge_id,
                amount_cents=refund.amount_cents,
            )
            if not answer.definite:
                return await self._note(ctx, refund, answer)
            return await self._conclude(ctx, refund, answer)

    async def _note(self, ctx: JobContext, refund: _ToSend, answer: RefundResult) -> Outcome:
        """No definite answer: the refund stays pending, and is asked again after a backoff."""
        if answer.error is None and answer.refund is not None:  # a status we do not know
            answer = RefundResult(None, error=f"the provider's refund is {answer.refund.status!r}")
        tries = 1 if answer.delivered else 0  # a request that never left cannot have refunded
        delay = backoff_s(refund.attempts + 1, base_s=self.policy.retry_base_s, max_s=self.policy.retry_max_s)
        async with db.transaction(ctx.pool) as conn:
            await db.execute(conn, Q.note_refund_attempt, id=refund.id, tries=tries, error=answer.error)
        log.info("refund %d: outcome unknown (%s); asking again in %.1fs", refund.id, answer.error, delay)
        return Snooze(delay, f"refund outcome unknown: {answer.error}")

    async def _conclude(self, ctx: JobContext, refund: _ToSend, answer: RefundResult) -> Outcome:
        """The provider's word (its refund succeeded or failed), written once."""
        provider = answer.refund
        assert provider is not None
        if provider.succeeded:
            status, failure = "succeeded", None
        else:
            status, failure = "failed", provider.failure_reason or "refused by the provider"
        async with db.transaction(ctx.pool) as conn:
            [order] = await db.many(conn, Q.lock_orders, OrderRow, ids=[refund.order_id])
            if await db.scalar(conn, Q.lock_refund_status, id=refund.id) != "pending":
                return Complete()  # another run concluded it meanwhile
            await db.scalar(
                conn,
                Q.finish_refund,
                id=refund.id,
                status=status,
                provider_refund_id=provider.id,
                failure_reason=failure,
            )
            if status == "succeeded":
                await db.execute(conn, Q.add_refunded_amount, order_id=order.id, amount_cents=refund.amount_cents)
            else:
                await db.execute(conn, Q.release_refunded_units, order_id=order.id, refund_id=refund.id)
            changes = OrderChanges()
            details = {"refund_id": refund.id, "amount_cents": refund.amount_cents, "provider_refund_id": provider.id}
            changes.log(order.id, order.attempts, f"refund_{status}", error=failure, details=details)
            await changes.write(conn)
        log.info("refund %d %s%s", refund.id, status, f": {failure}" if failure else "")
        return Complete()


def register_refund_handler(registry: Registry, settings: Settings, payments: PaymentGateway) -> None:
    registry.register(PROCESS_REFUND, RefundProcessor(RefundPolicy.from_settings(settings), payments))
