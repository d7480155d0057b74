"""A limit on a job kind's jobs running at once, with a real API, two real worker processes and
slow payments: counted in SQL while orders flow, no more than the limit of `process_order` jobs
run at once across both workers, and every order is processed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_ENV
from tests.support.processes import (
    AUTH,
    LiveProcess,
    run_invorder,
    start_api,
    start_payments_sim,
    start_worker,
    wait_until,
)
from tests.system.test_order_processing import make_products

ORDERS = 14
LIMIT = 2


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The test database, and a payment simulator that takes 400 ms to answer each charge: a
    `process_order` job runs that long at least, so jobs overlap while the orders flow."""
    sim = start_payments_sim(TEST_ENV, tmp_path / "charges.sqlite3", "--seed", "1", "--latency-ms", "400")
    try:
        yield {**TEST_ENV, "DATABASE_URL": database_url, "INVORDER_PAYMENTS_URL": sim.url}
    finally:
        sim.stop()


@pytest.fixture
def api(env: dict[str, str]) -> Iterator[LiveProcess]:
    process = start_api(env)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def workers(env: dict[str, str]) -> Iterator[list[LiveProcess]]:
    started = [start_worker(env, concurrency=8) for _ in range(2)]
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()


def test_a_limit_on_process_order_holds_across_two_worker_processes(
    api: LiveProcess, workers: list[LiveProcess], env: dict[str, str], sql: Any
) -> None:
    wait_until(
        lambda: sql.execute("select count(*) from queue_workers where stopped_at is null").fetchone()[0] == 2,
        timeout=30,
        what="both workers to be up",
    )
    limited = run_invorder("jobs", "limit", "process_order", str(LIMIT), env=env)
    assert limited.returncode == 0, limited.stderr
    [product] = make_products(api.url, [ORDERS])
    placed: list[int] = []

    def place_orders() -> None:
        # One at a time, each order's NOTIFY waking both workers, which race for whatever room
        # the limit leaves; a little slower than two slots clear them, so an order mostly finds
        # room, yet often while another runs.
        with httpx.Client(base_url=api.url, headers=AUTH, timeout=30) as http:
            for _ in range(ORDERS):
                placed.append(http.post("/api/v1/orders", json={"product_id": product, "quantity": 1}).status_code)
                time.sleep(0.3)

    placing = threading.Thread(target=place_orders)
    placing.start()
    most, owners, processed = 0, set(), 0
    deadline = time.monotonic() + 40
    while processed < ORDERS and time.monotonic() < deadline:
        rows = sql.execute(
            "select lease_owner from jobs where kind = 'process_order' and status = 'running'"
        ).fetchall()
        most = max(most, len(rows))
        owners |= {owner for (owner,) in rows}
        processed = sql.execute("select count(*) from orders where status = 'processed'").fetchone()[0]
        time.sleep(0.02)
    placing.join()
    assert placed == [202] * ORDERS
    assert processed == ORDERS, sql.execute("select status, count(*) from orders group by 1").fetchall()
    assert most == LIMIT, most  # reached, and never passed by the two workers together
    assert len(owners) == 2, owners  # both workers ran some: the limit held between them
    metrics = httpx.get(f"{api.url}/metrics", headers=AUTH).text
    assert 'invorder_queue_kind_max_running{kind="process_order"} 2.0' in metrics
