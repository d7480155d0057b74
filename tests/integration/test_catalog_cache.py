"""The Redis read cache of products and categories: hits, invalidation by every write, the
stale-fill race, identical answers, and Redis that does not answer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient
from prometheus_client import REGISTRY

from invorder.api.app import create_app
from invorder.catalog.cache import CatalogCache, Entry, product_changed
from invorder.settings import Settings, load_settings
from tests.conftest import TEST_ENV
from tests.support.processes import authed, free_port, wait_until
from tests.support.redis_server import RedisServer

P = "/api/v1/products"
C = "/api/v1/categories"


def cache_count(cache: str, result: str) -> float:
    return REGISTRY.get_sample_value("invorder_cache_requests_total", {"cache": cache, "result": result}) or 0.0


def settings_with_redis(database_url: str, redis_url: str, **extra: str) -> Settings:
    return load_settings(environ={**TEST_ENV, "DATABASE_URL": database_url, "REDIS_URL": redis_url, **extra})


@pytest.fixture
def cached(database_url: str, redis_server: RedisServer) -> Iterator[TestClient[Any]]:
    app = create_app(settings_with_redis(database_url, redis_server.url))
    with authed(TestClient(app=app, base_url="http://testserver.local")) as test_client:
        yield test_client


def create_product(client: Any, name: str, **body: Any) -> dict[str, Any]:
    response = client.post(P, json={"name": name, "price_cents": 100, **body})
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def create_category(client: Any, name: str) -> dict[str, Any]:
    response = client.post(C, json={"name": name})
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def test_repeated_product_reads_are_served_from_the_cache(cached: Any, sql: Any) -> None:
    pid = create_product(cached, "Cached")["id"]
    assert cached.get(f"{P}/{pid}").status_code == 200
    hits = cache_count("product", "hit")
    for _ in range(3):
        assert cached.get(f"{P}/{pid}").json()["name"] == "Cached"
    assert cache_count("product", "hit") == hits + 3
    # A change behind the API's back (no invalidation) is not seen within the TTL: the proof
    # that the answer comes from Redis, not from the database.
    sql.execute("update products set name = 'Changed in SQL' where id = %s", (pid,))
    assert cached.get(f"{P}/{pid}").json()["name"] == "Cached"
    # A write through the API is seen at once.
    assert cached.patch(f"{P}/{pid}", json={"price_cents": 7}).status_code == 200
    assert cached.get(f"{P}/{pid}").json()["name"] == "Changed in SQL"


def test_list_and_category_reads_are_served_from_the_cache(cached: Any, sql: Any) -> None:
    create_product(cached, "Listed")
    cid = create_category(cached, "Shelf")["id"]
    for path, cache in ((P, "product_list"), (C, "category_list"), (f"{C}/{cid}", "category")):
        cached.get(path)
        hits = cache_count(cache, "hit")
        cached.get(path)
        assert cache_count(cache, "hit") == hits + 1, path
    sql.execute("update categories set name = 'Renamed in SQL' where id = %s", (cid,))
    assert cached.get(f"{C}/{cid}").json()["name"] == "Shelf"


def test_every_write_through_the_api_is_seen_by_the_next_read(cached: Any) -> None:
    def product(pid: int) -> dict[str, Any]:
        response = cached.get(f"{P}/{pid}")
        assert response.status_code == 200
        return dict(response.json())

    def listed(path: str, **params: Any) -> list[dict[str, Any]]:
        return list(cached.get(path, params=params).json()["data"])

    a = create_product(cached, "Alpha")["id"]
    # Fill every cache first, then check that each write shows on the next read of each.
    assert [p["name"] for p in listed(P)] == ["Alpha"]
    b = create_product(cached, "Beta")["id"]
    assert [p["name"] for p in listed(P)] == ["Alpha", "Beta"]

    assert product(a)["name"] == "Alpha"
    cached.patch(f"{P}/{a}", json={"name": "Alpha 2", "price_cents": 5})
    assert (product(a)["name"], product(a)["price_cents"], product(a)["version"]) == ("Alpha 2", 5, 2)
    assert [p["name"] for p in listed(P, q="alpha")] == ["Alpha 2"]

    assert listed(C) == []
    books = create_category(cached, "Books")["id"]
    assert [c["name"] for c in listed(C)] == ["Books"]
    assert listed(P, category_id=books) == [] and listed(f"{C}/{books}/products") == []

    assert cached.put(f"{P}/{a}/categories", json={"category_ids": [books]}).status_code == 200
    assert product(a)["categories"] == [{"id": books, "name": "Books"}]
    assert [p["id"] for p in listed(P, category_id=books)] == [a]
    assert [p["id"] for p in listed(f"{C}/{books}/products")] == [a]

    assert cached.get(f"{C}/{books}").json()["name"] == "Books"
    assert cached.patch(f"{C}/{books}", json={"name": "Novels"}).status_code == 200
    assert cached.get(f"{C}/{books}").json()["name"] == "Novels"
    assert product(a)["categories"] == [{"id": books, "name": "Novels"}]
    assert listed(P, q="alpha")[0]["categories"] == [{"id": books, "name": "Novels"}]

    assert cached.delete(f"{P}/{a}/categories/{books}").status_code == 200
    assert product(a)["categories"] == []
    assert listed(P, category_id=books) == []

    cached.put(f"{P}/{b}/categories", json={"category_ids": [books]})
    assert product(b)["categories"] == [{"id": books, "name": "Novels"}]
    assert cached.delete(f"{C}/{books}").status_code == 200
    assert cached.get(f"{C}/{books}").status_code == 404
    assert product(b)["categories"] == []
    assert listed(C) == []

    assert cached.delete(f"{P}/{a}").status_code == 200
    assert cached.get(f"{P}/{a}").status_code == 404
    assert [p["name"] for p in listed(P)] == ["Beta"]


def test_a_refused_write_leaves_the_cache_alone(cached: Any) -> None:
    pid = create_product(cached, "Kept")["id"]
    create_product(cached, "Other")
    cached.get(f"{P}/{pid}")
    assert cached.patch(f"{P}/{pid}", json={"name": "Other"}).status_code == 409
    hits = cache_count("product", "hit")
    assert cached.get(f"{P}/{pid}").json()["name"] == "Kept"
    assert cache_count("product", "hit") == hits + 1


def test_cached_answers_are_byte_for_byte_the_uncached_ones(
    cached: Any, client: Any, database_url: str, redis_server: RedisServer
) -> None:
    pid = create_product(cached, "Same", sku="S-1", description=None)["id"]
    cid = create_category(cached, "Things")["id"]
    cached.put(f"{P}/{pid}/categories", json={"category_ids": [cid]})
    for path in (f"{P}/{pid}", P, f"{P}?category_id={cid}", C, f"{C}/{cid}", f"{C}/{cid}/products"):
        cached.get(path)  # fill
        hits = sum(cache_count(c, "hit") for c in ("product", "category", "product_list", "category_list"))
        from_cache, from_database = cached.get(path), client.get(path)
        assert sum(cache_count(c, "hit") for c in ("product", "category", "product_list", "category_list")) > hits
        assert from_cache.content == from_database.content, path
        assert from_cache.headers.get("etag") == from_database.headers.get("etag"), path
    assert cached.get(f"{P}/{pid}").headers["etag"] == '"1"'


def test_a_reader_that_stores_an_old_value_after_a_write_is_never_served_it(redis_server: RedisServer) -> None:
    """The stale-fill race: the reader read the database before the write committed and stores
    what it read after the write invalidated. Its entry carries the tokens of before the write."""

    class Value(msgspec.Struct):
        name: str

    entry = Entry("product", "product:1", ("token:all", "token:product:1"))
    database = {"name": "old"}

    async def run() -> list[str]:
        cache = CatalogCache.from_settings(
            load_settings(environ={"REDIS_URL": redis_server.url, "DATABASE_URL": "postgresql://unused"})
        )
        try:

            async def slow_reader_load() -> Value:
                seen = Value(database["name"])  # the reader's database read, before the write
                database["name"] = "new"  # the write commits...
                await cache.changed(product_changed(1))  # ...and invalidates
                return seen  # the reader goes on to store the old value

            async def load() -> Value:
                return Value(database["name"])

            first = await cache.read(entry, Value, slow_reader_load)
            second = await cache.read(entry, Value, load)
            third = await cache.read(entry, Value, load)
            return [first.name, second.name, third.name]
        finally:
            await cache.close()

    misses = cache_count("product", "miss")
    assert asyncio.run(run()) == ["old", "new", "new"]
    assert cache_count("product", "miss") == misses + 2  # the old entry was not a hit; the new one is


def test_redis_on_a_closed_port_answers_every_request_fast_and_warns_once(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_with_redis(database_url, f"redis://127.0.0.1:{free_port()}/0")
    errors = cache_count("product", "error")
    with (
        caplog.at_level(logging.WARNING, logger="invorder.catalog.cache"),
        authed(TestClient(app=create_app(settings), base_url="http://testserver.local")) as down,
    ):
        pid = create_product(down, "No cache")["id"]
        started = time.monotonic()
        for i in range(20):
            assert down.patch(f"{P}/{pid}", json={"price_cents": i}).status_code == 200
            response = down.get(f"{P}/{pid}")
            assert (response.status_code, response.json()["price_cents"]) == (200, i)
        assert down.get(P).json()["data"][0]["price_cents"] == 19
        assert down.delete(f"{P}/{pid}").status_code == 200
        assert down.get(f"{P}/{pid}").status_code == 404
        elapsed = time.monotonic() - started
    assert cache_count("product", "error") >= errors + 20
    assert elapsed < 10, f"42 requests took {elapsed:.1f}s without Redis"
    warnings = [r for r in caplog.records if r.name == "invorder.catalog.cache" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "Redis failed" in warnings[0].getMessage()


def test_a_hung_redis_costs_one_deadline_then_nothing_until_it_answers_again(
    database_url: str, redis_server: RedisServer
) -> None:
    settings = settings_with_redis(database_url, redis_server.url, INVORDER_CACHE_BREAKER_OPEN_S="0.2")
    with authed(TestClient(app=create_app(settings), base_url="http://testserver.local")) as app:
        pid = create_product(app, "Hung")["id"]
        app.get(f"{P}/{pid}")
        redis_server.pause()
        try:
            started = time.monotonic()
            assert app.patch(f"{P}/{pid}", json={"price_cents": 1}).status_code == 200
            for _ in range(20):
                assert app.get(f"{P}/{pid}").json()["price_cents"] == 1
            elapsed = time.monotonic() - started
        finally:
            redis_server.resume()
        # The write waited for its invalidation (0.4 s at most), the reads skipped Redis,
        # but for the one that found it hung first, and the probes, which no request waits for.
        assert elapsed < 3, f"21 requests took {elapsed:.1f}s with Redis hung"
        hits = cache_count("product", "hit")

        def cached_again() -> bool:
            return app.get(f"{P}/{pid}").json()["price_cents"] == 1 and cache_count("product", "hit") > hits

        wait_until(cached_again, timeout=10, what="the cache to be used again")
        assert app.patch(f"{P}/{pid}", json={"price_cents": 2}).status_code == 200
        assert app.get(f"{P}/{pid}").json()["price_cents"] == 2


def test_without_redis_url_nothing_is_counted(client: Any) -> None:
    pid = create_product(client, "Plain")["id"]
    before = {r: cache_count("product", r) for r in ("hit", "miss", "error")}
    assert client.get(f"{P}/{pid}").status_code == 200
    assert {r: cache_count("product", r) for r in ("hit", "miss", "error")} == before
