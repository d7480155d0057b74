"""The delivery handler in-process, against a real PostgreSQL and a real HTTP receiver: each
delivery is signed per Standard Webhooks and verifies, failures are recorded and retried with
backoff, a 410 or the end of the retry window disables the endpoint, and a rotated secret signs
alongside the previous one."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from invorder import db
from invorder.queue import Complete, Job, JobContext, Outcome, Snooze
from invorder.webhooks.delivery import DeliveryPolicy, WebhookDeliverer
from tests.support.webhook_receiver import Receiver

POLICY = DeliveryPolicy(
    connect_timeout_s=1,
    read_timeout_s=2,
    retry_base_s=10,
    retry_max_s=3600,
    window_s=3 * 86400,
    allow_private=True,
    max_in_flight=8,
)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()


def add_endpoint(sql: Any, url: str, secret: str, events: list[str] | None = None) -> int:
    row = sql.execute(
        "insert into webhook_endpoints (client_id, all_clients, url, events, secret)"
        " values (1, true, %s, %s, %s) returning id",
        (url, events or ["*"], secret),
    ).fetchone()
    return int(row[0])


def delivery_jobs(sql: Any) -> list[Job]:
    rows = sql.execute(
        "select id, kind, payload, priority, attempts, max_attempts, created_at, 0 from jobs"
        " where kind = 'deliver_webhook' order by id"
    ).fetchall()
    return [Job(*row) for row in rows]


def deliver(database_url: str, jobs: list[Job], policy: DeliveryPolicy = POLICY) -> list[Outcome]:
    async def main() -> list[Outcome]:
        pool = db.open_pool(database_url, min_size=1, max_size=2)
        await pool.open(wait=True)
        handler = WebhookDeliverer(policy)
        try:
            return await handler(jobs, JobContext(pool=pool, worker_id="test"))
        finally:
            await handler.aclose()
            await pool.close()

    return asyncio.run(main())


def test_a_delivery_is_signed_and_verifies_and_its_attempt_is_recorded(
    database_url: str, sql: Any, receiver: Receiver
) -> None:
    secret = new_secret()
    receiver.secrets = [secret]
    endpoint = add_endpoint(sql, receiver.url, secret)
    sql.execute("insert into products (name, price_cents) values ('Signed lamp', 500)")
    jobs = delivery_jobs(sql)
    assert len(jobs) == 1 and jobs[0].payload["endpoint_id"] == endpoint

    assert deliver(database_url, jobs) == [Complete()]

    [got] = receiver.received()
    event_id, event_type = sql.execute("select id, type from events").fetchone()
    assert got.verified_with == [secret]
    assert got.webhook_id == str(event_id)
    assert abs(int(got.headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 60
    assert got.payload["type"] == event_type == "product.created"
    assert got.payload["data"]["name"] == "Signed lamp"
    assert set(got.payload) == {"type", "timestamp", "data"}
    # A consumer that changes one byte of the body no longer verifies it.
    tampered = got.body.replace(b"Signed lamp", b"Signed lamb")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, got.headers)
    assert sql.execute(
        "select attempt, status_code, error, latency_ms >= 0 from webhook_deliveries where endpoint_id = %s",
        (endpoint,),
    ).fetchall() == [(1, 200, None, True)]


def test_a_failed_delivery_is_recorded_and_retried_within_ten_seconds(
    database_url: str, sql: Any, receiver: Receiver
) -> None:
    receiver.status = 500
    endpoint = add_endpoint(sql, receiver.url, new_secret())
    sql.execute("insert into products (name, price_cents) values ('Failing lamp', 500)")
    jobs = delivery_jobs(sql)
    [outcome] = deliver(database_url, jobs)
    assert isinstance(outcome, Snooze) and 0 < outcome.delay_s <= 10
    [second] = deliver(database_url, jobs)  # the next try of the same job waits longer
    assert isinstance(second, Snooze) and 10 <= second.delay_s <= 20
    assert sql.execute(
        "select attempt, status_code, error from webhook_deliveries where endpoint_id = %s order by id", (endpoint,)
    ).fetchall() == [(1, 500, "answered 500"), (2, 500, "answered 500")]
    assert len(receiver.received()) == 2
    assert len({d.webhook_id for d in receiver.received()}) == 1  # a retry is the same message


def test_an_endpoint_answering_410_is_disabled(database_url: str, sql: Any, receiver: Receiver) -> None:
    receiver.status = 410
    endpoint = add_endpoint(sql, receiver.url, new_secret())
    sql.execute("insert into products (name, price_cents) values ('Gone lamp', 500)")
    assert deliver(database_url, delivery_jobs(sql)) == [Complete()]
    enabled, reason = sql.execute(
        "select enabled, disabled_reason from webhook_endpoints where id = %s", (endpoint,)
    ).fetchone()
    assert (enabled, reason) == (False, "the endpoint answered 410 Gone")
    # Its next events make no delivery job, and one already queued sends nothing.
    sql.execute("insert into products (name, price_cents) values ('Unheard lamp', 500)")
    assert len(delivery_jobs(sql)) == 1


def test_failures_past_the_retry_window_give_up_and_disable_the_endpoint(
    database_url: str, sql: Any, receiver: Receiver
) -> None:
    receiver.status = 503
    endpoint = add_endpoint(sql, receiver.url, new_secret())
    sql.execute("insert into products (name, price_cents) values ('Stale lamp', 500)")
    [job] = delivery_jobs(sql)
    old = replace_created_at(job, datetime.now(UTC) - timedelta(days=3, minutes=1))
    assert deliver(database_url, [old]) == [Complete()]
    enabled, reason = sql.execute(
        "select enabled, disabled_reason from webhook_endpoints where id = %s", (endpoint,)
    ).fetchone()
    assert not enabled and "retry window" in reason and "answered 503" in reason
    [error] = sql.execute("select error from webhook_deliveries where endpoint_id = %s", (endpoint,)).fetchone()
    assert "given up" in error


def test_after_rotation_deliveries_verify_with_the_new_secret_and_for_a_day_the_old(
    database_url: str, sql: Any, receiver: Receiver
) -> None:
    old, new = new_secret(), new_secret()
    receiver.secrets = [new, old]
    endpoint = add_endpoint(sql, receiver.url, old)
    sql.execute(
        "update webhook_endpoints set secret = %s, previous_secret = %s,"
        " previous_secret_expires_at = now() + interval '24 hours' where id = %s",
        (new, old, endpoint),
    )
    sql.execute("insert into products (name, price_cents) values ('Rotated lamp', 500)")
    deliver(database_url, delivery_jobs(sql))
    assert receiver.received()[-1].verified_with == [new, old]
    assert len(receiver.received()[-1].headers["webhook-signature"].split(" ")) == 2

    sql.execute("update webhook_endpoints set previous_secret_expires_at = now() where id = %s", (endpoint,))
    sql.execute("delete from jobs where kind = 'deliver_webhook'")
    sql.execute("insert into products (name, price_cents) values ('Rotated lamp 2', 500)")
    deliver(database_url, delivery_jobs(sql))
    assert receiver.received()[-1].verified_with == [new]


def test_a_private_address_is_refused_at_delivery_time_without_connecting(database_url: str, sql: Any) -> None:
    endpoint = add_endpoint(sql, "http://10.0.0.1/hooks", new_secret())  # as if saved before a policy change
    sql.execute("insert into products (name, price_cents) values ('Private lamp', 500)")
    strict = replace(POLICY, allow_private=False)
    [outcome] = deliver(database_url, delivery_jobs(sql), strict)
    assert isinstance(outcome, Snooze)
    status, error, latency = sql.execute(
        "select status_code, error, latency_ms from webhook_deliveries where endpoint_id = %s", (endpoint,)
    ).fetchone()
    assert status is None and latency is None and error.startswith("refused")


def test_a_delivery_whose_endpoint_was_deleted_completes_quietly(
    database_url: str, sql: Any, receiver: Receiver
) -> None:
    endpoint = add_endpoint(sql, receiver.url, new_secret())
    sql.execute("insert into products (name, price_cents) values ('Orphan lamp', 500)")
    sql.execute("delete from webhook_endpoints where id = %s", (endpoint,))
    assert deliver(database_url, delivery_jobs(sql)) == [Complete()]
    assert receiver.received() == []


def replace_created_at(job: Job, moment: datetime) -> Job:
    return msgspec.structs.replace(job, created_at=moment)


def test_body_is_compact_json(database_url: str, sql: Any, receiver: Receiver) -> None:
    secret = new_secret()
    add_endpoint(sql, receiver.url, secret, events=["product.created"])
    sql.execute("insert into products (name, price_cents) values ('Json lamp', 500)")
    deliver(database_url, delivery_jobs(sql))
    body = receiver.received()[0].body
    assert json.loads(body)["data"]["price_cents"] == 500
    assert receiver.received()[0].headers["content-type"] == "application/json"


def test_rotating_the_secret_through_the_api_signs_the_next_delivery_with_the_new_one(
    client: Any, database_url: str, sql: Any, receiver: Receiver
) -> None:
    created = client.post("/api/v1/webhook-endpoints", json={"url": receiver.url, "events": ["product.created"]})
    assert created.status_code == 201, created.text
    endpoint = created.json()["data"]
    rotated = client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["data"]["secret"]
    assert new != endpoint["secret"]
    receiver.secrets = [new]
    sql.execute("insert into products (name, price_cents) values ('After rotation', 500)")
    deliver(database_url, delivery_jobs(sql))
    [got] = receiver.received()
    assert got.verified_with == [new]
    with pytest.raises(WebhookVerificationError):  # only the old secret's signature would not do
        Webhook(new).verify(
            got.body, {**got.headers, "webhook-signature": got.headers["webhook-signature"].split(" ")[1]}
        )


def test_one_event_given_up_leaves_an_endpoint_that_delivers_others_enabled(
    database_url: str, sql: Any, receiver: Receiver
) -> None:
    endpoint = add_endpoint(sql, receiver.url, new_secret())
    sql.execute(
        "insert into webhook_deliveries (endpoint_id, event_id, attempt, status_code) values (%s, 0, 1, 204)",
        (endpoint,),
    )  # it delivered another event an hour ago
    receiver.status = 422  # and refuses this one, for ever
    sql.execute("insert into products (name, price_cents) values ('Refused lamp', 500)")
    [job] = delivery_jobs(sql)
    old = replace_created_at(job, datetime.now(UTC) - timedelta(days=3, minutes=1))
    assert deliver(database_url, [old]) == [Complete()]  # given up
    enabled, reason = sql.execute(
        "select enabled, disabled_reason from webhook_endpoints where id = %s", (endpoint,)
    ).fetchone()
    assert (enabled, reason) == (True, None)
    [error] = sql.execute(
        "select error from webhook_deliveries where endpoint_id = %s and status_code = 422", (endpoint,)
    ).fetchone()
    assert "given up" in error


def test_a_redelivery_carries_the_same_webhook_id_to_every_subscribed_endpoint(
    client: Any, database_url: str, sql: Any, receiver: Receiver
) -> None:
    secret = new_secret()
    receiver.secrets = [secret]
    add_endpoint(sql, receiver.url, secret, events=["product.created"])
    add_endpoint(sql, receiver.url, secret, events=["order.placed"])  # not subscribed to it
    sql.execute("insert into products (name, price_cents) values ('Again lamp', 500)")
    deliver(database_url, delivery_jobs(sql))
    sql.execute("delete from jobs where kind = 'deliver_webhook'")  # as the worker does when done
    [event_id] = sql.execute("select id from events where type = 'product.created'").fetchone()

    answer = client.post(f"/api/v1/events/{event_id}/redeliver")
    assert answer.status_code == 202, answer.text
    assert len(answer.json()["data"]["endpoint_ids"]) == 1
    deliver(database_url, delivery_jobs(sql))
    first, again = receiver.received()
    assert first.webhook_id == again.webhook_id == str(event_id)
    assert again.verified_with == [secret] and again.payload == first.payload
    assert [r[0] for r in sql.execute("select attempt from webhook_deliveries order by id").fetchall()] == [1, 2]


def test_an_answer_that_trickles_in_is_cut_at_the_attempts_bound(
    database_url: str, sql: Any, receiver: Receiver
) -> None:
    receiver.trickle_s = 0.5  # each byte within the read timeout, the whole never
    endpoint = add_endpoint(sql, receiver.url, new_secret())
    sql.execute("insert into products (name, price_cents) values ('Slow lamp', 500)")
    [outcome] = deliver(database_url, delivery_jobs(sql))  # connect 1 s + read 2 s: 3 s at most
    assert isinstance(outcome, Snooze)
    status, error, latency = sql.execute(
        "select status_code, error, latency_ms from webhook_deliveries where endpoint_id = %s", (endpoint,)
    ).fetchone()
    assert status is None and error.startswith("no answer in time") and 2500 <= latency <= 4500
