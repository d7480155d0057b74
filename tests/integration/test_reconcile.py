"""The reconciler against a real PostgreSQL and the real payment simulator: each kind of drift,
made by hand in SQL or at the provider (charges and refunds), is found; only the safe ones are
repaired, and logged."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
import pytest

from invorder import db
from invorder.db.queries import queries
from invorder.ops.reconcile import Report, reconcile
from invorder.ops.reconcile_job import RECONCILE, ReconcileJob, seed_reconcile_job
from invorder.payments.client import Charge, PaymentsClient, ProviderRefund
from invorder.payments.gateway import refund_key
from invorder.queue import Complete, Job, JobContext, enqueue
from invorder.settings import Settings
from tests.conftest import TEST_ENV
from tests.support.handmade import charge, make_order, make_product, order_total, stock
from tests.support.invariants import check_stock_invariants
from tests.support.processes import LiveProcess, free_port

Q = queries()
T = TypeVar("T")


def run_reconcile(database_url: str, payments_url: str, *, repair: bool, ttl_s: float = 900.0) -> Report:
    async def main() -> Report:
        pool = db.open_pool(database_url, min_size=1, max_size=2)
        await pool.open(wait=True)
        try:
            async with PaymentsClient(payments_url, connect_timeout_s=1, read_timeout_s=2) as payments:
                return await reconcile(pool, payments, reservation_ttl_s=ttl_s, repair=repair)
        finally:
            await pool.close()

    return asyncio.run(main())


def cli(database_url: str, payments_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **TEST_ENV, "DATABASE_URL": database_url, "INVORDER_PAYMENTS_URL": payments_url}
    return subprocess.run(
        [sys.executable, "-m", "invorder", "reconcile", *args], env=env, capture_output=True, text=True, timeout=60
    )


def kinds(report: Report) -> list[tuple[str, str]]:
    return sorted((d.kind, d.subject) for d in report.drift)


def snapshot(sql: Any) -> dict[str, Any]:
    """Everything a reconciler could touch."""
    return {
        "inventory": sql.execute("select product_id, on_hand, reserved, version from inventory order by 1").fetchall(),
        "ledger": sql.execute("select count(*), coalesce(sum(delta), 0) from stock_movements").fetchone(),
        "orders": sql.execute("select id, status, payment_status, updated_at from orders order by 1").fetchall(),
        "logs": sql.execute("select count(*) from order_logs").fetchone(),
        "refunds": sql.execute(
            "select id, status, amount_cents, attempts, updated_at from refunds order by 1"
        ).fetchall(),
    }


def paid_order(sql: Any, payments_url: str, items: dict[int, int], *, status: str = "processed") -> tuple[int, Charge]:
    """A paid order (processed, or cancelled after payment) and its charge at the simulator."""
    order_id = make_order(sql, items, status=status, payment_status="succeeded")
    made = charge(payments_url, order_id, order_total(sql, order_id), sql=sql)
    sql.execute("update orders set charge_id = %s where id = %s", (made.id, order_id))
    return order_id, made


def make_refund(
    sql: Any, order_id: int, amount_cents: int, *, status: str = "succeeded", age_s: float = 0.0, attempts: int = 0
) -> tuple[int, str]:
    """A refund of the order written in SQL, created `age_s` ago: its id and its provider key."""
    refund_id, created_at = sql.execute(
        """
        insert into refunds (order_id, client_id, amount_cents, status, attempts, created_at, finished_at)
        select id, client_id, %(amount)s, %(status)s, %(attempts)s, now() - make_interval(secs => %(age)s),
            case when %(status)s <> 'pending' then now() end
        from orders where id = %(order_id)s
        returning id, created_at
        """,
        {"order_id": order_id, "amount": amount_cents, "status": status, "attempts": attempts, "age": age_s},
    ).fetchone()
    return int(refund_id), refund_key(refund_id, created_at)


def provider_refund(payments_url: str, key: str, charge_id: str, amount_cents: int) -> ProviderRefund:
    """A refund made at the simulator directly, under `key`."""

    async def run() -> ProviderRefund:
        async with PaymentsClient(payments_url) as client:
            return await client.refund(idempotency_key=key, charge_id=charge_id, amount_cents=amount_cents)

    made = asyncio.run(run())
    assert made.succeeded, made
    return made


def test_a_clean_system_has_no_drift_and_the_cli_exits_0(
    database_url: str, sql: Any, payments_sim: LiveProcess
) -> None:
    a, b = make_product(sql, price=250), make_product(sql, price=40)
    paid, paid_charge = paid_order(sql, payments_sim.url, {a: 2, b: 1})
    _, key = make_refund(sql, paid, 250)
    provider_refund(payments_sim.url, key, paid_charge.id, 250)
    make_order(sql, {a: 1}, status="reserved", payment_status="pending")
    make_order(sql, {b: 3}, status="pending")
    make_order(sql, {b: 1}, status="cancelled")
    check_stock_invariants(sql)

    result = cli(database_url, payments_sim.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "no drift",
        "summary: 0 drift found, 0 repaired, 0 remaining; charges of 1 order and 1 refund checked with the provider",
    ]
    result = cli(database_url, payments_sim.url, "--json", "--repair")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["found"], report["remaining"], report["drift"]) == (0, 0, [])
    assert report["payments"] == {"checked": True, "orders": 1, "error": None, "refunds": 1}


def test_reserved_drift_is_reported_then_recomputed_from_the_orders_in_reserved(
    database_url: str, sql: Any, payments_sim: LiveProcess, caplog: pytest.LogCaptureFixture
) -> None:
    inflated, left_counted, overheld = make_product(sql), make_product(sql), make_product(sql, on_hand=1)
    make_order(sql, {inflated: 2}, status="reserved")
    sql.execute("update inventory set reserved = 5 where product_id = %s", (inflated,))
    # A final order whose quantities are still counted: failed without giving its reservation back.
    stuck = make_order(sql, {left_counted: 3}, status="reserved")
    sql.execute("update orders set status = 'failed', reserved_at = null where id = %s", (stuck,))
    # Reserved orders hold more than there is: recomputing would break reserved <= on_hand.
    make_order(sql, {overheld: 2}, status="reserved", with_stock=False)
    before = snapshot(sql)

    report = run_reconcile(database_url, payments_sim.url, repair=False)
    assert [(d.kind, d.subject, d.expected, d.actual, d.action) for d in report.drift] == [
        ("reserved_drift", f"product {inflated}", "reserved 2", "reserved 5", "repairable: run with --repair"),
        ("reserved_drift", f"product {left_counted}", "reserved 0", "reserved 3", "repairable: run with --repair"),
        (
            "reserved_drift",
            f"product {overheld}",
            "reserved 2",
            "reserved 0",
            "report only: reserved orders hold 2, more than on_hand 1",
        ),
    ]
    assert (report.found, report.repaired, report.remaining, report.exit_code) == (3, 0, 3, 1)
    assert snapshot(sql) == before

    with caplog.at_level(logging.WARNING, logger="invorder.ops.reconcile"):
        report = run_reconcile(database_url, payments_sim.url, repair=True)
    assert [(d.subject, d.repaired, d.action) for d in report.drift] == [
        (f"product {inflated}", True, "repaired: reserved set to 2"),
        (f"product {left_counted}", True, "repaired: reserved set to 0"),
        (f"product {overheld}", False, "report only: reserved orders hold 2, more than on_hand 1"),
    ]
    assert (report.repaired, report.remaining, report.exit_code) == (2, 1, 1)
    assert stock(sql, inflated) == (10, 2, 2)
    assert stock(sql, left_counted) == (10, 0, 2)
    assert stock(sql, overheld) == (1, 0, 1)
    repairs = [
        (r.product_id, r.reserved_before, r.reserved_after)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "invorder.ops.reconcile"
    ]
    assert repairs == [(inflated, 5, 2), (left_counted, 3, 0)]
    assert snapshot(sql)["orders"] == before["orders"] and snapshot(sql)["ledger"] == before["ledger"]

    sql.execute("update inventory set on_hand = 2 where product_id = %s", (overheld,))
    sql.execute(
        "insert into stock_movements (product_id, delta, on_hand_after, kind) values (%s, 1, 2, 'adjustment')",
        (overheld,),
    )
    report = run_reconcile(database_url, payments_sim.url, repair=True)
    assert [(d.subject, d.action) for d in report.drift] == [(f"product {overheld}", "repaired: reserved set to 2")]
    assert run_reconcile(database_url, payments_sim.url, repair=True).found == 0
    check_stock_invariants(sql)


def test_ledger_drift_is_reported_never_repaired(database_url: str, sql: Any, payments_sim: LiveProcess) -> None:
    counted, gone = make_product(sql, on_hand=10), make_product(sql, on_hand=4)
    sql.execute("update inventory set on_hand = 13 where product_id = %s", (counted,))  # no ledger row
    sql.execute("delete from inventory where product_id = %s", (gone,))  # no 'removed' movement
    before = snapshot(sql)

    result = cli(database_url, payments_sim.url, "--repair")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["KIND", "SUBJECT", "EXPECTED", "ACTUAL", "ACTION"]
    assert lines[1].split()[:4] == ["ledger_drift", "product", str(counted), "on_hand"]
    assert "on_hand 10 (sum of the ledger)" in lines[1] and "on_hand 13" in lines[1]
    assert "report only: a human decides" in lines[1]
    assert "on_hand 4 (sum of the ledger)" in lines[2] and "no stock row" in lines[2]
    assert lines[3].startswith("summary: 2 drift found, 0 repaired, 2 remaining;")
    assert snapshot(sql) == before


def test_stale_reservation_is_reported_and_never_released(
    database_url: str, sql: Any, payments_sim: LiveProcess
) -> None:
    pid = make_product(sql)
    stale = make_order(sql, {pid: 2}, status="reserved", payment_status="unknown", reserved_ago_s=3600)
    sql.execute("update orders set payment_attempts = 5 where id = %s", (stale,))
    make_order(sql, {pid: 1}, status="reserved", payment_status="pending", reserved_ago_s=10)  # young: fine
    before = snapshot(sql)

    report = run_reconcile(database_url, payments_sim.url, repair=True, ttl_s=900)
    [drift] = report.drift
    assert (drift.kind, drift.subject, drift.order_id) == ("stale_reservation", f"order {stale}", stale)
    assert drift.expected == "payment concluded within 900s"
    age = re.fullmatch(r"reserved (\d+)s ago, payment unknown after 5 tries", drift.actual)
    assert age is not None and 3600 <= int(age[1]) < 3660, drift.actual
    assert drift.action == "report only: never released while a charge may exist"
    assert not drift.repaired and report.exit_code == 1
    assert snapshot(sql) == before
    assert stock(sql, pid) == (10, 3, 1)


def test_an_order_whose_job_was_cancelled_or_lost_is_reported(
    database_url: str, sql: Any, payments_sim: LiveProcess
) -> None:
    pid = make_product(sql)
    moving = make_order(sql, {pid: 1})  # its job is ready: fine
    cancelled = make_order(sql, {pid: 1}, status="reserved")
    sql.execute("update jobs set status = 'cancelled' where payload ->> 'order_id' = %s", (str(cancelled),))
    lost = make_order(sql, {pid: 2}, with_job=False)
    make_order(sql, {pid: 1}, status="failed", with_job=False)  # final: needs no job
    before = snapshot(sql)

    report = run_reconcile(database_url, payments_sim.url, repair=True)
    found = {d.order_id: (d.kind, d.actual, d.repaired) for d in report.drift}
    assert found == {
        cancelled: ("order_without_job", "reserved, its process_order job is cancelled", False),
        lost: ("order_without_job", "pending, no process_order job", False),
    }
    assert moving not in found and report.exit_code == 1
    assert snapshot(sql) == before


def test_payment_drift_is_reported_refunds_never_made(database_url: str, sql: Any, payments_sim: LiveProcess) -> None:
    pid = make_product(sql, price=300, on_hand=50)
    unpaid = make_order(sql, {pid: 1}, status="processed", payment_status="succeeded")
    refund = make_order(sql, {pid: 2}, status="failed", payment_status="not_charged")
    charge(payments_sim.url, refund, order_total(sql, refund), sql=sql)
    twice = make_order(sql, {pid: 1}, status="processed", payment_status="succeeded")
    charge(payments_sim.url, twice, 300, sql=sql)
    charge(payments_sim.url, twice, 300, key="some-other-key")
    wrong = make_order(sql, {pid: 3}, status="processed", payment_status="succeeded")
    charge(payments_sim.url, wrong, 800, sql=sql)
    good = make_order(sql, {pid: 1}, status="processed", payment_status="succeeded")
    charge(payments_sim.url, good, 300, sql=sql)
    # Not looked up: in flight (a charge is expected soon), or never tried.
    in_flight = make_order(sql, {pid: 1}, status="reserved", payment_status="pending")
    charge(payments_sim.url, in_flight, 300, sql=sql)
    never_tried = make_order(sql, {pid: 1}, status="cancelled")
    charge(payments_sim.url, never_tried, 300, sql=sql)
    before = snapshot(sql)

    report = run_reconcile(database_url, payments_sim.url, repair=True)
    found = {d.order_id: (d.kind, d.expected, d.action) for d in report.drift}
    assert found == {
        unpaid: (
            "missing_charge",
            "one succeeded charge of 300",
            "report only: processed without a charge; investigate",
        ),
        refund: (
            "charge_without_sale",
            "no succeeded charge (failed)",
            "charge without sale: refund needed (never automatic)",
        ),
        twice: (
            "duplicate_charges",
            "one succeeded charge of 300",
            "refund needed for the extra charges (never automatic)",
        ),
        wrong: (
            "charge_amount_differs",
            "one succeeded charge of 900",
            "report only: charged a different amount; a human settles the difference",
        ),
    }
    assert report.payments.checked and report.payments.orders == 5
    assert (report.repaired, report.remaining) == (0, 4)
    assert snapshot(sql) == before


def test_unreachable_provider_skips_the_charge_check_and_says_so(
    database_url: str, sql: Any, payments_sim: LiveProcess
) -> None:
    pid = make_product(sql)
    make_order(sql, {pid: 1}, status="processed", payment_status="succeeded")  # needs a lookup
    sql.execute("update inventory set reserved = 1 where product_id = %s", (pid,))
    nowhere = f"http://127.0.0.1:{free_port()}"

    report = run_reconcile(database_url, nowhere, repair=False)
    assert kinds(report) == [("reserved_drift", f"product {pid}")]  # the other checks still ran
    assert not report.payments.checked
    assert report.payments.error is not None and report.payments.error.startswith("payment provider unreachable")

    result = cli(database_url, nowhere, "--repair")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "repaired: reserved set to 0" in result.stdout
    assert "charges and refunds NOT checked (payment provider unreachable:" in result.stdout.splitlines()[-1]


def test_refunds_are_compared_with_the_providers_under_their_keys(
    database_url: str, sql: Any, payments_sim: LiveProcess
) -> None:
    pid = make_product(sql, price=300, on_hand=50)
    url = payments_sim.url
    good, good_charge = paid_order(sql, url, {pid: 2})
    _, key = make_refund(sql, good, 100)
    provider_refund(url, key, good_charge.id, 100)
    make_refund(sql, good, 50, status="failed")  # refused at once: the provider holds nothing
    _, key = make_refund(sql, good, 200, status="pending")  # in flight: the provider has it already
    provider_refund(url, key, good_charge.id, 200)
    make_refund(sql, good, 10, status="pending")  # in flight: the provider has it not yet
    # Cancelled after payment, refunded in full: one charge and one refund, as it should be.
    cancelled, cancelled_charge = paid_order(sql, url, {pid: 1}, status="cancelled")
    _, key = make_refund(sql, cancelled, 300)
    provider_refund(url, key, cancelled_charge.id, 300)

    by_hand, by_hand_charge = paid_order(sql, url, {pid: 1})
    stray = provider_refund(url, "refunded-by-hand", by_hand_charge.id, 50)
    missing, _ = paid_order(sql, url, {pid: 1})
    missing_refund, _ = make_refund(sql, missing, 100)
    wrong, wrong_charge = paid_order(sql, url, {pid: 1})
    wrong_refund, key = make_refund(sql, wrong, 100)
    other = provider_refund(url, key, wrong_charge.id, 120)
    made, made_charge = paid_order(sql, url, {pid: 1})
    failed_refund, key = make_refund(sql, made, 100, status="failed")
    unwanted = provider_refund(url, key, made_charge.id, 100)
    before = snapshot(sql)

    report = run_reconcile(database_url, url, repair=True)
    found = {(d.kind, d.subject): (d.expected, d.actual, d.action, d.order_id, d.refund_id) for d in report.drift}
    assert found == {
        ("unrecorded_refund", f"order {by_hand}"): (
            "provider refunds only under the keys of its refunds",
            f"succeeded: {stray.id} 50 of {by_hand_charge.id} under key refunded-by-hand",
            "report only: money went back outside invorder; a human records or settles it",
            by_hand,
            None,
        ),
        ("missing_provider_refund", f"refund {missing_refund}"): (
            "one succeeded provider refund of 100",
            "no refund under its key",
            "report only: recorded as refunded, the provider holds no such refund; investigate",
            missing,
            missing_refund,
        ),
        ("refund_amount_differs", f"refund {wrong_refund}"): (
            "a provider refund of 100 (succeeded)",
            f"succeeded: {other.id} 120",
            "report only: refunded a different amount; a human settles the difference",
            wrong,
            wrong_refund,
        ),
        ("refund_status_differs", f"refund {failed_refund}"): (
            "no succeeded provider refund (failed)",
            f"succeeded: {unwanted.id} 100",
            "report only: the provider refunded what invorder records as failed; a human settles it",
            made,
            failed_refund,
        ),
    }
    assert report.payments.checked and (report.payments.orders, report.payments.refunds) == (6, 8)
    assert (report.repaired, report.remaining, report.exit_code) == (0, 4, 1)
    assert snapshot(sql) == before


def test_a_charge_refunded_outside_invorder_is_not_called_a_refund_needed(
    database_url: str, sql: Any, payments_sim: LiveProcess
) -> None:
    pid = make_product(sql, price=300, on_hand=50)
    url = payments_sim.url
    settled = make_order(sql, {pid: 1}, status="failed", payment_status="not_charged")
    settled_charge = charge(url, settled, 300, sql=sql)
    provider_refund(url, "refunded-by-hand-1", settled_charge.id, 300)
    halfway = make_order(sql, {pid: 1}, status="failed", payment_status="not_charged")
    halfway_charge = charge(url, halfway, 300, sql=sql)
    provider_refund(url, "refunded-by-hand-2", halfway_charge.id, 100)
    twice, twice_charge = paid_order(sql, url, {pid: 1})
    extra = charge(url, twice, 300, key="some-other-key")
    provider_refund(url, "refunded-by-hand-3", extra.id, 300)

    report = run_reconcile(database_url, url, repair=False)
    found = {(d.kind, d.order_id): (d.actual, d.action) for d in report.drift}
    assert found.pop(("unrecorded_refund", settled))[0].endswith("under key refunded-by-hand-1")
    assert found.pop(("unrecorded_refund", halfway))[0].endswith("under key refunded-by-hand-2")
    assert found.pop(("unrecorded_refund", twice))[0].endswith("under key refunded-by-hand-3")
    assert found == {
        ("charge_without_sale", settled): (
            f"succeeded: {settled_charge.id} 300 (refunded 300 outside invorder)",
            "charge without sale, refunded at the provider outside invorder: nothing left to give back",
        ),
        ("charge_without_sale", halfway): (
            f"succeeded: {halfway_charge.id} 300 (refunded 100 outside invorder)",
            "charge without sale: refund needed (never automatic)",
        ),
        ("duplicate_charges", twice): (
            f"succeeded: {twice_charge.id} 300, {extra.id} 300 (refunded 300 outside invorder)",
            "extra charges refunded at the provider outside invorder: nothing left to give back",
        ),
    }


def test_a_paid_order_cancelled_keeps_its_charge_and_is_not_a_charge_without_sale(
    database_url: str, sql: Any, payments_sim: LiveProcess
) -> None:
    pid = make_product(sql, price=300, on_hand=50)
    cancelled, cancelled_charge = paid_order(sql, payments_sim.url, {pid: 2}, status="cancelled")
    _, key = make_refund(sql, cancelled, 600, status="pending")  # its refund, not yet at the provider
    uncharged = make_order(sql, {pid: 1}, status="cancelled", payment_status="succeeded")

    report = run_reconcile(database_url, payments_sim.url, repair=False)
    assert [(d.kind, d.order_id, d.expected, d.action) for d in report.drift] == [
        (
            "missing_charge",
            uncharged,
            "one succeeded charge of 300",
            "report only: cancelled after payment without a charge; investigate",
        )
    ]
    provider_refund(payments_sim.url, key, cancelled_charge.id, 600)
    sql.execute("update refunds set status = 'succeeded', finished_at = now() where order_id = %s", (cancelled,))
    report = run_reconcile(database_url, payments_sim.url, repair=False)
    assert [d.order_id for d in report.drift] == [uncharged]


def test_refunds_pending_for_more_than_an_hour_are_listed_and_left_pending(
    database_url: str, sql: Any, payments_sim: LiveProcess
) -> None:
    pid = make_product(sql, price=300, on_hand=50)
    order, _ = paid_order(sql, payments_sim.url, {pid: 3})
    asking, _ = make_refund(sql, order, 100, status="pending", age_s=7200, attempts=6)
    dead, _ = make_refund(sql, order, 100, status="pending", age_s=4000, attempts=25)
    lost, _ = make_refund(sql, order, 100, status="pending", age_s=3700)
    make_refund(sql, order, 100, status="pending", age_s=3000)  # young enough
    for refund_id, status in ((asking, "ready"), (dead, "dead")):
        sql.execute(
            "insert into jobs (kind, payload, status, run_after)"
            " values ('process_refund', %s, %s, now() + interval '1 day')",
            (f'{{"refund_id": {refund_id}}}', status),
        )
    before = snapshot(sql)

    report = run_reconcile(database_url, payments_sim.url, repair=True)
    assert [(d.kind, d.subject, d.order_id, d.refund_id) for d in report.drift] == [
        ("stale_refund", f"refund {r}", order, r) for r in (asking, dead, lost)
    ]
    assert {d.expected for d in report.drift} == {"succeeded or failed within 3600s"}
    actual = [re.fullmatch(r"pending for (\d+)s after (\d+) tries, (.*)", d.actual) for d in report.drift]
    assert [(int(m[2]), m[3]) for m in actual if m] == [
        (6, "its process_refund job is ready"),
        (25, "its process_refund job is dead"),
        (0, "no process_refund job"),
    ]
    assert [int(m[1]) // 100 for m in actual if m] == [72, 40, 37]
    assert [d.action for d in report.drift] == [
        "report only: its job keeps asking under the same key; failed only on the provider's word",
        "report only: `invorder jobs retry` its process_refund job (it asks under the same key)",
        "report only: no job asks for it; add a process_refund job (it asks under the same key)",
    ]
    assert (report.repaired, report.remaining, report.exit_code) == (0, 3, 1)
    assert snapshot(sql) == before

    result = cli(database_url, payments_sim.url)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[:3] == ["stale_refund", "refund", str(asking)]
    assert lines[-1] == (
        "summary: 3 drift found, 0 repaired, 3 remaining; charges of 1 order and 4 refunds checked with the provider"
    )


# -- the periodic job, in-process ---------------------------------------------------------------


def with_pool(database_url: str, body: Callable[[Any], Awaitable[T]]) -> T:
    async def main() -> T:
        pool = db.open_pool(database_url, min_size=1, max_size=12)
        await pool.open(wait=True)
        try:
            return await body(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


def reconcile_jobs(sql: Any) -> list[tuple[int, str, float]]:
    """(id, status, seconds until run_after) of every reconcile job."""
    return sql.execute(
        "select id, status, extract(epoch from run_after - now())::float8"
        " from jobs where kind = 'reconcile' order by id"
    ).fetchall()


def test_workers_starting_at_once_seed_exactly_one_reconcile_job(
    database_url: str, settings: Settings, sql: Any
) -> None:
    every_5_min = msgspec.structs.replace(settings, reconcile_interval_s=300.0)

    async def body(pool: Any) -> None:
        await asyncio.gather(*[seed_reconcile_job(pool, every_5_min) for _ in range(10)])
        await seed_reconcile_job(pool, every_5_min)

    with_pool(database_url, body)
    [(_, status, due_in)] = reconcile_jobs(sql)
    assert status == "ready" and due_in <= 0  # the first run is due at once


def test_a_run_schedules_its_successor_once_even_when_run_twice(
    database_url: str, settings: Settings, sql: Any
) -> None:
    hourly = msgspec.structs.replace(settings, reconcile_interval_s=3600.0)
    pid = make_product(sql)
    sql.execute("update inventory set reserved = 2 where product_id = %s", (pid,))

    async def body(pool: Any) -> None:
        await seed_reconcile_job(pool, hourly)
        async with db.transaction(pool) as conn:
            [job] = await db.many(conn, Q.claim_jobs, Job, kinds=[RECONCILE], limit=5, owner="me", lease_s=30)
        await seed_reconcile_job(pool, hourly)  # a worker starting now sees the running one
        async with PaymentsClient(f"http://127.0.0.1:{free_port()}") as payments:
            handler = ReconcileJob(hourly, payments)
            context = JobContext(pool=pool, worker_id="me")
            # Run twice, as after a crash between its commit and its completion.
            assert isinstance(await handler(job, context), Complete)
            assert isinstance(await handler(job, context), Complete)

    with_pool(database_url, body)
    jobs = reconcile_jobs(sql)
    assert [status for _, status, _ in jobs] == ["running", "ready"]  # the one that ran, and one successor
    assert 3590 < jobs[1][2] <= 3600
    assert stock(sql, pid) == (10, 0, 2)  # the run repaired the drift


def test_interval_0_schedules_nothing(database_url: str, settings: Settings, sql: Any) -> None:
    assert settings.reconcile_interval_s == 0  # as the tests' environment sets it

    async def body(pool: Any) -> None:
        await seed_reconcile_job(pool, settings)
        async with db.transaction(pool) as conn:
            job_id = await enqueue(conn, RECONCILE, {})
            [job] = await db.many(conn, Q.claim_jobs, Job, kinds=[RECONCILE], limit=5, owner="me", lease_s=30)
        assert job.id == job_id
        async with PaymentsClient(f"http://127.0.0.1:{free_port()}") as payments:
            await ReconcileJob(settings, payments)(job, JobContext(pool=pool, worker_id="me"))

    with_pool(database_url, body)
    assert [status for _, status, _ in reconcile_jobs(sql)] == ["running"]
