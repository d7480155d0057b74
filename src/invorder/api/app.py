"""The Litestar application factory: routes, lifespan (the pool, the cache), errors, CORS, OpenAPI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide

from invorder import db
from invorder.access.keys import KeyVerifier
from invorder.api.access import require_scope
from invorder.api.categories import CategoryController
from invorder.api.dashboard import dashboard
from invorder.api.deps import provide_cache, provide_pool, provide_principal, provide_settings
from invorder.api.events import EventController
from invorder.api.fulfillments import FulfillmentController
from invorder.api.health import healthz, readyz
from invorder.api.inventory import InventoryController
from invorder.api.locations import LocationController
from invorder.api.metrics import PROMETHEUS, metrics_endpoint
from invorder.api.middleware import request_deadline_middleware, request_logging_middleware
from invorder.api.openapi import openapi_config
from invorder.api.ops import OpsController
from invorder.api.orders import OrderController
from invorder.api.products import ProductController
from invorder.api.refunds import OrderRefundController, RefundController
from invorder.api.webhooks import WebhookEndpointController
from invorder.catalog.cache import CatalogCache
from invorder.logs import configure_logging
from invorder.orders.placing import OrderPlacer
from invorder.processes.gc_tuning import tune_gc_for_service
from invorder.settings import Settings, load_settings
from invorder.web.problems import EXCEPTION_HANDLERS
from invorder.web.strict_body import check_json_body

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Litestar:
    """The API app. With no argument, settings come from the environment (how granian calls it)."""
    settings = settings or load_settings()
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set (invorder dev sets it for the embedded server)")
    database_url = settings.database_url

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Bounded at each step, so a database that is away, a pool that is exhausted or a lock
        # held elsewhere makes a 503 in time (docs/operations.md "When the database is away").
        pool = db.open_pool(
            database_url,
            options=db.connect_options(settings),
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            name="invorder-api",
            wait_s=settings.api_pool_timeout_s,
            lock_timeout_s=settings.api_lock_timeout_s,
            statement_timeout_s=settings.api_statement_timeout_s,
        )
        await pool.open(wait=True, timeout=30)
        app.state.pool = pool
        app.state.placer = OrderPlacer(pool, max_attempts=settings.job_max_attempts)
        verifier = KeyVerifier(pool, admin_token=settings.admin_token, ttl_s=settings.api_key_cache_s)
        app.state.key_verifier = verifier
        flusher = asyncio.create_task(_flush_last_used(verifier, settings.api_key_last_used_flush_s))
        cache = CatalogCache.from_settings(settings)
        app.state.catalog_cache = cache
        if cache.enabled:
            log.info("catalog reads are cached in Redis for %gs", settings.cache_ttl_s)
        try:
            yield
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            try:
                await verifier.flush_last_used()
            except Exception as exc:  # the database may be gone at shutdown
                log.warning("could not record when API keys were last used: %s", exc)
            try:
                await cache.close()
            finally:
                await pool.close()

    api = Router(
        path="/api/v1",
        route_handlers=[
            ProductController,
            CategoryController,
            InventoryController,
            LocationController,
            OrderController,
            FulfillmentController,
            OrderRefundController,
            RefundController,
            EventController,
            OpsController,
            WebhookEndpointController,
        ],
        before_request=check_json_body,
        guards=[require_scope],
    )
    cors = CORSConfig(allow_origins=settings.cors_origin_list) if settings.cors_origin_list else None
    return Litestar(
        route_handlers=[api, healthz, readyz, metrics_endpoint, dashboard],
        lifespan=[lifespan],
        dependencies={
            "pool": Provide(provide_pool, sync_to_thread=False),
            "catalog_cache": Provide(provide_cache, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        state=State({"settings": settings}),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        middleware=[
            request_logging_middleware,
            PROMETHEUS.middleware,
            request_deadline_middleware(settings.api_request_timeout_s),
        ],
        cors_config=cors,
        openapi_config=openapi_config(),
        logging_config=None,
    )


async def _flush_last_used(verifier: KeyVerifier, every_s: float) -> None:
    """Write when keys were last used, every `every_s` (one statement, never one per request)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await verifier.flush_last_used()
        except Exception as exc:
            log.warning("could not record when API keys were last used: %s", exc)


def create_app_from_env() -> Litestar:
    """Entry point for granian's `--factory`: settings and logging from the environment."""
    settings = load_settings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    tune_gc_for_service()  # the app is built: the collector never scans it again
    return app
