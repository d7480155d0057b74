"""Fulfillments, refunds and cancelling a paid order over HTTP, without workers: bounds under
the order's lock, the required Idempotency-Key, restocks in the ledger, and the events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from invorder.orders.refunding import RefundPolicy, RefundProcessor
from invorder.payments.client import PaymentsClient
from invorder.payments.gateway import CircuitBreaker, PaymentGateway
from invorder.queue import Job, JobContext, Snooze
from tests.integration.test_access import bearer, make_key
from tests.integration.test_reconcile import with_pool
from tests.support.handmade import charge, make_order, make_product, stock
from tests.support.processes import LiveProcess

ORDERS = "/api/v1/orders"


def paid_order(sql: Any, items: dict[int, int]) -> int:
    """A processed order holding a succeeded charge, its units deducted."""
    order_id = make_order(sql, items, status="processed", payment_status="succeeded")
    sql.execute("update orders set charge_id = %s where id = %s", (f"ch_test_{order_id}", order_id))
    return order_id


def refund(client: Any, order_id: int, body: dict[str, Any], key: str = "k1", **headers: str) -> Any:
    return client.post(f"{ORDERS}/{order_id}/refunds", json=body, headers={"Idempotency-Key": key, **headers})


def written(sql: Any) -> tuple[int, ...]:
    """Counts of everything a refund or a fulfillment writes."""
    return tuple(
        sql.execute(
            """
            select (select count(*) from refunds), (select count(*) from refund_items),
                (select count(*) from fulfillments), (select count(*) from stock_movements),
                (select count(*) from jobs), (select count(*) from events),
                (select coalesce(sum(fulfilled_quantity + refunded_quantity + cancelled_quantity
                    + returned_quantity), 0) from order_items)
            """
        ).fetchone()
    )


@pytest.fixture
def shop(client: Any, sql: Any) -> dict[str, int]:
    a, b = make_product(sql, price=300, on_hand=10), make_product(sql, price=1000, on_hand=10)
    return {"a": a, "b": b, "order": paid_order(sql, {a: 3, b: 1})}


def test_fulfillment_ships_units_and_moves_the_fulfillment_status(client: Any, sql: Any, shop: dict[str, int]) -> None:
    a, b, order_id = shop["a"], shop["b"], shop["order"]
    first = client.post(
        f"{ORDERS}/{order_id}/fulfillments",
        json={"items": [{"product_id": a, "quantity": 2}], "carrier": "DHL", "tracking_number": "T1"},
    )
    assert first.status_code == 201, first.text
    data = first.json()["data"]
    assert data["items"] == [{"product_id": a, "quantity": 2}] and data["carrier"] == "DHL"
    order = client.get(f"{ORDERS}/{order_id}").json()
    assert order["fulfillment_status"] == "partially_fulfilled"
    assert [(i["product_id"], i["fulfilled_quantity"]) for i in order["items"]] == [(a, 2), (b, 0)]
    rest = client.post(f"{ORDERS}/{order_id}/fulfillments", json={})
    assert rest.status_code == 201
    assert sorted((i["product_id"], i["quantity"]) for i in rest.json()["data"]["items"]) == [(a, 1), (b, 1)]
    assert client.get(f"{ORDERS}/{order_id}").json()["fulfillment_status"] == "fulfilled"
    again = client.post(f"{ORDERS}/{order_id}/fulfillments", json={})
    assert again.status_code == 409
    listed = client.get(f"{ORDERS}/{order_id}/fulfillments").json()["data"]
    assert [f["id"] for f in listed] == [data["id"], rest.json()["data"]["id"]]
    types = [
        t for (t,) in sql.execute("select type from events where type like 'fulfillment.%' or type like 'order.f%'")
    ]
    assert types == ["fulfillment.created", "fulfillment.created", "order.fulfilled"]


def test_fulfillment_refusals_write_nothing(client: Any, sql: Any, shop: dict[str, int]) -> None:
    a, order_id = shop["a"], shop["order"]
    pending = make_order(sql, {a: 1})
    before = written(sql)
    too_many = client.post(f"{ORDERS}/{order_id}/fulfillments", json={"items": [{"product_id": a, "quantity": 4}]})
    assert too_many.status_code == 422, too_many.text
    other = client.post(f"{ORDERS}/{order_id}/fulfillments", json={"items": [{"product_id": 999999, "quantity": 1}]})
    assert other.status_code == 422
    assert client.post(f"{ORDERS}/{pending}/fulfillments", json={}).status_code == 409
    assert client.post(f"{ORDERS}/424242/fulfillments", json={}).status_code == 404
    assert client.post(f"{ORDERS}/{order_id}/fulfillments", json={"items": [], "x": 1}).status_code == 400
    assert written(sql) == before


def test_refund_by_amount_is_pending_with_its_job_and_event(client: Any, sql: Any, shop: dict[str, int]) -> None:
    order_id = shop["order"]
    response = refund(client, order_id, {"amount_cents": 500, "reason": "requested_by_customer", "note": "sorry"})
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert response.headers["location"] == f"/api/v1/refunds/{data['id']}"
    assert (data["status"], data["amount_cents"], data["items"], data["reason"]) == (
        "pending",
        500,
        [],
        "requested_by_customer",
    )
    assert client.get(f"/api/v1/refunds/{data['id']}").json() == data
    assert client.get(f"{ORDERS}/{order_id}/refunds").json()["data"] == [data]
    job = sql.execute("select kind, payload->>'refund_id' from jobs").fetchall()
    assert job == [("process_refund", str(data["id"]))]
    event = sql.execute("select data from events where type = 'refund.created'").fetchone()[0]
    assert event == {**data, "created_at": event["created_at"]}
    order = client.get(f"{ORDERS}/{order_id}").json()
    assert (order["refunded_cents"], order["refund_status"]) == (0, "none")  # until the provider says so


def test_refund_needs_an_idempotency_key_and_replays_it(client: Any, sql: Any, shop: dict[str, int]) -> None:
    order_id, a = shop["order"], shop["a"]
    no_key = client.post(f"{ORDERS}/{order_id}/refunds", json={"amount_cents": 100})
    assert no_key.status_code == 400
    neither = refund(client, order_id, {"reason": "other"}, key="neither")
    assert neither.status_code == 400 and neither.json()["errors"][0]["field"] == "amount_cents"
    body = {"items": [{"product_id": a, "quantity": 1, "restock": "cancel"}]}
    first = refund(client, order_id, body, key="same")
    assert first.status_code == 202
    before = written(sql)
    again = refund(client, order_id, body, key="same")
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["data"] == first.json()["data"]
    other_body = refund(client, order_id, {"amount_cents": 1}, key="same")
    assert other_body.status_code == 422
    other_order = refund(client, paid_order(sql, {a: 1}), body, key="same")
    assert other_order.status_code == 422, other_order.text
    assert written(sql)[:2] == before[:2]
    assert stock(sql, a)[0] == 10 - 3 - 1 + 1  # two paid orders, one unit restocked once


def test_restock_writes_one_ledger_row_each_naming_order_and_refund(
    client: Any, sql: Any, shop: dict[str, int]
) -> None:
    a, b, order_id = shop["a"], shop["b"], shop["order"]
    client.post(f"{ORDERS}/{order_id}/fulfillments", json={"items": [{"product_id": b, "quantity": 1}]})
    response = refund(
        client,
        order_id,
        {
            "items": [
                {"product_id": a, "quantity": 2, "restock": "cancel"},
                {"product_id": a, "quantity": 1, "restock": "none"},
                {"product_id": b, "quantity": 1, "restock": "return"},
            ]
        },
    )
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert data["amount_cents"] == 3 * 300 + 1000
    moves = client.get(f"/api/v1/inventory/{a}/movements").json()["data"]
    restocks = [m for m in moves if m["kind"] == "restock"]
    assert [(m["delta"], m["order_id"], m["refund_id"]) for m in restocks] == [(2, order_id, data["id"])]
    assert stock(sql, a)[0] == 9 and stock(sql, b)[0] == 10
    order = client.get(f"{ORDERS}/{order_id}").json()
    items = {i["product_id"]: i for i in order["items"]}
    assert (items[a]["refunded_quantity"], items[a]["restocked_quantity"]) == (3, 2)
    assert (items[b]["refunded_quantity"], items[b]["restocked_quantity"], items[b]["fulfilled_quantity"]) == (1, 1, 1)
    # a's last unit is refunded without restock but still to ship; cancelled units are not
    assert order["fulfillment_status"] == "partially_fulfilled"


@pytest.mark.parametrize(
    "body",
    [
        {"items": [{"product_id": "A", "quantity": 2, "restock": "return"}]},  # nothing shipped
        {"items": [{"product_id": "A", "quantity": 4, "restock": "cancel"}]},  # more than ordered
        {"items": [{"product_id": "A", "quantity": 4}]},
        {"items": [{"product_id": "A", "quantity": 1}], "amount_cents": 301},  # above the items' worth
        {"amount_cents": 1901},  # above the charge
        {"items": [{"product_id": 999999, "quantity": 1}]},
    ],
)
def test_refunds_past_a_bound_are_422_and_write_nothing(
    client: Any, sql: Any, shop: dict[str, int], body: dict[str, Any]
) -> None:
    for line in body.get("items", []):
        if line["product_id"] == "A":
            line["product_id"] = shop["a"]
    before, on_hand = written(sql), stock(sql, shop["a"])
    response = refund(client, shop["order"], body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"], response.json()
    assert written(sql) == before and stock(sql, shop["a"]) == on_hand


def test_refundable_amount_counts_every_refund_not_failed(client: Any, sql: Any, shop: dict[str, int]) -> None:
    order_id = shop["order"]  # charged 1900
    assert refund(client, order_id, {"amount_cents": 1500}, key="r1").status_code == 202
    assert refund(client, order_id, {"amount_cents": 401}, key="r2").status_code == 422
    sql.execute("update refunds set status = 'failed' where idempotency_key = 'r1'")
    assert refund(client, order_id, {"amount_cents": 1900}, key="r3").status_code == 202


def test_orders_not_paid_are_refused(client: Any, sql: Any, shop: dict[str, int]) -> None:
    a = shop["a"]
    assert refund(client, make_order(sql, {a: 1}), {"amount_cents": 1}).status_code == 409
    failed = make_order(sql, {a: 1}, status="failed", payment_status="declined")
    assert refund(client, failed, {"amount_cents": 1}).status_code == 422
    cancelled = make_order(sql, {a: 1}, status="cancelled")
    assert refund(client, cancelled, {"amount_cents": 1}).status_code == 422


def test_cancelling_a_paid_order_refunds_everything_and_restocks(client: Any, sql: Any, shop: dict[str, int]) -> None:
    a, b, order_id = shop["a"], shop["b"], shop["order"]
    assert refund(client, order_id, {"amount_cents": 100}, key="partial").status_code == 202
    response = client.post(f"{ORDERS}/{order_id}/cancel")
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert data["status"] == "cancelled" and data["fulfillment_status"] == "unfulfilled"
    whole = client.get(f"/api/v1/refunds/{data['refund_id']}").json()
    assert whole["amount_cents"] == 1800
    assert sorted((i["product_id"], i["quantity"], i["restock"]) for i in whole["items"]) == [
        (a, 3, "cancel"),
        (b, 1, "cancel"),
    ]
    assert stock(sql, a)[0] == 10 and stock(sql, b)[0] == 10
    assert client.post(f"{ORDERS}/{order_id}/cancel").status_code == 409
    types = [
        t for (t,) in sql.execute("select type from events where subject_id = %s and type like 'order.%%'", (order_id,))
    ]
    assert "order.cancelled" in types


def test_cancelling_a_paid_order_needs_refunds_write_and_nothing_shipped(
    client: Any, sql: Any, shop: dict[str, int]
) -> None:
    a, order_id = shop["a"], shop["order"]
    key = make_key(client, "default", "orders:write", "orders:read")
    before = written(sql)
    refused = client.post(f"{ORDERS}/{order_id}/cancel", headers=bearer(key))
    assert refused.status_code == 403 and "refunds:write" in refused.json()["detail"]
    assert written(sql) == before
    client.post(f"{ORDERS}/{order_id}/fulfillments", json={"items": [{"product_id": a, "quantity": 1}]})
    assert client.post(f"{ORDERS}/{order_id}/cancel").status_code == 409


def test_cancelling_an_order_refunded_in_full_is_409(client: Any, sql: Any, shop: dict[str, int]) -> None:
    order_id = shop["order"]
    assert refund(client, order_id, {"amount_cents": 1900}).status_code == 202
    before = written(sql)
    refused = client.post(f"{ORDERS}/{order_id}/cancel")
    assert refused.status_code == 409 and "adjust" in refused.json()["detail"]
    assert written(sql) == before


def test_cancelling_a_paid_order_whose_stock_row_is_gone_refunds_without_restock(
    client: Any, sql: Any, shop: dict[str, int]
) -> None:
    a, b, order_id = shop["a"], shop["b"], shop["order"]
    assert client.delete(f"/api/v1/inventory/{a}").status_code == 200
    response = client.post(f"{ORDERS}/{order_id}/cancel")
    assert response.status_code == 202, response.text
    whole = client.get(f"/api/v1/refunds/{response.json()['data']['refund_id']}").json()
    assert sorted((i["product_id"], i["quantity"], i["restock"]) for i in whole["items"]) == [
        (a, 3, "none"),
        (b, 1, "cancel"),
    ]
    assert whole["amount_cents"] == 1900 and stock(sql, b)[0] == 10


def test_order_cancelled_event_shows_the_cancel_refunds_counts(client: Any, sql: Any, shop: dict[str, int]) -> None:
    a, order_id = shop["a"], shop["order"]
    shown = client.post(f"{ORDERS}/{order_id}/cancel").json()["data"]
    data = sql.execute(
        "select data from events where type = 'order.cancelled' and subject_id = %s", (order_id,)
    ).fetchone()[0]
    items = {i["product_id"]: i for i in data["items"]}
    assert (items[a]["refunded_quantity"], items[a]["restocked_quantity"]) == (3, 3)
    assert data["status"] == "cancelled" and data["items"] == shown["items"]
    types = [t for (t,) in sql.execute("select type from events where type in ('refund.created', 'order.cancelled')")]
    assert types == ["refund.created", "order.cancelled"]


def test_an_ops_key_replays_its_own_key_on_another_clients_order(client: Any, sql: Any) -> None:
    shopper = bearer(make_key(client, "shopper", "orders:write", "orders:read"))
    a = make_product(sql, price=300, on_hand=10)
    placed = client.post(ORDERS, json={"product_id": a, "quantity": 2}, headers=shopper).json()["data"]["id"]
    sql.execute(
        "update orders set status = 'processed', payment_status = 'succeeded', charge_id = 'ch_x' where id = %s",
        (placed,),
    )
    first = refund(client, placed, {"amount_cents": 100}, key="ops-key")  # the admin token: client default
    assert first.status_code == 202, first.text
    again = refund(client, placed, {"amount_cents": 100}, key="ops-key")
    assert again.status_code == 202 and again.json()["data"]["id"] == first.json()["data"]["id"]
    assert again.headers["idempotent-replayed"] == "true"
    # the order's client never sent this key: it is free for its own refund
    shopper_refunds = bearer(make_key(client, "shopper", "refunds:write", "orders:read"))
    own = refund(client, placed, {"amount_cents": 100}, key="ops-key", **shopper_refunds)
    assert own.status_code == 202 and own.json()["data"]["id"] != first.json()["data"]["id"]
    assert client.get(f"/api/v1/refunds/{first.json()['data']['id']}", headers=shopper).status_code == 200


def test_a_refused_refund_request_stays_pending_until_the_provider_says(
    client: Any, sql: Any, database_url: str, payments_sim: LiveProcess
) -> None:
    """A 4xx is not the provider's word on the refund: it stays pending, asked again later."""
    a = make_product(sql, price=500, on_hand=10)
    order_id = paid_order(sql, {a: 2})
    made = charge(payments_sim.url, order_id, 1000, sql=sql)
    sql.execute("update orders set charge_id = %s where id = %s", (made.id, order_id))
    refund_id = refund(client, order_id, {"amount_cents": 600}).json()["data"]["id"]

    async def refund_elsewhere() -> None:  # leaves 400 of the charge: our 600 is refused (422)
        async with PaymentsClient(payments_sim.url) as provider:
            await provider.refund(idempotency_key="outside", charge_id=made.id, amount_cents=600)

    asyncio.run(refund_elsewhere())
    job = sql.execute("select id, payload, created_at from jobs where kind = 'process_refund'").fetchone()

    async def run_job(pool: Any) -> Any:
        async with PaymentsClient(payments_sim.url) as provider:
            processor = RefundProcessor(RefundPolicy(0.1, 0.2), PaymentGateway(provider, CircuitBreaker(5, 1)))
            claimed = Job(job[0], "process_refund", job[1], 100, 0, 10, job[2], 0)
            return await processor(claimed, JobContext(pool, "test"))

    outcome = with_pool(database_url, run_job)
    assert isinstance(outcome, Snooze), outcome
    status, attempts, error = sql.execute(
        "select status, attempts, last_error from refunds where id = %s", (refund_id,)
    ).fetchone()
    assert (status, attempts) == ("pending", 1) and "422" in error


def test_another_clients_refunds_and_orders_are_404(client: Any, sql: Any, shop: dict[str, int]) -> None:
    made = refund(client, shop["order"], {"amount_cents": 1}).json()["data"]
    other = bearer(make_key(client, "other", "orders:read", "refunds:write", "fulfillments:write"))
    assert client.get(f"/api/v1/refunds/{made['id']}", headers=other).status_code == 404
    assert client.get(f"{ORDERS}/{shop['order']}/refunds", headers=other).status_code == 404
    assert refund(client, shop["order"], {"amount_cents": 1}, key="x", **other).status_code == 404
    assert client.post(f"{ORDERS}/{shop['order']}/fulfillments", json={}, headers=other).status_code == 404
