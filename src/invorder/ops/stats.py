"""The operators' figures across domains: the queue's, orders by status, webhook deliveries,
refunds and orders to ship, as `invorder jobs stats`, `GET /ops/stats`, `/metrics` and the
dashboard show them."""

from __future__ import annotations

from typing import Any

import msgspec

from invorder import db
from invorder.db.queries import queries
from invorder.queue.admin import (
    FailureRow,
    KindLimitRow,
    PausedKindRow,
    QueueDepthRow,
    StuckJobRow,
    ThroughputRow,
    WorkerRow,
    job_throughput,
    queue_figures,
    recent_failures,
    stuck_jobs,
)

Q = queries()


class OrderPipelineRow(msgspec.Struct, frozen=True):
    """One status: orders in it now (pending and reserved only: final ones are not counted,
    that would scan every order ever placed), the oldest of those, and how many reached it in
    the last hour (final statuses only)."""

    status: str
    in_flight: int
    oldest_age_s: float
    finished_last_hour: int


class WebhookStatsRow(msgspec.Struct, frozen=True):
    """Webhook deliveries: jobs waiting or in flight, attempts that delivered or failed in the
    last hour, and endpoints enabled and disabled (by a 410, the retry window or an operator)."""

    pending: int
    delivered_last_hour: int
    failed_last_hour: int
    enabled_endpoints: int
    disabled_endpoints: int


class RefundStatsRow(msgspec.Struct, frozen=True):
    """Refunds: pending now and how long the oldest of them has waited for the provider, and how
    many succeeded or failed in the last hour, with the amount the succeeded ones gave back."""

    pending: int
    oldest_pending_age_s: float
    succeeded_last_hour: int
    failed_last_hour: int
    refunded_cents_last_hour: int


class ToShipRow(msgspec.Struct, frozen=True):
    """Processed orders with units left to ship: none shipped yet (`unfulfilled`), some shipped
    (`partially_fulfilled`), and how long the oldest of them has waited since it was paid."""

    unfulfilled: int
    partially_fulfilled: int
    oldest_age_s: float


class QueueGauges(msgspec.Struct, frozen=True):
    """The figures `/metrics` exports at each scrape: depth per kind, workers, orders by status,
    webhook deliveries, paused and limited kinds."""

    queues: list[QueueDepthRow]
    workers: list[WorkerRow]
    orders: list[OrderPipelineRow]
    webhooks: WebhookStatsRow
    paused: list[PausedKindRow]
    limits: list[KindLimitRow]


class QueueStats(msgspec.Struct, frozen=True):
    """Everything `GET /ops/stats` and `invorder jobs stats --json` show; the dashboard reads it too."""

    queues: list[QueueDepthRow]
    workers: list[WorkerRow]
    throughput: list[ThroughputRow]
    orders: list[OrderPipelineRow]
    webhooks: WebhookStatsRow
    paused: list[PausedKindRow]
    limits: list[KindLimitRow]
    stuck: list[StuckJobRow]
    recent_failures: list[FailureRow]
    refunds: RefundStatsRow
    to_ship: ToShipRow


async def _read_gauges(conn: db.Conn) -> QueueGauges:
    queue = await queue_figures(conn)
    return QueueGauges(
        queues=queue.queues,
        workers=queue.workers,
        orders=await db.many(conn, Q.order_pipeline_by_status, OrderPipelineRow),
        webhooks=await db.one(conn, Q.webhook_stats, WebhookStatsRow) or WebhookStatsRow(0, 0, 0, 0, 0),
        paused=queue.paused,
        limits=queue.limits,
    )


async def queue_gauges(pool: Any) -> QueueGauges:
    """Depth per kind, workers seen in the last ten minutes and orders by status, in one
    transaction: what a scrape needs, without the lists of `queue_stats`."""
    async with db.transaction(pool) as conn:
        return await _read_gauges(conn)


async def queue_stats(pool: Any, *, throughput_minutes: int = 30, list_limit: int = 20) -> QueueStats:
    """The gauges, plus throughput per minute, stuck jobs, the latest failures, refunds and
    orders to ship: one snapshot, in one transaction."""
    async with db.transaction(pool) as conn:
        gauges = await _read_gauges(conn)
        return QueueStats(
            queues=gauges.queues,
            workers=gauges.workers,
            throughput=await job_throughput(conn, minutes=throughput_minutes),
            orders=gauges.orders,
            webhooks=gauges.webhooks,
            paused=gauges.paused,
            limits=gauges.limits,
            stuck=await stuck_jobs(conn, limit=list_limit),
            recent_failures=await recent_failures(conn, limit=list_limit),
            refunds=await db.one(conn, Q.refund_stats, RefundStatsRow) or RefundStatsRow(0, 0.0, 0, 0, 0),
            to_ship=await db.one(conn, Q.orders_to_ship, ToShipRow) or ToShipRow(0, 0, 0.0),
        )
