"""`invorder inventory import`: stock levels from a warehouse feed, and the report printed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from invorder.cli.common import run_with_pool

if TYPE_CHECKING:
    from invorder.catalog.stock_import import ImportReport


@click.group()
def inventory() -> None:
    """Stock levels in bulk."""


@inventory.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def inventory_import(file: Path) -> None:
    """Set on_hand from a warehouse feed FILE (CSV with header `sku,on_hand`, absolute levels).

    Good lines are applied, bad ones rejected with a reason. Exit code 0 when every line was
    applied, 2 when some were rejected."""
    from invorder.catalog.stock_import import import_stock
    from invorder.orders.waking import wake_orders_waiting_for

    report = run_with_pool(
        lambda pool: import_stock(pool, file, on_restock=wake_orders_waiting_for),
        name="invorder-stock-import",
        max_size=1,
    )
    click.echo(render_text(report))
    sys.exit(report.exit_code)


def render_text(report: ImportReport) -> str:
    """Each line's verdict as aligned columns, then a summary."""
    table = [("LINE", "SKU", "RESULT", "DETAIL")]
    table += [(str(r.line), r.sku or "-", r.result, r.detail) for r in report.lines]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    lines = ["  ".join([*(row[i].ljust(widths[i]) for i in range(3)), row[3]]) for row in table]
    lines.append(
        f"summary: {Path(report.file).name}: {len(report.lines)} line{'' if len(report.lines) == 1 else 's'},"
        f" {report.applied} applied,"
        f" {report.unchanged} unchanged, {report.rejected} rejected"
    )
    return "\n".join(lines)
