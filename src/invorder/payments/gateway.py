"""The payment step of an order: the charge, outside any transaction, with one idempotency key per
order, a circuit breaker and a bound on charges in flight (docs/design.md, section 5)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from invorder.metrics import PAYMENT_OUTCOMES
from invorder.orders.model import OrderRow
from invorder.payments.client import (
    Charge,
    PaymentOutcomeUnknown,
    PaymentProviderUnreachable,
    PaymentRejected,
    PaymentsClient,
    ProviderRefund,
)

log = logging.getLogger(__name__)


def payment_key(order_id: int, created_at: datetime) -> str:
    """The idempotency key of every charge attempt of this order: the same for every try, and
    different for any other order, even one that reuses the id in a rebuilt database talking
    to the same provider account (the placement time is part of the key)."""
    return f"invorder-order-{order_id}-{int(created_at.timestamp() * 1_000_000)}"


def refund_key(refund_id: int, created_at: datetime) -> str:
    """The idempotency key of every request for this refund: fixed per refund, as payment_key is
    per order."""
    return f"invorder-refund-{refund_id}-{int(created_at.timestamp() * 1_000_000)}"


@dataclass(frozen=True)
class RefundResult:
    """What one try for a refund learnt: the provider's refund (succeeded or failed, its word),
    or why nothing is known."""

    refund: ProviderRefund | None
    error: str | None = None
    delivered: bool = True

    @property
    def definite(self) -> bool:
        """Whether the provider said succeeded or failed: only then is a refund concluded."""
        return self.refund is not None and self.refund.status in ("succeeded", "failed")


@dataclass(frozen=True)
class ChargeResult:
    """What one try learnt: a charge (succeeded or declined), or why nothing is known.
    `delivered` is False when the request never reached the provider (so it cannot count as
    a try: the provider is down, not failing this order)."""

    charge: Charge | None
    error: str | None = None
    delivered: bool = True


class CircuitBreaker:
    """Closed, it lets every request through. After `threshold` consecutive failures it opens:
    no request is sent for `open_s` seconds. Then it lets one probe through (half-open): the
    probe's success closes it, its failure opens it again. So while the provider is down,
    orders wait without spending their tries. One per worker process."""

    def __init__(self, threshold: int, open_s: float) -> None:
        self.threshold = threshold
        self.open_s = open_s
        self._failures = 0
        self._open_until = 0.0
        self._probing = False

    def acquire(self) -> float:
        """0 when a request may go now (and, when half-open, claims the one probe); otherwise
        how long to wait before asking again."""
        if self._failures < self.threshold:
            return 0.0
        remaining = self._open_until - time.monotonic()
        if remaining > 0:
            return remaining
        if self._probing:
            return self.open_s / 4
        self._probing = True
        return 0.0

    def record(self, ok: bool) -> None:
        self._probing = False
        if ok:
            if self._failures >= self.threshold:
                log.info("payment provider answering again: charges resume")
            self._failures = 0
            return
        self._failures += 1
        if self._failures >= self.threshold:
            if self._failures == self.threshold:
                log.warning("payment provider failing: pausing charges for %.0fs", self.open_s)
            self._open_until = time.monotonic() + self.open_s


class PaymentGateway:
    """The provider as the order processor sees it."""

    def __init__(self, client: PaymentsClient, breaker: CircuitBreaker, *, max_in_flight: int = 64) -> None:
        self.client = client
        self.breaker = breaker
        # Bounds the requests in flight across every batch of this process; the client's
        # connection pool has as many connections, so none waits for one inside the client.
        self._in_flight = asyncio.Semaphore(max_in_flight)

    async def charge(self, order: OrderRow) -> ChargeResult:
        """Charge (or replay the charge of) `order`'s total. Never raises for provider trouble."""
        try:
            async with self._in_flight:
                charge = await self.client.charge(
                    idempotency_key=payment_key(order.id, order.created_at),
                    amount_cents=order.total_cents,
                    reference=str(order.id),
                )
        except (PaymentOutcomeUnknown, PaymentRejected) as exc:
            self.breaker.record(ok=False)
            delivered = not isinstance(exc, PaymentProviderUnreachable)
            PAYMENT_OUTCOMES.labels("unknown" if delivered else "unreachable").inc()
            return ChargeResult(None, str(exc) or type(exc).__name__, delivered=delivered)
        self.breaker.record(ok=True)
        PAYMENT_OUTCOMES.labels("succeeded" if charge.succeeded else "declined").inc()
        return ChargeResult(charge)

    async def confirm_no_charge(self, order: OrderRow) -> bool | None:
        """True when the provider says no charge exists for this order's key, False when one
        does, None when it cannot say."""
        try:
            async with self._in_flight:
                found = await self.client.find_charge(idempotency_key=payment_key(order.id, order.created_at))
        except (PaymentOutcomeUnknown, PaymentRejected):
            self.breaker.record(ok=False)
            return None
        self.breaker.record(ok=True)
        return found is None

    async def refund(self, *, key: str, charge_id: str, amount_cents: int) -> RefundResult:
        """Ask the provider for the refund of `key`: look it up first (a crashed or timed-out
        earlier try may have made it), and send it, under the same key, only when the provider
        has none. Never raises for provider trouble. A refused request (a 4xx) is not the
        provider's word on the refund (a proxy, a bad configuration): it is unknown too."""
        try:
            async with self._in_flight:
                found = await self.client.find_refund(idempotency_key=key)
                if found is not None:
                    return RefundResult(found)
                return RefundResult(
                    await self.client.refund(idempotency_key=key, charge_id=charge_id, amount_cents=amount_cents)
                )
        except PaymentRejected as exc:
            return RefundResult(None, error=str(exc))
        except PaymentOutcomeUnknown as exc:
            delivered = not isinstance(exc, PaymentProviderUnreachable)
            return RefundResult(None, error=str(exc) or type(exc).__name__, delivered=delivered)
