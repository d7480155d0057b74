"""Every setting of invorder, read once from the environment (and a `.env` file), typed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
from dotenv import dotenv_values


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings for every process. Field `foo_bar` is read from `INVORDER_FOO_BAR`,
    except the three conventional names in `_PLAIN_NAMES`."""

    database_url: str | None = None
    # a direct session (never through a transaction-mode pooler): where workers LISTEN and
    # where migrations run; unset: DATABASE_URL
    listen_database_url: str | None = None
    # "transaction" when PgBouncer (transaction mode) sits in front: no server-side prepares
    db_pooler: str = ""
    # libpq's connect_timeout for every connection, per host of a multi-host DATABASE_URL
    db_connect_timeout_s: float = 3.0
    data_dir: str = ".invorder"
    host: str = "127.0.0.1"
    port: int = 8000
    cors_origins: str = ""
    log_level: str = "INFO"
    pool_min_size: int = 2
    pool_max_size: int = 10
    # the API's bounds, so every request is answered (with its result or a 503) within about
    # api_request_timeout_s: the wait for a pooled connection, and each transaction's
    # statement_timeout and lock_timeout
    api_request_timeout_s: float = 9.0
    api_pool_timeout_s: float = 3.0
    api_statement_timeout_s: float = 5.0
    api_lock_timeout_s: float = 2.0
    redis_url: str | None = None
    # the optional Redis read cache (catalog/cache.py): entry lifetime (0 turns the cache off),
    # the longest wait for Redis, and how long to leave Redis alone after it failed
    cache_ttl_s: float = 30.0
    cache_timeout_s: float = 0.2
    cache_breaker_open_s: float = 5.0
    payments_url: str = "http://127.0.0.1:8100"
    admin_token: str | None = None
    # how long an API process trusts what it read of a key (so a revocation reaches every
    # process within this), and how often it writes when keys were last used
    api_key_cache_s: float = 5.0
    api_key_last_used_flush_s: float = 60.0
    # migrations: retries of a migration that gave up on its lock_timeout
    migrate_lock_retries: int = 5
    migrate_retry_base_s: float = 2.0
    migrate_retry_max_s: float = 30.0
    # queue and worker
    worker_concurrency: int = 100
    # a worker's Prometheus endpoint (`invorder worker --metrics-port`); unset: none
    metrics_port: int | None = None
    job_lease_s: float = 30.0
    job_poll_interval_s: float = 1.0
    job_max_attempts: int = 10
    job_retry_base_s: float = 1.0
    job_retry_max_s: float = 300.0
    # a worker vacuums `jobs` itself when this many dead rows have piled up (checked every
    # job_vacuum_interval_s; 0 leaves it to autovacuum)
    job_vacuum_interval_s: float = 2.0
    job_vacuum_dead_rows: int = 20_000
    # order processing
    order_max_attempts: int = 8
    order_retry_base_s: float = 2.0
    order_retry_max_s: float = 120.0
    order_wait_max_s: float = 30.0
    reservation_ttl_s: float = 900.0
    # orders a worker takes through one batch (one reserve transaction, charges in flight
    # together), and how long it gathers payment answers before concluding them together
    order_batch_size: int = 50
    order_flush_interval_s: float = 0.005
    # reconciliation: seconds between runs of the periodic `reconcile` job (0 disables it)
    reconcile_interval_s: float = 300.0
    # payment provider
    payments_connect_timeout_s: float = 2.0
    payments_read_timeout_s: float = 5.0
    payment_max_attempts: int = 5
    payment_retry_base_s: float = 1.0
    payment_retry_max_s: float = 30.0
    payment_breaker_threshold: int = 5
    payment_breaker_open_s: float = 5.0
    # charge requests a worker process has in flight at once (its connections to the provider)
    payment_max_in_flight: int = 64
    # events and webhooks (docs/events.md)
    event_retention_s: float = 7 * 86400.0  # events and delivery records older than this are deleted
    event_prune_interval_s: float = 60.0  # seconds between runs of the periodic `prune_events` job (0: none)
    webhook_allow_private: bool = False  # dev and tests: endpoints may point at loopback/private addresses
    webhook_connect_timeout_s: float = 3.0
    webhook_read_timeout_s: float = 10.0
    webhook_retry_base_s: float = 10.0  # the first retry comes within this many seconds
    webhook_retry_max_s: float = 6 * 3600.0
    webhook_retry_window_s: float = 3 * 86400.0  # past it a delivery is given up and its endpoint disabled
    webhook_max_in_flight: int = 64  # deliveries a worker process has in flight at once

    def __post_init__(self) -> None:
        if self.db_pooler not in ("", "transaction"):
            raise msgspec.ValidationError(
                f"INVORDER_DB_POOLER is {self.db_pooler!r}: leave it unset, or set 'transaction'"
                " (PgBouncer in transaction mode)"
            )

    @property
    def direct_database_url(self) -> str | None:
        """The URL of a direct session: INVORDER_LISTEN_DATABASE_URL, else DATABASE_URL."""
        return self.listen_database_url or self.database_url

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


_PLAIN_NAMES = {
    "database_url": "DATABASE_URL",
    "redis_url": "REDIS_URL",
}


def env_name(field: str) -> str:
    """The environment variable that sets `field`."""
    return _PLAIN_NAMES.get(field, "INVORDER_" + field.upper())


def load_settings(
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Settings from `.env` (if present), then the environment (which wins), then
    `overrides` (command-line flags, which win over both; `None` means "not given")."""
    env = dict(os.environ if environ is None else environ)
    path = dotenv_path if dotenv_path is not None else Path.cwd() / ".env"
    file_values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    merged = {**file_values, **env}
    raw: dict[str, Any] = {}
    for field in Settings.__struct_fields__:
        value = merged.get(env_name(field))
        if value not in (None, ""):
            raw[field] = value
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SystemExit(f"invalid setting: {exc}") from exc
