"""A live API answers 503 with Retry-After, in bounded time, when a lock is held elsewhere,
a statement runs past its timeout, the pool is exhausted, or a request outlives its deadline;
and it answers normally again once the cause is gone."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import TEST_ENV
from tests.support.processes import AUTH, LiveProcess, start_api
from tests.system.test_order_processing import make_products


def api_with(database_url: str, **settings: str) -> LiveProcess:
    return start_api({**TEST_ENV, "DATABASE_URL": database_url, **settings})


@pytest.fixture
def product(database_url: str) -> Iterator[int]:
    api = api_with(database_url)
    try:
        [product_id] = make_products(api.url, [100])
        yield product_id
    finally:
        api.stop()


def patch_on_hand(url: str, product_id: int, on_hand: int) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:
        answer = http.patch(f"/api/v1/inventory/{product_id}", json={"on_hand": on_hand})
    return answer, time.monotonic() - started


def assert_unavailable(answer: httpx.Response, retry_after: int) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == str(retry_after)
    body = answer.json()
    assert body["status"] == 503 and body["type"].endswith("/unavailable"), body


def holding_row_lock(database_url: str, product_id: int) -> psycopg.Connection[Any]:
    """A session that holds the inventory row of `product_id` locked until it is closed."""
    conn = psycopg.connect(database_url)
    conn.execute("select * from inventory where product_id = %s for update", (product_id,))
    return conn


def test_a_lock_held_elsewhere_is_a_503_after_the_lock_timeout_and_nothing_changes(
    database_url: str, product: int, sql: Any
) -> None:
    api = api_with(database_url, INVORDER_API_LOCK_TIMEOUT_S="1")
    try:
        with holding_row_lock(database_url, product):
            answer, took = patch_on_hand(api.url, product, 7)
        assert_unavailable(answer, retry_after=1)
        assert 0.9 < took < 5, took
        assert "locked" in answer.json()["detail"]
        assert sql.execute("select on_hand from inventory where product_id = %s", (product,)).fetchone() == (100,)
        answer, _ = patch_on_hand(api.url, product, 7)  # the lock is gone: it goes through
        assert answer.status_code == 200, answer.text
    finally:
        api.stop()


def test_a_statement_past_its_timeout_is_a_503(database_url: str, product: int) -> None:
    api = api_with(database_url, INVORDER_API_LOCK_TIMEOUT_S="20", INVORDER_API_STATEMENT_TIMEOUT_S="1")
    try:
        with holding_row_lock(database_url, product):
            answer, took = patch_on_hand(api.url, product, 7)
        assert_unavailable(answer, retry_after=2)
        assert "statement timeout" in answer.json()["detail"]
        assert took < 5, took
    finally:
        api.stop()


def test_an_exhausted_pool_is_a_503_after_the_pool_timeout(database_url: str, product: int) -> None:
    api = api_with(
        database_url,
        INVORDER_POOL_MIN_SIZE="1",
        INVORDER_POOL_MAX_SIZE="1",
        INVORDER_API_POOL_TIMEOUT_S="0.5",
        INVORDER_API_LOCK_TIMEOUT_S="3",
    )
    try:
        with holding_row_lock(database_url, product), concurrent.futures.ThreadPoolExecutor(1) as background:
            holder = background.submit(patch_on_hand, api.url, product, 7)  # takes the one connection
            time.sleep(0.5)
            started = time.monotonic()
            with httpx.Client(base_url=api.url, headers=AUTH, timeout=30) as http:
                answer = http.get(f"/api/v1/products/{product}")
            took = time.monotonic() - started
            assert_unavailable(answer, retry_after=1)
            assert "no database connection" in answer.json()["detail"]
            assert took < 2.5, took
            assert_unavailable(holder.result()[0], retry_after=1)  # then its lock timeout
        with httpx.Client(base_url=api.url, headers=AUTH, timeout=30) as http:
            assert http.get(f"/api/v1/products/{product}").status_code == 200
    finally:
        api.stop()


def test_a_request_past_its_deadline_is_a_503_and_a_wait_extends_it(database_url: str, product: int) -> None:
    api = api_with(
        database_url,
        INVORDER_API_REQUEST_TIMEOUT_S="1",
        INVORDER_API_LOCK_TIMEOUT_S="20",
        INVORDER_API_STATEMENT_TIMEOUT_S="20",
    )
    try:
        with holding_row_lock(database_url, product):
            answer, took = patch_on_hand(api.url, product, 7)
        assert_unavailable(answer, retry_after=2)
        assert "no answer within 1s" in answer.json()["detail"]
        assert took < 3, took
        with httpx.Client(base_url=api.url, headers=AUTH, timeout=30) as http:
            placed = http.post("/api/v1/orders", json={"product_id": product, "quantity": 1})
            assert placed.status_code == 202, placed.text
            order_id = placed.json()["data"]["id"]
            started = time.monotonic()
            waited = http.get(f"/api/v1/orders/{order_id}", params={"wait": 2})  # no worker: it waits it out
            assert waited.status_code == 200, waited.text
            assert 1.9 < time.monotonic() - started < 4
            assert http.get("/readyz").status_code == 200
    finally:
        api.stop()
