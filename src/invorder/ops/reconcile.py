"""Reconciliation: invariants 1-5 (README, "Inventory syncing") checked against stock, orders,
jobs, refunds and the provider's charges and refunds; what is safe is repaired, the rest reported."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import msgspec

from invorder import db
from invorder.db.queries import queries
from invorder.orders import model
from invorder.orders.refunds import PROCESS_REFUND
from invorder.payments.client import Charge, PaymentOutcomeUnknown, PaymentRejected, PaymentsClient, ProviderRefund
from invorder.payments.gateway import refund_key

log = logging.getLogger(__name__)
Q = queries()
T = TypeVar("T")

PROVIDER_CONCURRENCY = 8  # provider lookups in flight at once
ORDER_BATCH = 200  # orders read from the database per batch of lookups
REFUND_PENDING_S = 3600.0  # a refund pending for longer is listed (SPEC.md, "After payment")

# Kinds of drift, one per way an invariant can break.
OUT_OF_BOUNDS = "stock_out_of_bounds"  # 1
RESERVED_DRIFT = "reserved_drift"  # 2
LEDGER_DRIFT = "ledger_drift"  # 3
MISSING_CHARGE = "missing_charge"  # 4
DUPLICATE_CHARGES = "duplicate_charges"  # 4
CHARGE_AMOUNT = "charge_amount_differs"  # 4
CHARGE_WITHOUT_SALE = "charge_without_sale"  # 4
UNRECORDED_REFUND = "unrecorded_refund"  # 4: a provider refund under no key of ours
MISSING_REFUND = "missing_provider_refund"  # 4: a succeeded refund the provider does not hold
REFUND_AMOUNT = "refund_amount_differs"  # 4
REFUND_STATUS = "refund_status_differs"  # 4: a refund we record as failed that the provider made
STALE_REFUND = "stale_refund"  # pending for longer than REFUND_PENDING_S: no word from the provider yet
STALE_RESERVATION = "stale_reservation"  # a reservation past its TTL with no payment conclusion
ORDER_WITHOUT_JOB = "order_without_job"  # 5: an order not final that no job will move on


class Drift(msgspec.Struct, frozen=True):
    """One thing that is not as the invariants say, and what was (or must be) done about it."""

    kind: str
    subject: str
    expected: str
    actual: str
    action: str
    repaired: bool = False
    product_id: int | None = None
    order_id: int | None = None
    refund_id: int | None = None


class PaymentsCheck(msgspec.Struct, frozen=True):
    """Whether invariant 4 was checked: how many orders were looked up and how many of their
    refunds compared, or why it was skipped."""

    checked: bool
    orders: int
    error: str | None = None
    refunds: int = 0


class Report(msgspec.Struct, frozen=True):
    started_at: datetime
    finished_at: datetime
    repair: bool
    payments: PaymentsCheck
    drift: list[Drift]
    found: int
    repaired: int
    remaining: int

    @property
    def exit_code(self) -> int:
        """0 when no drift remains, 1 when some does (so cron can alert)."""
        return 1 if self.remaining else 0


class _BoundsRow(msgspec.Struct, frozen=True):
    product_id: int
    on_hand: int
    reserved: int


class _ReservedRow(msgspec.Struct, frozen=True):
    product_id: int
    on_hand: int | None
    reserved: int | None
    held: int


class _LedgerRow(msgspec.Struct, frozen=True):
    product_id: int
    on_hand: int | None
    ledger_total: int


class _StaleRow(msgspec.Struct, frozen=True):
    order_id: int
    payment_status: str
    payment_attempts: int
    reserved_at: datetime
    age_s: float


class _OrphanRow(msgspec.Struct, frozen=True):
    order_id: int
    status: str
    job_status: str


class _OrderToVerify(msgspec.Struct, frozen=True):
    id: int
    status: str
    total_cents: int
    payment_status: str
    charge_id: str | None


class _StaleRefundRow(msgspec.Struct, frozen=True):
    refund_id: int
    order_id: int
    attempts: int
    age_s: float
    job_status: str


class _RefundToVerify(msgspec.Struct, frozen=True):
    id: int
    order_id: int
    amount_cents: int
    status: str
    created_at: datetime

    @property
    def key(self) -> str:
        """The provider idempotency key the process_refund job asks under."""
        return refund_key(self.id, self.created_at)


class _AtProvider(msgspec.Struct, frozen=True):
    """What the provider holds for one order: its charges, and the refunds of the succeeded ones."""

    charges: list[Charge]
    refunds: list[ProviderRefund]


class _ProductId(msgspec.Struct, frozen=True):
    product_id: int


class _Recomputed(msgspec.Struct, frozen=True):
    product_id: int
    reserved_before: int
    reserved_after: int


async def reconcile(
    pool: Any,
    payments: PaymentsClient,
    *,
    reservation_ttl_s: float,
    repair: bool,
    provider_concurrency: int = PROVIDER_CONCURRENCY,
    batch_size: int = ORDER_BATCH,
    refund_pending_s: float = REFUND_PENDING_S,
) -> Report:
    """Check invariants 1-5, stale reservations and refunds pending too long; with `repair`,
    recompute drifted `reserved` figures (the only repair that is always safe). Never changes
    on_hand, never releases a reservation an order still holds, never refunds, never touches a
    refund."""
    started = datetime.now(UTC)
    async with db.transaction(pool) as conn:
        bounds = await db.many(conn, Q.find_stock_out_of_bounds, _BoundsRow)
        reserved = await db.many(conn, Q.find_reserved_drift, _ReservedRow)
        ledger = await db.many(conn, Q.find_ledger_drift, _LedgerRow)
        stale = await db.many(conn, Q.find_stale_reservations, _StaleRow, ttl_s=reservation_ttl_s)
        orphans = await db.many(conn, Q.find_orders_without_job, _OrphanRow, kind=model.PROCESS_ORDER)
        pending = await db.many(
            conn, Q.find_stale_refunds, _StaleRefundRow, age_s=refund_pending_s, kind=PROCESS_REFUND
        )
    drift = [_out_of_bounds(row) for row in bounds]
    drift += await _reserved_drift(pool, reserved, repair=repair)
    drift += [_ledger_drift(row) for row in ledger]
    drift += [_stale_reservation(row, reservation_ttl_s) for row in stale]
    drift += [_order_without_job(row) for row in orphans]
    drift += [_stale_refund(row, refund_pending_s) for row in pending]
    payment_drift, payments_check = await _check_payments(
        pool, payments, concurrency=provider_concurrency, batch_size=batch_size
    )
    drift += payment_drift
    repaired = sum(d.repaired for d in drift)
    return Report(
        started_at=started,
        finished_at=datetime.now(UTC),
        repair=repair,
        payments=payments_check,
        drift=drift,
        found=len(drift),
        repaired=repaired,
        remaining=len(drift) - repaired,
    )


def _out_of_bounds(row: _BoundsRow) -> Drift:
    return Drift(
        OUT_OF_BOUNDS,
        f"product {row.product_id}",
        f"0 <= reserved <= on_hand ({row.on_hand})",
        f"reserved {row.reserved}",
        "report only: the check constraints should make this impossible; investigate",
        product_id=row.product_id,
    )


async def _reserved_drift(pool: Any, rows: list[_ReservedRow], *, repair: bool) -> list[Drift]:
    """Invariant 2. A drifted reserved is recomputed from the orders now in `reserved` when that
    fits under on_hand: this also gives back what a final order left counted (it no longer is)."""
    fixable = [r.product_id for r in rows if r.reserved is not None and r.on_hand is not None and r.held <= r.on_hand]
    fixed = {r.product_id: r for r in await _recompute_reserved(pool, fixable)} if repair and fixable else {}
    found = [_reserved_finding(row, repair=repair, fixed=fixed.get(row.product_id)) for row in rows]
    return [d for d in found if d is not None]


def _reserved_finding(row: _ReservedRow, *, repair: bool, fixed: _Recomputed | None) -> Drift | None:
    subject, expected = f"product {row.product_id}", f"reserved {row.held}"
    if row.reserved is None or row.on_hand is None:
        action = "report only: reserved orders hold a product that has no stock row"
        return Drift(RESERVED_DRIFT, subject, expected, "no stock row", action, product_id=row.product_id)
    actual = f"reserved {row.reserved}"
    if row.held > row.on_hand:
        action = f"report only: reserved orders hold {row.held}, more than on_hand {row.on_hand}"
        return Drift(RESERVED_DRIFT, subject, expected, actual, action, product_id=row.product_id)
    if not repair:
        action = "repairable: run with --repair"
        return Drift(RESERVED_DRIFT, subject, expected, actual, action, product_id=row.product_id)
    if fixed is None:
        return None  # right already once locked: another reconciler repaired it meanwhile
    return Drift(
        RESERVED_DRIFT,
        subject,
        expected,
        f"reserved {fixed.reserved_before}",
        f"repaired: reserved set to {fixed.reserved_after}",
        repaired=True,
        product_id=row.product_id,
    )


async def _recompute_reserved(pool: Any, product_ids: list[int]) -> list[_Recomputed]:
    """Lock the stock rows in product id order, then recompute, and log each row changed. No
    order row is locked: every transaction that moves an order into or out of `reserved`
    changes these stock rows in the same transaction, so it either committed before our lock
    (we count it) or waits for it (and then applies its own change on top of our figure). The
    recompute is a statement of its own so that its snapshot is taken once the locks are held."""
    async with db.transaction(pool) as conn:
        await db.many(conn, Q.lock_inventory_rows, _ProductId, product_ids=product_ids)
        changed = await db.many(conn, Q.recompute_reserved, _Recomputed, product_ids=product_ids)
    for row in changed:
        log.warning(
            "reconcile: product %d reserved %d -> %d (recomputed from the orders in reserved)",
            row.product_id,
            row.reserved_before,
            row.reserved_after,
            extra={
                "product_id": row.product_id,
                "reserved_before": row.reserved_before,
                "reserved_after": row.reserved_after,
            },
        )
    return changed


def _ledger_drift(row: _LedgerRow) -> Drift:
    return Drift(
        LEDGER_DRIFT,
        f"product {row.product_id}",
        f"on_hand {row.ledger_total} (sum of the ledger)",
        "no stock row" if row.on_hand is None else f"on_hand {row.on_hand}",
        "report only: a human decides whether the count or the ledger is right",
        product_id=row.product_id,
    )


def _stale_reservation(row: _StaleRow, ttl_s: float) -> Drift:
    return Drift(
        STALE_RESERVATION,
        f"order {row.order_id}",
        f"payment concluded within {ttl_s:.0f}s",
        f"reserved {row.age_s:.0f}s ago, payment {row.payment_status} after {row.payment_attempts} tries",
        "report only: never released while a charge may exist",
        order_id=row.order_id,
    )


def _order_without_job(row: _OrphanRow) -> Drift:
    """Invariant 5: every order reaches a final status. One whose job an operator cancelled or
    purged (or that died) waits forever: a person decides whether it runs again or is cancelled."""
    job = "no process_order job" if row.job_status == "none" else f"its process_order job is {row.job_status}"
    return Drift(
        ORDER_WITHOUT_JOB,
        f"order {row.order_id}",
        "a ready or running process_order job",
        f"{row.status}, {job}",
        "report only: `invorder jobs retry` its job, or cancel the order (POST /api/v1/orders/{id}/cancel)",
        order_id=row.order_id,
    )


def _stale_refund(row: _StaleRefundRow, pending_s: float) -> Drift:
    """A refund pending for longer than `pending_s` (SPEC.md, "After payment"). It stays pending,
    since the provider may hold it: a person looks at the provider, or at its job."""
    if row.job_status in ("ready", "running"):
        job = f"its process_refund job is {row.job_status}"
        action = "report only: its job keeps asking under the same key; failed only on the provider's word"
    elif row.job_status == "none":
        job = "no process_refund job"
        action = "report only: no job asks for it; add a process_refund job (it asks under the same key)"
    else:
        job = f"its process_refund job is {row.job_status}"
        action = "report only: `invorder jobs retry` its process_refund job (it asks under the same key)"
    return Drift(
        STALE_REFUND,
        f"refund {row.refund_id}",
        f"succeeded or failed within {pending_s:.0f}s",
        f"pending for {row.age_s:.0f}s after {row.attempts} tries, {job}",
        action,
        order_id=row.order_id,
        refund_id=row.refund_id,
    )


async def _check_payments(
    pool: Any, payments: PaymentsClient, *, concurrency: int, batch_size: int
) -> tuple[list[Drift], PaymentsCheck]:
    """Invariant 4, for final orders only (an order in flight may be charged any moment): read
    them in batches, look up each one's charges at the provider and the refunds of its succeeded
    charges, with at most `concurrency` lookups at once, then compare its refunds with those.
    At the first lookup that gets no usable answer, stop and skip the check."""
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def ask(lookup: Callable[[], Awaitable[T]], nothing: T) -> T:
        async with gate:
            if errors:
                return nothing
            try:
                return await lookup()
            except PaymentOutcomeUnknown as exc:
                errors.append(f"payment provider unreachable: {exc or type(exc).__name__}")
            except PaymentRejected as exc:
                errors.append(f"payment provider refused the lookup: {exc}")
            return nothing

    async def at_provider(order_id: int) -> _AtProvider:
        charges = await payments.charges_for_reference(str(order_id))
        refunds = [r for c in charges if c.succeeded for r in await payments.refunds_of_charge(c.id)]
        return _AtProvider(charges, refunds)

    def skipped(checked: int, refunds: int) -> tuple[list[Drift], PaymentsCheck]:
        log.warning("reconcile: charges and refunds not checked: %s", errors[0])
        return [], PaymentsCheck(checked=False, orders=checked, error=errors[0], refunds=refunds)

    drift: list[Drift] = []
    checked, compared, after_id = 0, 0, 0
    while True:
        async with db.transaction(pool) as conn:
            batch = await db.many(conn, Q.list_orders_to_verify, _OrderToVerify, after_id=after_id, limit=batch_size)
        if not batch:
            return drift, PaymentsCheck(checked=True, orders=checked, refunds=compared)
        async with asyncio.TaskGroup() as group:
            lookups = [group.create_task(ask(partial(at_provider, order.id), _AtProvider([], []))) for order in batch]
        if errors:
            return skipped(checked, compared)
        # Read after the provider was asked: every provider refund it listed was asked for by a
        # refund committed before, so none of ours is missed for being too new.
        async with db.transaction(pool) as conn:
            ours = await db.many(conn, Q.list_refunds_to_verify, _RefundToVerify, order_ids=[o.id for o in batch])
        listed = {r.idempotency_key: r for lookup in lookups for r in lookup.result().refunds}
        # A succeeded refund missing from the lists may have succeeded after they were read:
        # asked for again under its own key before it is called missing.
        unlisted = [r for r in ours if r.status == "succeeded" and r.key not in listed]
        async with asyncio.TaskGroup() as group:
            confirmations = [
                group.create_task(ask(partial(payments.find_refund, idempotency_key=r.key), None)) for r in unlisted
            ]
        if errors:
            return skipped(checked, compared)
        found = {r.key: c.result() for r, c in zip(unlisted, confirmations, strict=True)}
        found |= listed
        by_order: dict[int, list[_RefundToVerify]] = {}
        for refund in ours:
            by_order.setdefault(refund.order_id, []).append(refund)
        for order, lookup in zip(batch, lookups, strict=True):
            provider = lookup.result()
            mine = by_order.get(order.id, [])
            keys = {r.key for r in mine}
            unrecorded = [r for r in provider.refunds if r.idempotency_key not in keys]
            drift += _charge_drift(order, provider.charges, unrecorded)
            drift += [_unrecorded_refund(order, r) for r in unrecorded]
            drift += [d for r in mine for d in _refund_drift(r, found.get(r.key))]
        checked += len(batch)
        compared += len(ours)
        after_id = batch[-1].id


def _charge_drift(order: _OrderToVerify, charges: list[Charge], unrecorded: list[ProviderRefund]) -> list[Drift]:
    """One succeeded charge of its total for a paid order (processed, or cancelled after payment:
    its refunds are compared on their own), none for any other. A charge too many that the
    provider already refunded outside invorder (`unrecorded`) needs no refund: the action says so."""
    succeeded = [c for c in charges if c.succeeded]
    subject = f"order {order.id}"
    outside: dict[str, int] = {}
    for refund in unrecorded:
        if refund.succeeded:
            outside[refund.charge_id] = outside.get(refund.charge_id, 0) + refund.amount_cents
    described = ", ".join(
        f"{c.id} {c.amount_cents}" + (f" (refunded {outside[c.id]} outside invorder)" if c.id in outside else "")
        for c in succeeded
    )
    paid = order.status == model.PROCESSED or (order.status == model.CANCELLED and order.payment_status == "succeeded")
    extra = sum(c.amount_cents for c in succeeded) - (order.total_cents if paid else 0)
    settled = extra > 0 and sum(outside.values()) >= extra
    if not paid:
        if not succeeded:
            return []
        return [
            Drift(
                CHARGE_WITHOUT_SALE,
                subject,
                f"no succeeded charge ({order.status})",
                f"succeeded: {described}",
                "charge without sale, refunded at the provider outside invorder: nothing left to give back"
                if settled
                else "charge without sale: refund needed (never automatic)",
                order_id=order.id,
            )
        ]
    expected = f"one succeeded charge of {order.total_cents}"
    if not succeeded:
        others = ", ".join(f"{c.id} {c.status}" for c in charges) or "no charge"
        recorded = f"order records payment {order.payment_status}, charge {order.charge_id or '-'}"
        what = "processed" if order.status == model.PROCESSED else "cancelled after payment"
        return [
            Drift(
                MISSING_CHARGE,
                subject,
                expected,
                f"{others} ({recorded})",
                f"report only: {what} without a charge; investigate",
                order_id=order.id,
            )
        ]
    if len(succeeded) > 1:
        return [
            Drift(
                DUPLICATE_CHARGES,
                subject,
                expected,
                f"succeeded: {described}",
                "extra charges refunded at the provider outside invorder: nothing left to give back"
                if settled
                else "refund needed for the extra charges (never automatic)",
                order_id=order.id,
            )
        ]
    if succeeded[0].amount_cents != order.total_cents:
        return [
            Drift(
                CHARGE_AMOUNT,
                subject,
                expected,
                f"succeeded: {described}",
                "report only: charged a different amount; a human settles the difference",
                order_id=order.id,
            )
        ]
    return []


def _unrecorded_refund(order: _OrderToVerify, refund: ProviderRefund) -> Drift:
    """A provider refund of one of the order's charges under a key none of its refunds has: asked
    for outside invorder (or by a refund since deleted)."""
    if refund.succeeded:
        action = "report only: money went back outside invorder; a human records or settles it"
    else:
        action = "report only: refused by the provider, nothing moved; asked for outside invorder"
    return Drift(
        UNRECORDED_REFUND,
        f"order {order.id}",
        "provider refunds only under the keys of its refunds",
        f"{refund.status}: {refund.id} {refund.amount_cents} of {refund.charge_id} under key {refund.idempotency_key}",
        action,
        order_id=order.id,
    )


def _refund_drift(refund: _RefundToVerify, provider: ProviderRefund | None) -> list[Drift]:
    """One refund against the provider's refund under its key: the same amount whatever its
    status; one that succeeded for a refund that did; none that succeeded for one that failed.
    A pending refund may be held by the provider already or not yet: either is fine."""
    subject = f"refund {refund.id}"
    at_provider = (
        "no refund under its key" if provider is None else f"{provider.status}: {provider.id} {provider.amount_cents}"
    )
    drift = []
    if provider is not None and provider.amount_cents != refund.amount_cents:
        drift.append(
            Drift(
                REFUND_AMOUNT,
                subject,
                f"a provider refund of {refund.amount_cents} ({refund.status})",
                at_provider,
                "report only: refunded a different amount; a human settles the difference",
                order_id=refund.order_id,
                refund_id=refund.id,
            )
        )
    if refund.status == "succeeded" and (provider is None or not provider.succeeded):
        reason = "" if provider is None or not provider.failure_reason else f" ({provider.failure_reason})"
        drift.append(
            Drift(
                MISSING_REFUND,
                subject,
                f"one succeeded provider refund of {refund.amount_cents}",
                at_provider + reason,
                "report only: recorded as refunded, the provider holds no such refund; investigate",
                order_id=refund.order_id,
                refund_id=refund.id,
            )
        )
    if refund.status == "failed" and provider is not None and provider.succeeded:
        drift.append(
            Drift(
                REFUND_STATUS,
                subject,
                "no succeeded provider refund (failed)",
                at_provider,
                "report only: the provider refunded what invorder records as failed; a human settles it",
                order_id=refund.order_id,
                refund_id=refund.id,
            )
        )
    return drift
