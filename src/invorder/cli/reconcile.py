"""`invorder reconcile`: stock, orders, charges and refunds checked, safe drift repaired, the report printed."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click
import msgspec

from invorder.cli.common import json_option, run_with_pool, setup

if TYPE_CHECKING:
    from invorder.ops.reconcile import Report


@click.command("reconcile")
@click.option(
    "--repair/--no-repair",
    default=False,
    show_default=True,
    help="Fix what is safe to fix (a drifted reserved figure); everything else is only reported.",
)
@json_option
def reconcile_command(repair: bool, as_json: bool) -> None:
    """Check stock, orders, refunds and the payment provider's charges and refunds against
    invariants 1-5 (README), and list refunds pending for more than an hour.

    Exit code 0 when no drift remains, 1 when some does."""
    from invorder.ops.reconcile import PROVIDER_CONCURRENCY, reconcile
    from invorder.payments.client import payments_client

    settings = setup()

    async def check(pool: Any) -> Report:
        async with payments_client(settings, max_connections=PROVIDER_CONCURRENCY) as payments:
            return await reconcile(pool, payments, reservation_ttl_s=settings.reservation_ttl_s, repair=repair)

    report = run_with_pool(check, settings=settings, name="invorder-reconcile")
    click.echo(render_json(report) if as_json else render_text(report))
    sys.exit(report.exit_code)


def render_text(report: Report) -> str:
    """The report as aligned columns and a summary line."""
    lines = []
    if report.drift:
        table = [("KIND", "SUBJECT", "EXPECTED", "ACTUAL", "ACTION")]
        table += [(d.kind, d.subject, d.expected, d.actual, d.action) for d in report.drift]
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        lines += ["  ".join([*(row[i].ljust(widths[i]) for i in range(4)), row[4]]) for row in table]
    else:
        lines.append("no drift")
    if report.payments.checked:
        orders, refunds = report.payments.orders, report.payments.refunds
        payments = (
            f"charges of {orders} order{'' if orders == 1 else 's'}"
            f" and {refunds} refund{'' if refunds == 1 else 's'} checked with the provider"
        )
    else:
        payments = f"charges and refunds NOT checked ({report.payments.error})"
    lines.append(
        f"summary: {report.found} drift found, {report.repaired} repaired, {report.remaining} remaining; {payments}"
    )
    return "\n".join(lines)


def render_json(report: Report) -> str:
    return msgspec.json.format(msgspec.json.encode(report), indent=2).decode()
