"""Test fixtures: a real PostgreSQL (embedded, or INVORDER_TEST_DATABASE_URL), a migrated
template database built once per run, and a fresh clone of it for every test."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from litestar.testing import TestClient

from invorder.api.app import create_app
from invorder.db import with_database
from invorder.db.migrate import migrate_up
from invorder.settings import Settings, load_settings
from tests.support.processes import ADMIN_TOKEN, LiveProcess, authed, start_api, start_payments_sim
from tests.support.redis_server import RedisServer, start_redis_server


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A URL to a maintenance database on the test server."""
    configured = os.environ.get("INVORDER_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    from invorder.db.embedded import start_embedded

    folder = Path(tempfile.mkdtemp(prefix="invorder-pg-"))
    server = start_embedded(folder / "data", delete_on_stop=True)
    try:
        yield server.url("postgres")
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=True)


def create_database(admin_url: str, *, template: str | None = None, prefix: str = "invorder_t_") -> str:
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with _admin(admin_url) as conn:
        if template:
            conn.execute(f'create database "{name}" template "{template}"')
        else:
            conn.execute(f'create database "{name}"')
    return name


def drop_database(admin_url: str, name: str) -> None:
    with _admin(admin_url) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="session")
def template_database(pg_admin_url: str) -> Iterator[str]:
    """A database with every migration applied, cloned by each test."""
    name = create_database(pg_admin_url, prefix="invorder_tpl_")
    try:
        migrate_up(with_database(pg_admin_url, name))
        yield name
    finally:
        drop_database(pg_admin_url, name)


@pytest.fixture
def database_url(pg_admin_url: str, template_database: str) -> Iterator[str]:
    name = create_database(pg_admin_url, template=template_database)
    try:
        yield with_database(pg_admin_url, name)
    finally:
        drop_database(pg_admin_url, name)


@pytest.fixture
def empty_database_url(pg_admin_url: str) -> Iterator[str]:
    """A database with no migrations applied."""
    name = create_database(pg_admin_url)
    try:
        yield with_database(pg_admin_url, name)
    finally:
        drop_database(pg_admin_url, name)


TEST_ENV = {
    # Short timings so retries and leases play out within a test.
    "INVORDER_JOB_LEASE_S": "3",
    "INVORDER_JOB_POLL_INTERVAL_S": "0.5",
    "INVORDER_JOB_RETRY_BASE_S": "0.2",
    "INVORDER_JOB_RETRY_MAX_S": "2",
    "INVORDER_ORDER_RETRY_BASE_S": "0.2",
    "INVORDER_ORDER_RETRY_MAX_S": "1",
    "INVORDER_ORDER_MAX_ATTEMPTS": "4",
    "INVORDER_PAYMENT_RETRY_BASE_S": "0.2",
    "INVORDER_PAYMENT_RETRY_MAX_S": "1",
    "INVORDER_PAYMENTS_READ_TIMEOUT_S": "1",
    "INVORDER_PAYMENT_BREAKER_OPEN_S": "1",
    "INVORDER_LOG_LEVEL": "WARNING",
    "INVORDER_ADMIN_TOKEN": ADMIN_TOKEN,
    # No periodic reconcile job unless a test asks for one: the others expect an empty queue once quiet.
    "INVORDER_RECONCILE_INTERVAL_S": "0",
    "INVORDER_EVENT_PRUNE_INTERVAL_S": "0",
    # Webhook receivers in tests listen on 127.0.0.1; and no URL a test (or schemathesis) saves
    # is ever looked up in DNS. The tests of the address rule turn it back off.
    "INVORDER_WEBHOOK_ALLOW_PRIVATE": "1",
}


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private, empty redis-server for this test (not the machine's own), killed after it."""
    server = start_redis_server(tmp_path / "redis")
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(environ={**TEST_ENV, "DATABASE_URL": database_url})


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient[object]]:  # type: ignore[type-var]
    with authed(TestClient(app=create_app(settings), base_url="http://testserver.local")) as test_client:
        yield test_client


@pytest.fixture
def sql(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to the test database, for assertions in SQL."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def live_api(database_url: str) -> Iterator[LiveProcess]:
    """`invorder serve` as a real process on a free port."""
    process = start_api({**TEST_ENV, "DATABASE_URL": database_url})
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def payments_sim(tmp_path: Path) -> Iterator[LiveProcess]:
    """The payment simulator as a real process (faults set through PUT /_sim/config)."""
    process = start_payments_sim(TEST_ENV, tmp_path / "charges.sqlite3", "--seed", "1")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def system_env(database_url: str, payments_sim: LiveProcess) -> dict[str, str]:
    """Environment of API and worker processes: the test database and the simulator."""
    return {**TEST_ENV, "DATABASE_URL": database_url, "INVORDER_PAYMENTS_URL": payments_sim.url}
