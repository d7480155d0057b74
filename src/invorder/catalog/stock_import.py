"""Stock import from a warehouse feed (`sku,on_hand` CSV, absolute levels): streamed with COPY
into a staging table, applied in one set-based statement, line by line verdicts."""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from invorder import db
from invorder.audit import SYSTEM
from invorder.catalog.inventory import RestockHook
from invorder.db.queries import queries

log = logging.getLogger(__name__)
Q = queries()

HEADER = ("sku", "on_hand")
MAX_ON_HAND = 2**63 - 1  # bigint
_WHOLE = re.compile(r"[0-9]+")
_SIGNED_WHOLE = re.compile(r"-[0-9]+")

APPLIED, UNCHANGED, REJECTED = "applied", "unchanged", "rejected"


class LineResult(msgspec.Struct, frozen=True):
    """What became of one line of the file."""

    line: int
    sku: str | None
    result: str  # applied | unchanged | rejected
    detail: str
    product_id: int | None = None
    on_hand_before: int | None = None
    on_hand_after: int | None = None
    reserved: int | None = None  # what orders held when the line was applied or refused


class ImportReport(msgspec.Struct, frozen=True):
    file: str
    lines: list[LineResult]
    applied: int
    unchanged: int
    rejected: int

    @property
    def exit_code(self) -> int:
        """0 when every line was applied, 2 when some were rejected."""
        return 2 if self.rejected else 0


@dataclass(frozen=True, slots=True)
class _Good:
    line: int
    sku: str
    on_hand: int


class _AppliedRow(msgspec.Struct, frozen=True):
    line: int
    sku: str
    product_id: int | None
    on_hand: int
    on_hand_before: int | None
    reserved: int | None
    sku_lines: list[int]
    outcome: str


def read_feed(path: Path) -> Iterator[_Good | LineResult]:
    """The lines of the file in order, each parsed (`_Good`) or rejected for its form; blank
    lines are skipped. A file whose first line is not the `sku,on_hand` header is rejected
    whole, as line 1."""
    with path.open("rb") as feed:
        first = feed.readline()
        header = _fields(first.decode("utf-8-sig", errors="replace"))
        if header is None or tuple(f.strip().lower() for f in header) != HEADER:
            shown = first.decode("utf-8", errors="replace").strip()
            yield LineResult(1, None, REJECTED, f"header must be 'sku,on_hand', got {shown!r}: nothing imported")
            return
        for number, raw in enumerate(feed, start=2):
            if raw.strip():
                yield _parse_line(number, raw)


def _fields(text: str) -> list[str] | None:
    try:
        return next(csv.reader([text.rstrip("\r\n")], strict=True), [])
    except csv.Error:
        return None


def _parse_line(number: int, raw: bytes) -> _Good | LineResult:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return LineResult(number, None, REJECTED, "malformed line: not UTF-8")
    if "\x00" in text:
        return LineResult(number, None, REJECTED, "malformed line: NUL byte")
    fields = _fields(text)
    if fields is None:
        return LineResult(number, None, REJECTED, "malformed line: bad CSV quoting")
    if len(fields) != len(HEADER):
        return LineResult(number, None, REJECTED, f"malformed line: {len(fields)} fields, expected 2 (sku,on_hand)")
    sku, value = fields[0].strip(), fields[1].strip()
    if not sku:
        return LineResult(number, None, REJECTED, "missing sku")
    if not value:
        return LineResult(number, sku, REJECTED, "missing on_hand")
    if _SIGNED_WHOLE.fullmatch(value):
        return LineResult(number, sku, REJECTED, f"on_hand is negative: {value}")
    if not _WHOLE.fullmatch(value):
        return LineResult(number, sku, REJECTED, f"on_hand is not a whole number: {value!r}")
    on_hand = int(value)
    if on_hand > MAX_ON_HAND:
        return LineResult(number, sku, REJECTED, f"on_hand is too large: {value}")
    return _Good(number, sku, on_hand)


def _verdict(row: _AppliedRow) -> LineResult:
    def rejected(detail: str) -> LineResult:
        return LineResult(row.line, row.sku, REJECTED, detail, product_id=row.product_id, reserved=row.reserved)

    match row.outcome:
        case "applied":
            return LineResult(
                row.line,
                row.sku,
                APPLIED,
                f"on_hand {row.on_hand_before} -> {row.on_hand}",
                row.product_id,
                row.on_hand_before,
                row.on_hand,
                row.reserved,
            )
        case "unchanged":
            return LineResult(
                row.line,
                row.sku,
                UNCHANGED,
                f"on_hand {row.on_hand}",
                row.product_id,
                row.on_hand,
                row.on_hand,
                row.reserved,
            )
        case "duplicate_sku":
            return rejected(f"duplicate sku in the file (lines {', '.join(map(str, sorted(row.sku_lines)))})")
        case "deleted_sku":
            return rejected("the product with this sku was deleted")
        case "unknown_sku":
            return rejected("unknown sku")
        case "no_inventory":
            return rejected(f"product {row.product_id} has no inventory record")
        case "below_reserved":
            return rejected(f"on_hand {row.on_hand} is below the {row.reserved} units reserved for orders")
    raise ValueError(f"unknown outcome {row.outcome!r} for line {row.line}")  # pragma: no cover


async def import_stock(pool: Any, path: Path, *, on_restock: RestockHook) -> ImportReport:
    """Set on_hand from the feed at `path`, in one transaction: lines are copied into a staging
    table as they are read (a malformed one without its level), then one statement locks, checks
    and applies the well-formed ones and writes the ledger. Products whose stock grew run
    `on_restock` (waiting orders wake)."""
    results: list[LineResult] = []
    async with db.transaction(pool) as conn:
        await db.execute(conn, Q.create_stock_import_table)
        async with db.copy_in(conn, Q.copy_stock_import_lines) as copy:
            for item in read_feed(path):
                if isinstance(item, _Good):
                    await copy.write_row((item.line, item.sku, item.on_hand))
                else:
                    results.append(item)
                    if item.sku:  # staged without a level, to count towards duplicate skus
                        await copy.write_row((item.line, item.sku, None))
        rows = await db.many(conn, Q.apply_stock_import, _AppliedRow, reason=f"stock import {path.name}", actor=SYSTEM)
        results += [_verdict(row) for row in rows]
        for row in rows:
            grew = row.outcome == "applied" and row.on_hand > (row.on_hand_before or 0)
            if grew and row.product_id is not None:
                await on_restock(conn, row.product_id)
    results.sort(key=lambda r: r.line)
    report = ImportReport(
        file=str(path),
        lines=results,
        applied=sum(r.result == APPLIED for r in results),
        unchanged=sum(r.result == UNCHANGED for r in results),
        rejected=sum(r.result == REJECTED for r in results),
    )
    log.info(
        "stock import %s: %d applied, %d unchanged, %d rejected",
        path.name,
        report.applied,
        report.unchanged,
        report.rejected,
        extra={"file": str(path)},
    )
    return report
