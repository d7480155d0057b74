"""The categories migration on a live database: it never queues traffic behind it for longer
than its lock_timeout, `invorder migrate up` retries it, and this version of the code serves
on the schema before it as well as after it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from invorder.api.app import create_app
from invorder.db.migrate import LockRetry, migrate_before, migrate_up, migrations_dir, pending_migrations, run_dbmate
from invorder.settings import load_settings
from tests.conftest import TEST_ENV
from tests.support.processes import authed, run_invorder, start_invorder, wait_until

# The first categories migration, and the lock_timeout its files set.
CATEGORIES = "20261125200000"
LOCK_TIMEOUT_S = 1.0


def roll_back_categories(url: str) -> None:
    """Roll back the categories migrations and every later one, newest first."""
    for _ in [m for m in migrations_dir().glob("*.sql") if m.name >= CATEGORIES]:
        run_dbmate(url, "rollback")


@pytest.fixture
def previous_schema(empty_database_url: str) -> str:
    """A database migrated up to just before the categories migration, with one product."""
    migrate_before(empty_database_url, CATEGORIES)
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("insert into products (name, price_cents) values ('held', 1)")
    return empty_database_url


def has_categories(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("select to_regclass('public.product_categories') is not null").fetchone()
    return bool(found and found[0])


def someone_waits_for_products(url: str) -> bool:
    """Whether a session is queued for a lock on products."""
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute(
            "select exists (select from pg_locks where relation = 'products'::regclass and not granted)"
        ).fetchone()
    return bool(found and found[0])


def test_migration_gives_up_within_its_lock_timeout_instead_of_queueing_writes(previous_schema: str) -> None:
    url = previous_schema
    with psycopg.connect(url) as long_transaction:
        # An open write on products: the migration's foreign key has to wait for it.
        long_transaction.execute("update products set price_cents = 2 where name = 'held'")
        started = time.monotonic()
        migration = start_invorder(
            ["migrate", "up"], {"DATABASE_URL": url, "INVORDER_MIGRATE_LOCK_RETRIES": "0"}, "migrate"
        )
        wait_until(lambda: someone_waits_for_products(url), timeout=20, what="the migration to wait for products")
        # A write arriving now queues behind the migration's lock request, but only until the
        # migration gives up.
        with psycopg.connect(url, autocommit=True) as writer:
            write_started = time.monotonic()
            writer.execute("insert into products (name, price_cents) values ('new', 1)")
            write_wait = time.monotonic() - write_started
        code = migration.popen.wait(timeout=30)
        elapsed = time.monotonic() - started

    assert code != 0
    assert "lock timeout" in migration.log()
    assert "gave up after 1 attempts" in migration.log()
    assert write_wait < LOCK_TIMEOUT_S + 1.0
    assert elapsed < LOCK_TIMEOUT_S + 15  # process start-up included
    assert not has_categories(url), "the failed migration left something behind"

    # With the long transaction gone, the same command goes through.
    again = run_invorder("migrate", "up", env={"DATABASE_URL": url})
    assert again.returncode == 0, again.stderr
    assert has_categories(url) and pending_migrations(url) == []


def test_migrate_up_retries_and_succeeds_once_the_lock_is_released(
    previous_schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = previous_schema
    caplog.set_level(logging.WARNING, logger="invorder.db.migrate")
    outcome: dict[str, Any] = {}

    def migrate() -> None:
        try:
            outcome["output"] = migrate_up(url, retry=LockRetry(retries=30, base_s=0.1, max_s=0.3))
        except Exception as exc:
            outcome["error"] = exc

    def retries() -> int:
        return sum("gave up waiting for a lock" in r.getMessage() for r in caplog.records)

    with psycopg.connect(url) as holder:
        holder.execute("lock table products in access exclusive mode")
        thread = threading.Thread(target=migrate)
        thread.start()
        wait_until(lambda: retries() >= 2, timeout=30, what="two retries of the migration")
        assert not has_categories(url)
    # The lock is released here.
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert "Applied: 20261125200000_add_product_categories.sql" in outcome["output"]
    assert has_categories(url) and pending_migrations(url) == []


def test_migrate_up_gives_up_with_a_clear_error_after_the_last_retry(previous_schema: str) -> None:
    url = previous_schema
    with psycopg.connect(url) as holder:
        holder.execute("lock table products in access exclusive mode")
        started = time.monotonic()
        result = run_invorder(
            "migrate",
            "up",
            env={
                "DATABASE_URL": url,
                "INVORDER_MIGRATE_LOCK_RETRIES": "2",
                "INVORDER_MIGRATE_RETRY_BASE_S": "0.1",
                "INVORDER_LOG_LEVEL": "WARNING",
            },
        )
        elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "gave up after 3 attempts" in result.stderr
    assert result.stderr.count("gave up waiting for a lock") == 2
    assert elapsed < 3 * LOCK_TIMEOUT_S + 15
    assert not has_categories(url)


def test_rolling_back_the_categories_migrations_keeps_products_and_up_again_works(previous_schema: str) -> None:
    url = previous_schema
    migrate_up(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("insert into categories (name) values ('Books')")
        conn.execute("insert into product_categories (product_id, category_id) select 1, id from categories")
    roll_back_categories(url)
    assert not has_categories(url)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("select name from products").fetchall() == [("held",)]
    migrate_up(url)
    assert has_categories(url) and pending_migrations(url) == []


@pytest.fixture
def previous_schema_client(previous_schema: str) -> Iterator[TestClient[Any]]:
    settings = load_settings(environ={**TEST_ENV, "DATABASE_URL": previous_schema})
    with authed(TestClient(app=create_app(settings), base_url="http://testserver.local")) as client:
        yield client


def test_this_version_serves_products_on_the_previous_schema_and_picks_categories_up_once_migrated(
    previous_schema: str, previous_schema_client: TestClient[Any]
) -> None:
    client = previous_schema_client
    created = client.post("/api/v1/products", json={"name": "New", "price_cents": 5})
    assert created.status_code == 201 and created.json()["data"]["categories"] == []
    product_id = created.json()["data"]["id"]
    assert client.patch(f"/api/v1/products/{product_id}", json={"price_cents": 6}).status_code == 200
    assert [p["categories"] for p in client.get("/api/v1/products").json()["data"]] == [[], []]
    assert client.get(f"/api/v1/products/{product_id}").json()["categories"] == []
    # What needs the new tables is refused as unavailable, not as a server error.
    for response in (client.get("/api/v1/categories"), client.post("/api/v1/categories", json={"name": "Books"})):
        assert response.status_code == 503
        assert "migration" in response.json()["detail"]

    migrate_up(previous_schema)  # while the app runs, without a restart

    books = client.post("/api/v1/categories", json={"name": "Books"}).json()["data"]
    response = client.put(f"/api/v1/products/{product_id}/categories", json={"category_ids": [books["id"]]})
    assert response.status_code == 200
    assert client.get(f"/api/v1/products/{product_id}").json()["categories"] == [{"id": books["id"], "name": "Books"}]


def test_rolling_back_under_this_version_leaves_products_readable(
    previous_schema: str, previous_schema_client: TestClient[Any]
) -> None:
    client = previous_schema_client
    migrate_up(previous_schema)
    books = client.post("/api/v1/categories", json={"name": "Books"}).json()["data"]
    client.put("/api/v1/products/1/categories", json={"category_ids": [books["id"]]})
    for _ in range(10):  # enough for psycopg to prepare the statements server-side
        assert client.get("/api/v1/products/1").json()["categories"] == [{"id": books["id"], "name": "Books"}]
        assert client.get("/api/v1/products").status_code == 200

    roll_back_categories(previous_schema)

    for _ in range(3):
        response = client.get("/api/v1/products/1")
        assert response.status_code == 200 and response.json()["categories"] == []
        assert client.get("/api/v1/products").json()["data"][0]["categories"] == []
    assert client.get("/api/v1/categories").status_code == 503
    assert client.patch("/api/v1/products/1", json={"price_cents": 3}).status_code == 200
