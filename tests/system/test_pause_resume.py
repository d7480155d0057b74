"""Pausing a job kind, with a real API and a real worker process: nothing of the paused kind
runs, the pause is in the database (the CLI and the API see one state), and resuming runs it
all."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.processes import AUTH, LiveProcess, run_invorder, start_worker, wait_until
from tests.system.test_order_processing import make_products


@pytest.fixture
def worker(system_env: dict[str, str]) -> Iterator[LiveProcess]:
    process = start_worker(system_env, concurrency=8)
    try:
        yield process
    finally:
        process.stop()


def test_a_paused_kind_is_claimed_by_no_worker_until_it_is_resumed(
    live_api: LiveProcess, worker: LiveProcess, system_env: dict[str, str], sql: Any
) -> None:
    with httpx.Client(base_url=live_api.url, headers=AUTH, timeout=30) as http:
        [product] = make_products(live_api.url, [100])
        paused = http.post("/api/v1/ops/kinds/process_order/pause")
        assert paused.status_code == 200, paused.text
        assert paused.json()["data"] == {"kind": "process_order", "paused": True}
        assert http.post("/api/v1/ops/kinds/process_order/pause").json()["data"]["paused"] is True  # twice: no-op
        assert http.post("/api/v1/ops/kinds/no_such_kind/pause").status_code == 404

        for _ in range(10):
            assert http.post("/api/v1/orders", json={"product_id": product, "quantity": 1}).status_code == 202
        time.sleep(3)  # the worker is up and polling (every 0.5 s in tests), and NOTIFY woke it
        assert sql.execute("select status, count(*) from orders group by 1").fetchall() == [("pending", 10)]
        assert sql.execute("select status, count(*) from jobs group by 1").fetchall() == [("ready", 10)]
        stats = run_invorder("jobs", "stats", "--json", env=system_env)
        assert '"kind": "process_order"' in stats.stdout and '"paused_by"' in stats.stdout
        assert 'invorder_queue_kind_paused{kind="process_order"} 1.0' in http.get("/metrics").text

        resumed = run_invorder("jobs", "resume", "process_order", "--json", env=system_env)
        assert resumed.returncode == 0, resumed.stderr
        assert '"paused": false' in resumed.stdout
        wait_until(
            lambda: sql.execute("select count(*) from orders where status = 'processed'").fetchone()[0] == 10,
            timeout=30,
            what="the orders to be processed once resumed",
        )
        actions = http.get("/api/v1/ops/actions").json()["data"]
        assert [(a["action"], a["affected"]) for a in actions[:3]] == [("resume", 1), ("pause", 0), ("pause", 1)]
        assert http.post("/api/v1/ops/kinds/process_order/resume").json()["data"] == {
            "kind": "process_order",
            "paused": False,
        }
