"""invorder's worker process: the queue's worker with every invorder job handler registered."""

from __future__ import annotations

from invorder.orders.processing import register_order_handlers
from invorder.queue import Registry
from invorder.queue.worker import Worker, WorkerConfig, run_worker
from invorder.settings import Settings


def invorder_registry(settings: Settings) -> Registry:
    registry = Registry()
    register_order_handlers(registry, settings)
    return registry


def worker_config(settings: Settings, *, drain: bool = False) -> WorkerConfig:
    return WorkerConfig(
        concurrency=settings.worker_concurrency,
        lease_s=settings.job_lease_s,
        poll_interval_s=settings.job_poll_interval_s,
        retry_base_s=settings.job_retry_base_s,
        retry_max_s=settings.job_retry_max_s,
        drain=drain,
    )


async def run_invorder_worker(settings: Settings, database_url: str, *, drain: bool = False) -> Worker:
    # Each job in hand holds at most one connection at a time; a few more serve the claim,
    # the completer, lease renewal and rescue.
    pool_size = min(settings.worker_concurrency, settings.pool_max_size) + 4
    return await run_worker(
        invorder_registry(settings),
        database_url=database_url,
        config=worker_config(settings, drain=drain),
        pool_max_size=pool_size,
    )
