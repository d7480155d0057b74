"""The stock import against a real PostgreSQL: good lines applied with their ledger rows, bad
lines rejected with a reason and nothing else about them changed, restocks waking waiting orders."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from invorder import db
from invorder.catalog.stock_import import ImportReport, import_stock
from invorder.orders.waking import wake_orders_waiting_for
from tests.conftest import TEST_ENV
from tests.support.handmade import make_order, make_product, stock
from tests.support.invariants import check_stock_invariants


def run_import(database_url: str, path: Path) -> ImportReport:

    async def main() -> ImportReport:
        pool = db.open_pool(database_url, min_size=1, max_size=1)
        await pool.open(wait=True)
        try:
            return await import_stock(pool, path, on_restock=wake_orders_waiting_for)
        finally:
            await pool.close()

    return asyncio.run(main())


def feed(tmp_path: Path, text: str, name: str = "feed.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def verdicts(report: ImportReport) -> list[tuple[int, str | None, str, str]]:
    return [(r.line, r.sku, r.result, r.detail) for r in report.lines]


def movements(sql: Any, product_id: int) -> list[tuple[int, int, str, str]]:
    return sql.execute(
        "select delta, on_hand_after, kind, reason from stock_movements where product_id = %s order by id",
        (product_id,),
    ).fetchall()


def test_a_good_file_sets_on_hand_and_writes_one_ledger_row_per_changed_product(
    database_url: str, sql: Any, tmp_path: Path
) -> None:
    up, down, same = (make_product(sql, sku=s, on_hand=10) for s in ("A-1", "A-2", "A-3"))
    path = feed(tmp_path, "sku,on_hand\r\nA-1,25\r\nA-2,4\r\nA-3,10\r\n", name="warehouse-2026-11-25.csv")

    env = {**os.environ, **TEST_ENV, "DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "-m", "invorder", "inventory", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split() for line in result.stdout.splitlines()] == [
        ["LINE", "SKU", "RESULT", "DETAIL"],
        ["2", "A-1", "applied", "on_hand", "10", "->", "25"],
        ["3", "A-2", "applied", "on_hand", "10", "->", "4"],
        ["4", "A-3", "unchanged", "on_hand", "10"],
        ["summary:", "warehouse-2026-11-25.csv:", "3", "lines,", "2", "applied,", "1", "unchanged,", "0", "rejected"],
    ]
    assert stock(sql, up) == (25, 0, 2)
    assert stock(sql, down) == (4, 0, 2)
    assert stock(sql, same) == (10, 0, 1)  # untouched: no version bump, no ledger row
    reason = "stock import warehouse-2026-11-25.csv"
    assert movements(sql, up)[1:] == [(15, 25, "import", reason)]
    assert movements(sql, down)[1:] == [(-6, 4, "import", reason)]
    assert movements(sql, same)[1:] == []
    check_stock_invariants(sql)


def test_bad_lines_are_rejected_with_reasons_and_good_lines_still_applied(
    database_url: str, sql: Any, tmp_path: Path
) -> None:
    good = make_product(sql, sku="GOOD", on_hand=5)
    for sku in ("NEG", "NAN", "DUP", "BAD"):
        make_product(sql, sku=sku, on_hand=5)
    held = make_product(sql, sku="HELD", on_hand=10)
    make_order(sql, {held: 4}, status="reserved")
    deleted = make_product(sql, sku="GONE", on_hand=5)
    sql.execute("update products set deleted_at = now() where id = %s", (deleted,))
    no_stock = make_product(sql, sku="NOSTOCK", on_hand=None)
    before = sql.execute("select product_id, on_hand, reserved, version from inventory order by 1").fetchall()
    ledger_before = sql.execute("select count(*) from stock_movements").fetchone()

    path = feed(
        tmp_path,
        "sku,on_hand\n"
        "GOOD,7\n"
        "UNKNOWN,3\n"
        "NEG,-2\n"
        "NAN,twelve\n"
        "NAN,1.5\n"
        "DUP,8\n"
        "HELD,3\n"
        "GONE,9\n"
        "NOSTOCK,9\n"
        "\n"
        "DUP,9\n"
        "MISSING,\n"
        "BAD,x\n"
        "BAD,3\n"
        ",4\n"
        "A,1,extra\n"
        '"OPEN,4\n',
    )
    report = run_import(database_url, path)
    assert verdicts(report) == [
        (2, "GOOD", "applied", "on_hand 5 -> 7"),
        (3, "UNKNOWN", "rejected", "unknown sku"),
        (4, "NEG", "rejected", "on_hand is negative: -2"),
        (5, "NAN", "rejected", "on_hand is not a whole number: 'twelve'"),
        (6, "NAN", "rejected", "on_hand is not a whole number: '1.5'"),
        (7, "DUP", "rejected", "duplicate sku in the file (lines 7, 12)"),
        (8, "HELD", "rejected", "on_hand 3 is below the 4 units reserved for orders"),
        (9, "GONE", "rejected", "the product with this sku was deleted"),
        (10, "NOSTOCK", "rejected", f"product {no_stock} has no inventory record"),
        (12, "DUP", "rejected", "duplicate sku in the file (lines 7, 12)"),
        (13, "MISSING", "rejected", "missing on_hand"),
        (14, "BAD", "rejected", "on_hand is not a whole number: 'x'"),
        (15, "BAD", "rejected", "duplicate sku in the file (lines 14, 15)"),  # a malformed line counts too
        (16, None, "rejected", "missing sku"),
        (17, None, "rejected", "malformed line: 3 fields, expected 2 (sku,on_hand)"),
        (18, None, "rejected", "malformed line: bad CSV quoting"),
    ]
    assert (report.applied, report.unchanged, report.rejected, report.exit_code) == (1, 0, 15, 2)
    after = sql.execute("select product_id, on_hand, reserved, version from inventory order by 1").fetchall()
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert changed == [((good, 5, 0, 1), (good, 7, 0, 2))]
    assert sql.execute("select count(*) from stock_movements").fetchone()[0] == ledger_before[0] + 1
    check_stock_invariants(sql)


def test_on_hand_down_to_exactly_what_is_reserved_is_applied(database_url: str, sql: Any, tmp_path: Path) -> None:
    held = make_product(sql, sku="HELD", on_hand=10)
    make_order(sql, {held: 4}, status="reserved")
    report = run_import(database_url, feed(tmp_path, "sku,on_hand\nHELD,4\n"))
    assert verdicts(report) == [(2, "HELD", "applied", "on_hand 10 -> 4")]
    assert report.lines[0].reserved == 4
    assert stock(sql, held) == (4, 4, 2)
    check_stock_invariants(sql)


def test_a_wrong_header_rejects_the_whole_file(database_url: str, sql: Any, tmp_path: Path) -> None:
    pid = make_product(sql, sku="A-1", on_hand=10)
    for text in ("product,qty\nA-1,20\n", "on_hand,sku\n20,A-1\n", "A-1,20\n", ""):
        report = run_import(database_url, feed(tmp_path, text))
        [line] = report.lines
        assert (line.line, line.result) == (1, "rejected")
        assert line.detail.startswith("header must be 'sku,on_hand', got ")
        assert line.detail.endswith(": nothing imported")
        assert report.exit_code == 2
    assert stock(sql, pid) == (10, 0, 1)
    assert len(movements(sql, pid)) == 1


def test_header_with_a_byte_order_mark_and_spaces_is_accepted(database_url: str, sql: Any, tmp_path: Path) -> None:
    pid = make_product(sql, sku="A-1", on_hand=10)
    report = run_import(database_url, feed(tmp_path, "\ufeffSKU , On_Hand\n A-1 , 12 \n"))
    assert verdicts(report) == [(2, "A-1", "applied", "on_hand 10 -> 12")]
    assert stock(sql, pid) == (12, 0, 2)


def test_a_restock_wakes_the_orders_waiting_for_it_and_a_cut_does_not(
    database_url: str, sql: Any, tmp_path: Path
) -> None:
    grows, shrinks = make_product(sql, sku="GROWS", on_hand=1), make_product(sql, sku="SHRINKS", on_hand=5)
    for pid in (grows, shrinks):
        order_id = make_order(sql, {pid: 3}, with_job=False)
        sql.execute(
            "insert into jobs (kind, payload, run_after) values ('process_order', %s, now() + interval '1 hour')",
            (f'{{"order_id": {order_id}}}',),
        )
    report = run_import(database_url, feed(tmp_path, "sku,on_hand\nGROWS,6\nSHRINKS,4\n"))
    assert report.exit_code == 0
    due = sql.execute(
        """
        select oi.product_id, j.run_after <= now()
        from jobs as j
        inner join order_items as oi on oi.order_id = (j.payload ->> 'order_id')::bigint
        order by 1
        """
    ).fetchall()
    assert due == [(grows, True), (shrinks, False)]
