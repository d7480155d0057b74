"""invorder's worker process: the queue's worker with every invorder job handler registered."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from invorder import db
from invorder.events.feed import register_event_handlers, seed_prune_job
from invorder.ops.reconcile_job import register_reconcile_handler, seed_reconcile_job
from invorder.orders.processing import register_order_handlers
from invorder.orders.refunding import register_refund_handler
from invorder.payments.client import payments_client
from invorder.payments.gateway import CircuitBreaker, PaymentGateway
from invorder.processes.gc_tuning import tune_gc_for_service
from invorder.queue import Registry
from invorder.queue.config import WorkerConfig
from invorder.queue.worker import Worker, run_worker
from invorder.settings import Settings
from invorder.webhooks.delivery import WebhookDeliverer, register_delivery_handler


def invorder_registry(settings: Settings, payments: PaymentGateway) -> tuple[Registry, WebhookDeliverer]:
    registry = Registry()
    register_order_handlers(registry, settings, payments)
    register_refund_handler(registry, settings, payments)
    register_reconcile_handler(registry, settings, payments.client)
    register_event_handlers(registry, settings)
    deliverer = register_delivery_handler(registry, settings)
    return registry, deliverer


def payment_gateway(settings: Settings) -> PaymentGateway:
    return PaymentGateway(
        payments_client(settings),
        CircuitBreaker(settings.payment_breaker_threshold, settings.payment_breaker_open_s),
        max_in_flight=settings.payment_max_in_flight,
    )


def worker_config(settings: Settings, *, drain: bool = False) -> WorkerConfig:
    return WorkerConfig(
        concurrency=settings.worker_concurrency,
        lease_s=settings.job_lease_s,
        poll_interval_s=settings.job_poll_interval_s,
        retry_base_s=settings.job_retry_base_s,
        retry_max_s=settings.job_retry_max_s,
        vacuum_interval_s=settings.job_vacuum_interval_s,
        vacuum_dead_rows=settings.job_vacuum_dead_rows,
        drain=drain,
    )


async def run_invorder_worker(settings: Settings, database_url: str, *, drain: bool = False) -> Worker:
    # Each job in hand holds at most one connection at a time; a few more serve the claim,
    # the completer, lease renewal and rescue.
    pool_size = min(settings.worker_concurrency, settings.pool_max_size) + 4
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr=settings.host)
    payments = payment_gateway(settings)

    async def seed(pool: Any) -> None:
        await seed_reconcile_job(pool, settings)
        await seed_prune_job(pool, settings)

    registry, deliverer = invorder_registry(settings, payments)
    tune_gc_for_service()
    try:
        return await run_worker(
            registry,
            database_url=database_url,
            config=worker_config(settings, drain=drain),
            pool_max_size=pool_size,
            connect_options=db.connect_options(settings),
            direct_url=settings.listen_database_url,
            # A draining worker (benchmarks, scripts) leaves no periodic job behind.
            on_start=() if drain else (seed,),
        )
    finally:
        await payments.client.aclose()
        await deliverer.aclose()


T = TypeVar("T")


def run_with_fast_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop where it is installed (Linux, macOS): the worker's claim and
    completion loop spends much of its time in the event loop itself."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
