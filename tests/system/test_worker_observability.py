"""What an operator sees of a real worker process: its heartbeat row, throughput per minute,
its Prometheus endpoint, and JSON log lines that name the job and the order."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.support.processes import free_port, start_invorder, wait_until
from tests.system.test_order_processing import api_post_all, make_products, wait_all_final


def test_a_worker_reports_heartbeat_throughput_metrics_and_ids_in_its_logs(
    system_env: dict[str, str], live_api: Any, sql: Any
) -> None:
    port = free_port()
    # A processed order writes no INFO line (the hot path logs counters, not lines): its detail
    # is at DEBUG.
    env = {**system_env, "INVORDER_LOG_LEVEL": "DEBUG"}
    worker = start_invorder(["worker", "--concurrency", "8", "--metrics-port", str(port)], env, "worker-observed")
    try:
        wait_until(
            lambda: sql.execute("select count(*) from queue_workers where stopped_at is null").fetchone()[0] == 1,
            timeout=30,
            what="the worker's first heartbeat",
        )
        (product,) = make_products(live_api.url, [100])
        responses = api_post_all(
            live_api.url, [("/api/v1/orders", {"product_id": product, "quantity": 1}, {}) for _ in range(20)]
        )
        assert {r.status_code for r in responses} == {202}
        wait_all_final(sql, 20, timeout=60)
        order_id = responses[0].json()["data"]["id"]

        wait_until(
            lambda: sql.execute("select coalesce(sum(done), 0) from job_throughput").fetchone()[0] == 20,
            timeout=30,
            what="the throughput of 20 finished jobs to be reported",
        )
        wid, done, alive = sql.execute(
            "select worker_id, jobs_done, alive from queue_workers, lateral (select stopped_at is null) as a(alive)"
        ).fetchone()
        assert (done, alive) == (20, True)

        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'invorder_jobs_claimed_total{kind="process_order"} 20.0' in text
        assert 'invorder_jobs_succeeded_total{kind="process_order"} 20.0' in text
        assert 'invorder_payment_outcomes_total{outcome="succeeded"} 20.0' in text
    finally:
        assert worker.stop() == 0

    stopped = sql.execute("select stopped_at is not null from queue_workers where worker_id = %s", [wid]).fetchone()
    assert stopped == (True,)
    lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    about_order = [line for line in lines if line.get("order_id") == order_id]
    assert about_order, "no log line names the order"
    assert all("job_id" in line and line["worker_id"] == wid for line in about_order)
    assert any(line["msg"] == f"order {order_id} paid and processed" for line in about_order)
