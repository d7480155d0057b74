"""Processing orders in the workers, a batch at a time: the state machine of docs/design.md,
sections 4 to 6 (reserve, charge, conclude), its steps shared by the batches in hand."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from invorder import db
from invorder.db.group_commit import GroupCommit
from invorder.db.queries import queries
from invorder.logs import log_context
from invorder.metrics import PAYMENT_OUTCOMES
from invorder.orders import model
from invorder.orders.model import OrderRow
from invorder.orders.state import OrderChanges
from invorder.payments.gateway import ChargeResult, PaymentGateway, payment_key
from invorder.queue import Complete, Job, JobContext, Outcome, Registry, Snooze, backoff_s
from invorder.settings import Settings

log = logging.getLogger(__name__)
Q = queries()
# A bound on one step-1 or step-3 transaction, however many batches are in hand at once.
MOST_ORDERS_PER_TRANSACTION = 1000


class _Stock(msgspec.Struct):
    product_id: int
    available: int
    product_deleted: bool


class _Line(msgspec.Struct, frozen=True):
    order_id: int
    product_id: int
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class OrderPolicy:
    max_attempts: int
    retry_base_s: float
    retry_max_s: float
    payment_max_attempts: int
    payment_retry_base_s: float
    payment_retry_max_s: float
    flush_interval_s: float = 0.005

    @classmethod
    def from_settings(cls, settings: Settings) -> OrderPolicy:
        return cls(
            settings.order_max_attempts,
            settings.order_retry_base_s,
            settings.order_retry_max_s,
            settings.payment_max_attempts,
            settings.payment_retry_base_s,
            settings.payment_retry_max_s,
            settings.order_flush_interval_s,
        )


@dataclass(frozen=True)
class _Claim:
    """A job in hand and the order it names, as step 1 gets them."""

    order_id: int
    job_id: int


@dataclass(frozen=True)
class _ToPay:
    """An order that left step 1 reserved, and what step 2 asks the provider about it."""

    job_id: int
    order: OrderRow
    ask_only: bool  # charge tries used up: only ask whether a charge exists


PaymentAnswer = ChargeResult | bool | None  # a charge try's result, or confirm_no_charge's answer


class OrderBatchProcessor:
    """The `process_order` batch handler: pending -> reserved -> processed, or failed."""

    def __init__(self, policy: OrderPolicy, payments: PaymentGateway) -> None:
        self.policy = policy
        self.payments = payments
        # Every batch in hand shares steps 1 and 3 with the others: while one transaction
        # runs, the next gathers what every batch has for it. On a hot product the batches
        # would otherwise queue one small transaction at a time on the same stock row lock.
        self._reservations = GroupCommit(self._reserve_and_start_payments, max_items=MOST_ORDERS_PER_TRANSACTION)
        self._conclusions = GroupCommit(self._conclude, max_items=MOST_ORDERS_PER_TRANSACTION)

    async def __call__(self, jobs: Sequence[Job], ctx: JobContext) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(jobs)
        claims: list[tuple[JobContext, _Claim]] = []
        places: list[int] = []  # the job index of each claim
        seen: set[int] = set()
        for index, job in enumerate(jobs):
            order_id = int(job.payload["order_id"])
            if order_id in seen:  # two jobs for one order: the second looks again later
                outcomes[index] = Snooze(1.0, "another job of this order was in the same batch")
                continue
            seen.add(order_id)
            claims.append((ctx, _Claim(order_id, job.id)))
            places.append(index)
        to_pay: list[tuple[int, _ToPay]] = []
        for index, result in zip(places, await self._reservations.submit(claims), strict=True):
            if isinstance(result, _ToPay):
                to_pay.append((index, result))
            else:
                outcomes[index] = result
        if to_pay:
            await self._pay_and_conclude(to_pay, outcomes, ctx)
        assert all(o is not None for o in outcomes)
        return [o for o in outcomes if o is not None]

    # -- step 1: one transaction reserves the batches and records the charges about to go out --

    async def _reserve_and_start_payments(self, claims: list[tuple[JobContext, _Claim]]) -> list[Outcome | _ToPay]:
        """Step 1 for the claims of every batch that asked while the previous one ran."""
        ctx = claims[0][0]
        results: list[Outcome | _ToPay | None] = [None] * len(claims)
        first: dict[int, int] = {}  # order id -> the place of its first claim
        for place, (_, claim) in enumerate(claims):
            if claim.order_id in first:  # two batches in hand with a job for one order
                results[place] = Snooze(1.0, "another job of this order was in hand at the same time")
            else:
                first[claim.order_id] = place
        payable: list[tuple[int, OrderRow]] = []
        to_pay: list[tuple[int, OrderRow, bool]] = []
        changes = OrderChanges()
        async with db.transaction(ctx.pool) as conn:
            orders = await db.many(conn, Q.lock_orders, OrderRow, ids=sorted(first))
            for order_id in first.keys() - {o.id for o in orders}:
                results[first[order_id]] = Complete()  # the order is gone
            pending = [o.id for o in orders if o.status == model.PENDING]
            lines: dict[int, list[_Line]] = {order_id: [] for order_id in pending}
            stock: dict[int, _Stock] = {}
            if pending:
                for line in await db.many(conn, Q.get_items_of_orders, _Line, order_ids=pending):
                    lines[line.order_id].append(line)
                stock = {
                    s.product_id: s for s in await db.many(conn, Q.lock_stock_for_orders, _Stock, order_ids=pending)
                }
                changes.stock_locked(pending)
            for order in orders:  # in id order: within a product, earlier orders are served first
                place = first[order.id]
                if order.is_final:
                    results[place] = Complete()
                    continue
                if order.status == model.PENDING:
                    with log_context(order_id=order.id, job_id=claims[place][1].job_id):
                        reserved = self._reserve(changes, order, lines[order.id], stock)
                    if not isinstance(reserved, OrderRow):
                        results[place] = reserved
                        continue
                    order = reserved
                payable.append((place, order))
            # While the breaker is half-open it lets one order through: the one that waited
            # longest since it last moved, so every waiting order gets its turn.
            for place, order in sorted(payable, key=lambda p: p[1].updated_at):
                paused = self.payments.breaker.acquire()
                if paused:  # the provider is failing: wait without spending a try
                    PAYMENT_OUTCOMES.labels("breaker_open").inc()
                    results[place] = Snooze(
                        paused + backoff_s(1, base_s=0.5, max_s=1.0), "payment provider failing: waiting"
                    )
                    continue
                ask_only = order.payment_attempts >= self.policy.payment_max_attempts
                if not ask_only:
                    order = self._start_payment(changes, order)
                to_pay.append((place, order, ask_only))
            stored = await changes.write(conn)
        for place, order, ask_only in to_pay:
            results[place] = _ToPay(claims[place][1].job_id, stored.get(order.id, order), ask_only)
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]

    def _reserve(
        self, changes: OrderChanges, order: OrderRow, lines: list[_Line], stock: dict[int, _Stock]
    ) -> OrderRow | Outcome:
        """Reserve every line or none (the reserved order comes back), from the batch's view of
        the stock, which each reservation lowers. Short of stock: wait with backoff, then fail."""
        attempt = order.attempts + 1
        deleted = [
            line.product_id for line in lines if line.product_id in stock and stock[line.product_id].product_deleted
        ]
        if deleted:
            return self._fail(changes, order, attempt, f"product {', '.join(map(str, deleted))} was deleted")
        short = {
            line.product_id: line.quantity - (stock[line.product_id].available if line.product_id in stock else 0)
            for line in lines
            if line.product_id not in stock or stock[line.product_id].available < line.quantity
        }
        if short:
            reason = "not enough stock: " + ", ".join(f"product {pid} short by {n}" for pid, n in sorted(short.items()))
            details: dict[str, Any] = {"short": {str(pid): n for pid, n in short.items()}}
            if attempt >= self.policy.max_attempts:
                return self._fail(changes, order, attempt, f"{reason} after {attempt} attempts", details)
            delay = backoff_s(attempt, base_s=self.policy.retry_base_s, max_s=self.policy.retry_max_s)
            next_at = datetime.now(UTC) + timedelta(seconds=delay)
            changes.move(order, attempts=attempt, next_attempt_at=next_at, last_error=reason)
            details["retry_in_s"] = round(delay, 3)
            changes.log(order.id, attempt, "out_of_stock", error=reason, details=details)
            log.debug("order %d waits for stock (attempt %d): %s", order.id, attempt, reason)
            return Snooze(delay, reason)
        for line in lines:
            stock[line.product_id].available -= line.quantity
        changes.reserve(order.id)
        changes.log(
            order.id, attempt, "reserved", details={"items": {str(line.product_id): line.quantity for line in lines}}
        )
        return changes.move(
            order,
            status=model.RESERVED,
            attempts=attempt,
            next_attempt_at=None,
            last_error=None,
            reserved_at=datetime.now(UTC),
        )

    def _start_payment(self, changes: OrderChanges, order: OrderRow) -> OrderRow:
        """Record that a charge request is about to go out: from here a cancel can no longer
        win, and a crash leaves `pending`, which the next run resolves by replaying the key."""
        attempt = order.payment_attempts + 1
        status = "pending" if order.payment_status == "none" else order.payment_status
        details = {
            "payment_attempt": attempt,
            "idempotency_key": payment_key(order.id, order.created_at),
            "amount_cents": order.total_cents,
        }
        changes.log(order.id, order.attempts, "payment_started", details=details)
        return changes.move(order, payment_status=status, payment_attempts=attempt)

    # -- steps 2 and 3: every charge in flight at once, concluded in groups as answers come --

    async def _pay_and_conclude(
        self, to_pay: list[tuple[int, _ToPay]], outcomes: list[Outcome | None], ctx: JobContext
    ) -> None:
        """Ask the provider about every order at once (outside any transaction: it may take
        seconds, and no lock is held), and conclude the answers in groups: whatever has come
        back within `flush_interval_s` of the first answer of the group, concluded with what
        the other batches in hand have to conclude."""
        asking = {asyncio.create_task(self._ask(item)): (index, item) for index, item in to_pay}
        try:
            waiting = set(asking)
            while waiting:
                done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if waiting and self.policy.flush_interval_s > 0:
                    more, waiting = await asyncio.wait(waiting, timeout=self.policy.flush_interval_s)
                    done |= more
                answered = [(asking[t], t.result()) for t in done]
                concluded = await self._conclusions.submit([(ctx, item, answer) for (_, item), answer in answered])
                for ((index, _), _), outcome in zip(answered, concluded, strict=True):
                    outcomes[index] = outcome
        finally:
            for task in asking:
                task.cancel()
            await asyncio.gather(*asking, return_exceptions=True)

    async def _ask(self, item: _ToPay) -> PaymentAnswer:
        with log_context(order_id=item.order.id, job_id=item.job_id):
            if item.ask_only:
                return await self.payments.confirm_no_charge(item.order)
            return await self.payments.charge(item.order)

    async def _conclude(self, answers: list[tuple[JobContext, _ToPay, PaymentAnswer]]) -> list[Outcome]:
        """Step 3: apply what the provider said, for each order this run still may conclude."""
        ctx = answers[0][0]
        outcomes: list[Outcome | None] = [None] * len(answers)
        changes = OrderChanges()
        async with db.transaction(ctx.pool) as conn:
            ids = sorted({item.order.id for _, item, _ in answers})
            current = {o.id: o for o in await db.many(conn, Q.lock_orders, OrderRow, ids=ids)}
            concluded: set[int] = set()
            for place in sorted(range(len(answers)), key=lambda p: answers[p][1].order.id):
                _, item, answer = answers[place]
                order = current.get(item.order.id)
                if order is None or order.status != model.RESERVED or order.id in concluded:
                    outcomes[place] = Complete()  # another run of this job concluded it meanwhile
                    continue
                concluded.add(order.id)
                with log_context(order_id=order.id, job_id=item.job_id):
                    if isinstance(answer, ChargeResult):
                        outcomes[place] = self._conclude_payment(changes, order, answer)
                    else:
                        outcomes[place] = self._conclude_exhausted(changes, order, answer)
            await changes.write(conn)
        assert all(o is not None for o in outcomes)
        return [o for o in outcomes if o is not None]

    def _conclude_payment(self, changes: OrderChanges, order: OrderRow, result: ChargeResult) -> Outcome:
        charge = result.charge
        if charge is None:
            delay = backoff_s(
                order.payment_attempts, base_s=self.policy.payment_retry_base_s, max_s=self.policy.payment_retry_max_s
            )
            if result.delivered:
                error = f"payment outcome unknown: {result.error}"
                moved: dict[str, Any] = {"payment_status": "unknown"}
            else:  # never reached the provider: not a try, and nothing charged by it
                error = f"payment provider unreachable: {result.error}"
                moved = {"payment_attempts": order.payment_attempts - 1}
            next_at = datetime.now(UTC) + timedelta(seconds=delay)
            changes.move(order, **moved, last_error=error, next_attempt_at=next_at)
            details: dict[str, Any] = {"payment_attempt": order.payment_attempts, "retry_in_s": round(delay, 3)}
            changes.log(order.id, order.attempts, "payment_error", error=error, details=details)
            log.info("order %d: %s; retry in %.1fs", order.id, error, delay)
            return Snooze(delay, error)
        details = {
            "charge_id": charge.id,
            "payment_attempt": order.payment_attempts,
            "amount_cents": charge.amount_cents,
        }
        if charge.succeeded:
            changes.deduct(order.id)
            changes.move(
                order,
                status=model.PROCESSED,
                payment_status="succeeded",
                charge_id=charge.id,
                next_attempt_at=None,
                last_error=None,
            )
            changes.log(order.id, order.attempts, "processed", details=details)
            log.debug("order %d paid and processed", order.id)
            return Complete()
        reason = "payment declined"
        changes.release(order.id)
        changes.move(
            order,
            status=model.FAILED,
            payment_status="declined",
            charge_id=charge.id,
            next_attempt_at=None,
            last_error=reason,
            reserved_at=None,
        )
        changes.log(order.id, order.attempts, "declined", error=reason, details=details)
        log.debug("order %d: payment declined; stock released", order.id)
        return Complete()

    def _conclude_exhausted(self, changes: OrderChanges, order: OrderRow, no_charge: bool | None) -> Outcome:
        """Charge tries used up. Fail (and release) only once the provider confirms there is no
        charge; if one exists, one more replay of the key fetches it; if the provider cannot
        say, keep waiting."""
        if no_charge is True:
            reason = f"payment failed: no answer from the provider after {order.payment_attempts} tries; no charge"
            changes.release(order.id)
            changes.move(
                order,
                status=model.FAILED,
                payment_status="not_charged",
                next_attempt_at=None,
                last_error=reason,
                reserved_at=None,
            )
            changes.log(order.id, order.attempts, "failed", error=reason)
            log.info("order %d failed: %s", order.id, reason)
            return Complete()
        if no_charge is False:
            # The provider holds a charge for this key: allow one more try, which replays it.
            changes.move(order, payment_attempts=order.payment_attempts - 1)
            return Snooze(0, "a charge exists: fetching it")
        delay = self.policy.payment_retry_max_s
        changes.move(order, next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay))
        changes.log(order.id, order.attempts, "payment_unconfirmed", error="provider cannot say whether it charged")
        return Snooze(delay, "waiting for the provider to confirm whether it charged")

    def _fail(
        self,
        changes: OrderChanges,
        order: OrderRow,
        attempt: int,
        reason: str,
        details: dict[str, Any] | None = None,
    ) -> Outcome:
        """Give up on a pending order (nothing reserved, nothing charged)."""
        changes.move(order, status=model.FAILED, attempts=attempt, next_attempt_at=None, last_error=reason)
        changes.log(order.id, attempt, "failed", error=reason, details=details)
        log.info("order %d failed: %s", order.id, reason)
        return Complete()


def register_order_handlers(registry: Registry, settings: Settings, payments: PaymentGateway) -> None:
    registry.register_batch(
        model.PROCESS_ORDER,
        OrderBatchProcessor(OrderPolicy.from_settings(settings), payments),
        max_batch=settings.order_batch_size,
    )
