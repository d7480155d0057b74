"""What the dashboard page shows: the queue snapshot (`queue_stats`), orders finished and jobs run
per minute over the last half hour, and the products low on stock, read from the database in one call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from invorder import db
from invorder.db.queries import queries
from invorder.ops.stats import QueueStats, queue_stats
from invorder.queue.admin import ThroughputRow, job_throughput

Q = queries()

SERIES_MINUTES = 30
LIST_LIMIT = 20


class OrdersMinuteRow(msgspec.Struct, frozen=True):
    minute: datetime
    processed: int
    failed: int
    cancelled: int


class LowStockRow(msgspec.Struct, frozen=True):
    product_id: int
    name: str
    on_hand: int
    reserved: int
    available: int
    reorder_point: int | None


class DashboardSnapshot(msgspec.Struct, frozen=True):
    stats: QueueStats
    # One row per minute, oldest first, the current (partial) minute last.
    orders_per_minute: list[OrdersMinuteRow]
    jobs_per_minute: list[ThroughputRow]
    # At or below their reorder point, or out of stock: the lowest available first, LIST_LIMIT at most.
    low_stock: list[LowStockRow]


async def dashboard_snapshot(pool: Any, *, minutes: int = SERIES_MINUTES) -> DashboardSnapshot:
    """The two per-minute series (the jobs' throughput laid on the orders series' minutes, zero
    where idle) and the low-stock list in one transaction, then `queue_stats` in its own: a page
    refreshed every few seconds needs no stricter consistency than that."""
    async with db.transaction(pool) as conn:
        orders = await db.many(conn, Q.orders_finished_per_minute, OrdersMinuteRow, minutes=minutes)
        throughput = await job_throughput(conn, minutes=minutes)
        low_stock = await db.many(conn, Q.low_stock_products, LowStockRow, limit=LIST_LIMIT)
    stats = await queue_stats(pool, throughput_minutes=1, list_limit=LIST_LIMIT)
    active = {row.minute: row for row in throughput}
    jobs = [active.get(o.minute, ThroughputRow(o.minute, 0, 0, 0)) for o in orders]
    return DashboardSnapshot(stats, orders, jobs, low_stock)
