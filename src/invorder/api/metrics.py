"""`GET /metrics` in Prometheus' text format: this process's counters, plus the queue, workers and
orders read from the database at scrape time."""

from __future__ import annotations

import logging
import os
from typing import Any

from litestar import Response, get
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

from invorder import metrics as _defines_every_metric  # noqa: F401  (cache counters are listed from the start)
from invorder.api.access import needs, require_scope
from invorder.api.deps import PoolDep
from invorder.ops.stats import queue_gauges

log = logging.getLogger(__name__)

# Requests by route template (not raw path: ids would explode the label set), method and status.
PROMETHEUS = PrometheusConfig(app_name="invorder", prefix="invorder_http", group_path=True, exclude=["/metrics"])


def _process_registry() -> Any:
    """The registry of this process, or of every API process when granian runs several
    (`invorder serve --processes N` sets PROMETHEUS_MULTIPROC_DIR)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


class _Snapshot:
    """A collector of metric families computed once, at scrape time. Plain families, not Gauges:
    in multiprocess mode a Gauge would write its value to PROMETHEUS_MULTIPROC_DIR."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


async def _database_metrics(pool: Any) -> bytes:
    """Queue depth, lag, orders by status and live workers, read from the views now (they describe
    the database, not this process)."""
    up = GaugeMetricFamily("invorder_database_up", "1 when the database answered this scrape.")
    try:
        stats = await queue_gauges(pool)
    except Exception as exc:  # a scrape still answers, with the process's own metrics
        log.warning("metrics: database unavailable: %s", exc)
        up.add_metric([], 0)
        return _render([up])
    up.add_metric([], 1)
    jobs = GaugeMetricFamily("invorder_queue_jobs", "Jobs in the queue by kind and status.", labels=["kind", "status"])
    oldest = GaugeMetricFamily(
        "invorder_queue_oldest_ready_age_seconds",
        "How long the oldest ready job of a kind has waited past its run_after (0: none waits).",
        labels=["kind"],
    )
    for q in stats.queues:
        for status in ("ready", "scheduled", "running", "dead", "cancelled"):
            jobs.add_metric([q.kind, status], getattr(q, status))
        oldest.add_metric([q.kind], q.oldest_ready_age_s)
    in_flight = GaugeMetricFamily("invorder_orders_in_flight", "Orders pending or reserved now.", labels=["status"])
    finished = GaugeMetricFamily(
        "invorder_orders_finished_last_hour",
        "Orders that reached a final status (processed, failed, cancelled) in the last hour.",
        labels=["status"],
    )
    for o in stats.orders:
        if o.status in ("pending", "reserved"):
            in_flight.add_metric([o.status], o.in_flight)
        else:
            finished.add_metric([o.status], o.finished_last_hour)
    workers = GaugeMetricFamily(
        "invorder_queue_workers_alive", "Worker processes that sent a heartbeat in the last minute."
    )
    workers.add_metric([], sum(w.alive for w in stats.workers))
    hooks = stats.webhooks
    pending = GaugeMetricFamily("invorder_webhook_deliveries_pending", "Webhook deliveries waiting or in flight.")
    pending.add_metric([], hooks.pending)
    attempts = _by_label(
        "invorder_webhook_attempts_last_hour",
        "Webhook delivery attempts in the last hour by result (delivered: a 2xx answer).",
        "result",
        [("delivered", hooks.delivered_last_hour), ("failed", hooks.failed_last_hour)],
    )
    endpoints = _by_label(
        "invorder_webhook_endpoints",
        "Webhook endpoints by state (disabled: a 410, the retry window, an operator).",
        "state",
        [("enabled", hooks.enabled_endpoints), ("disabled", hooks.disabled_endpoints)],
    )
    paused = _by_label(
        "invorder_queue_kind_paused",
        "1 for each job kind an operator paused (no worker claims it).",
        "kind",
        [(p.kind, 1) for p in stats.paused],
    )
    max_running = _by_label(
        "invorder_queue_kind_max_running",
        "The limit an operator set on a job kind's jobs running at once, all workers together.",
        "kind",
        [(limit.kind, limit.max_running) for limit in stats.limits],
    )
    return _render([jobs, oldest, in_flight, finished, workers, pending, attempts, endpoints, paused, max_running, up])


def _by_label(name: str, documentation: str, label: str, samples: list[tuple[str, float]]) -> GaugeMetricFamily:
    """A gauge with one label: a sample per (label value, value), in the order given."""
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value_of_label, value in samples:
        family.add_metric([value_of_label], value)
    return family


def _render(families: list[Metric]) -> bytes:
    registry = CollectorRegistry()
    registry.register(_Snapshot(families))
    return generate_latest(registry)


@get("/metrics", include_in_schema=False, tags=["health"], guards=[require_scope], **needs("metrics"))
async def metrics_endpoint(pool: PoolDep) -> Response[bytes]:
    body = generate_latest(_process_registry()) + await _database_metrics(pool)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
