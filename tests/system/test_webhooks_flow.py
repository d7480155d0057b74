"""Webhooks end to end with real processes: an API, workers SIGKILLed while 300 orders flow, and
a real receiver that verifies every delivery with standardwebhooks and answers 500 at random.
Every event reaches it at least once, duplicates share a webhook-id, and what it got agrees with
the feed."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.invariants import (
    charges_file,
    check_order_events,
    check_orders_settled,
    check_payments,
    check_stock_invariants,
    simulator_charges,
)
from tests.support.processes import AUTH, LiveProcess, start_api, start_worker, wait_until
from tests.support.webhook_receiver import Receiver
from tests.system.test_order_processing import make_products, post_while_killing_workers, wait_all_final

WEBHOOK_ENV = {
    "INVORDER_WEBHOOK_ALLOW_PRIVATE": "1",  # the receiver listens on 127.0.0.1
    "INVORDER_WEBHOOK_RETRY_BASE_S": "0.2",
    "INVORDER_WEBHOOK_RETRY_MAX_S": "1",
}


@pytest.fixture
def env(system_env: dict[str, str]) -> dict[str, str]:
    return {**system_env, **WEBHOOK_ENV}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_ratio=0.25, seed=7).start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def api(env: dict[str, str]) -> Iterator[LiveProcess]:
    process = start_api(env)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def workers() -> Iterator[list[LiveProcess]]:
    started: list[LiveProcess] = []
    yield started
    for worker in started:
        worker.stop()


def read_feed(url: str) -> list[dict[str, Any]]:
    """The whole feed from the start, as an `ops` reader sees it."""
    events: list[dict[str, Any]] = []
    after = None
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:
        while True:
            params: dict[str, Any] = {"limit": 500, **({"after": after} if after else {})}
            body = http.get("/api/v1/events", params=params).json()
            events += body["data"]
            if not body["data"]:
                return events
            after = body["next_cursor"]


def test_every_event_reaches_a_flaky_receiver_while_workers_are_killed(
    api: LiveProcess,
    env: dict[str, str],
    workers: list[LiveProcess],
    receiver: Receiver,
    payments_sim: LiveProcess,
    sql: Any,
) -> None:
    with httpx.Client(base_url=api.url, headers=AUTH) as http:
        created = http.post("/api/v1/webhook-endpoints", json={"url": receiver.url, "events": ["*"]})
        assert created.status_code == 201, created.text
        receiver.secrets = [created.json()["data"]["secret"]]
    rng = random.Random(12)
    products = make_products(api.url, [30] * 8)
    bodies = [
        {"items": [{"product_id": p, "quantity": rng.randint(1, 2)} for p in rng.sample(products, rng.randint(1, 2))]}
        for _ in range(300)
    ]
    workers += [start_worker(env, concurrency=16) for _ in range(3)]
    sent = post_while_killing_workers(
        api.url,
        bodies,
        workers,
        lambda: start_worker(env, concurrency=16),
        chunk=20,
        pause_s=0.05,
        kills=6,
        gap_s=(0.3, 0.8),
        rng=rng,
    )
    assert [r.status_code for r in sent] == [202] * len(bodies)
    wait_all_final(sql, len(bodies), timeout=180)
    wait_until(
        lambda: sql.execute("select count(*) from jobs").fetchone()[0] == 0,
        timeout=120,
        what="every delivery to be made",
        interval=0.2,
    )
    check_stock_invariants(sql)
    check_orders_settled(sql)
    check_payments(sql, simulator_charges(charges_file(payments_sim)))
    check_order_events(sql)

    feed = read_feed(api.url)
    by_id = {str(e["id"]): e for e in feed}
    assert len(by_id) == len(feed), "the feed served an event twice"
    got = receiver.received()
    assert all(d.verified_with for d in got), "a delivery did not verify"
    delivered = {d.webhook_id for d in got if 200 <= d.answered < 300}
    assert delivered == set(by_id), (
        f"missing: {sorted(set(by_id) - delivered)[:10]}, unknown: {sorted(delivered - set(by_id))[:10]}"
    )
    for d in got:  # a retry or a duplicate is the same message: same id, same event
        assert d.payload["type"] == by_id[d.webhook_id]["type"]
        assert d.payload["data"] == by_id[d.webhook_id]["data"]
    assert any(d.answered == 500 for d in got), "the receiver never failed: the retries went untested"
    ids = [d.webhook_id for d in got]
    assert len(ids) > len(set(ids)), "no event was delivered twice: the retries went untested"

    # Read from the start, the feed rebuilds every order's final status.
    rebuilt: dict[int, str] = {}
    for e in feed:
        if e["type"].startswith("order."):
            rebuilt[e["data"]["id"]] = e["data"]["status"]
    assert rebuilt == dict(sql.execute("select id, status from orders").fetchall())
    # Every attempt is on record, and the records agree with what the receiver answered.
    recorded = sql.execute(
        "select count(*) filter (where status_code between 200 and 299), count(*) from webhook_deliveries"
    ).fetchone()
    assert recorded[0] >= len(by_id)
    assert recorded[1] <= len(got)  # an attempt a SIGKILL cut short is sent but not recorded
