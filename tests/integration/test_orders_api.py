"""Orders over HTTP, without workers: placement, validation, idempotency, reads and cancel."""

from __future__ import annotations

from typing import Any

import pytest

ORDERS = "/api/v1/orders"


def product(client: Any, name: str, price: int = 250, stock: int | None = 10) -> int:
    pid = int(client.post("/api/v1/products", json={"name": name, "price_cents": price}).json()["data"]["id"])
    if stock is not None:
        client.post("/api/v1/inventory", json={"product_id": pid, "on_hand": stock})
    return pid


def test_place_order_is_202_pending_with_location_total_and_job(client: Any, sql: Any) -> None:
    a, b = product(client, "A", 250), product(client, "B", 1000)
    response = client.post(ORDERS, json={"items": [{"product_id": a, "quantity": 2}, {"product_id": b, "quantity": 1}]})
    assert response.status_code == 202
    body = response.json()
    assert body["message"] == "Order accepted"
    order = body["data"]
    assert order["status"] == "pending" and order["total_cents"] == 1500
    assert [(i["product_id"], i["quantity"], i["unit_price_cents"]) for i in order["items"]] == [
        (a, 2, 250),
        (b, 1, 1000),
    ]
    assert response.headers["location"] == f"{ORDERS}/{order['id']}"
    job = sql.execute("select kind, payload->>'order_id', status from jobs").fetchone()
    assert job == ("process_order", str(order["id"]), "ready")
    logs = client.get(f"{ORDERS}/{order['id']}/logs").json()["data"]
    assert [entry["status"] for entry in logs] == ["placed"]


def test_placement_wakes_listening_workers_when_it_commits(client: Any, sql: Any) -> None:
    a = product(client, "A")
    sql.execute("listen invorder_jobs")
    client.post(ORDERS, json={"product_id": a, "quantity": 1})
    woken = list(sql.notifies(timeout=5, stop_after=1))
    assert [(n.channel, n.payload) for n in woken] == [("invorder_jobs", "process_order")]


def test_one_line_form_is_accepted(client: Any) -> None:
    a = product(client, "A")
    response = client.post(ORDERS, json={"product_id": a, "quantity": 3, "customer_ref": "c-1"})
    assert response.status_code == 202
    assert response.json()["data"]["items"][0]["quantity"] == 3
    assert response.json()["data"]["customer_ref"] == "c-1"


def test_prices_are_fixed_when_the_order_is_placed(client: Any) -> None:
    a = product(client, "A", 100)
    order_id = client.post(ORDERS, json={"product_id": a, "quantity": 1}).json()["data"]["id"]
    client.patch(f"/api/v1/products/{a}", json={"price_cents": 999})
    order = client.get(f"{ORDERS}/{order_id}").json()
    assert order["total_cents"] == 100 and order["items"][0]["unit_price_cents"] == 100


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"items": []},
        {"items": [{"product_id": 1, "quantity": 0}]},
        {"items": [{"product_id": 1, "quantity": -1}]},
        {"items": [{"product_id": 1}]},
        {"items": [{"product_id": "1", "quantity": 1}]},
        {"product_id": 1},
        {"product_id": 1, "quantity": 1, "items": [{"product_id": 1, "quantity": 1}]},
        {"items": [{"product_id": 1, "quantity": 1, "colour": "red"}]},
        {"items": [{"product_id": 1, "quantity": 1}], "coupon": "x"},
        {"items": [{"product_id": 424242, "quantity": 1}]},
        {"items": "lots"},
    ],
)
def test_bad_orders_are_4xx_at_once_and_write_nothing(client: Any, sql: Any, body: Any) -> None:
    product(client, "A")
    response = client.post(ORDERS, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert sql.execute("select (select count(*) from orders), (select count(*) from jobs)").fetchone() == (0, 0)


def test_deleted_product_cannot_be_ordered_and_old_orders_keep_it(client: Any) -> None:
    a = product(client, "A")
    old = client.post(ORDERS, json={"product_id": a, "quantity": 1}).json()["data"]["id"]
    client.delete(f"/api/v1/products/{a}")
    response = client.post(ORDERS, json={"product_id": a, "quantity": 1})
    assert response.status_code == 422
    assert client.get(f"{ORDERS}/{old}").json()["items"][0]["product_id"] == a


def test_same_idempotency_key_and_body_replays_the_first_order(client: Any, sql: Any) -> None:
    a = product(client, "A")
    first = client.post(ORDERS, json={"product_id": a, "quantity": 1}, headers={"Idempotency-Key": "k-1"})
    again = client.post(ORDERS, json={"items": [{"product_id": a, "quantity": 1}]}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert sql.execute("select count(*) from orders").fetchone()[0] == 1
    assert sql.execute("select count(*) from jobs").fetchone()[0] == 1


def test_same_idempotency_key_with_another_body_is_422(client: Any, sql: Any) -> None:
    a = product(client, "A")
    client.post(ORDERS, json={"product_id": a, "quantity": 1}, headers={"Idempotency-Key": "k-2"})
    response = client.post(ORDERS, json={"product_id": a, "quantity": 2}, headers={"Idempotency-Key": "k-2"})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]
    assert sql.execute("select count(*) from orders").fetchone()[0] == 1


def test_get_order_shows_processing_fields(client: Any) -> None:
    a = product(client, "A")
    order_id = client.post(ORDERS, json={"product_id": a, "quantity": 1}).json()["data"]["id"]
    order = client.get(f"{ORDERS}/{order_id}").json()
    assert {"items", "total_cents", "status", "attempts", "next_attempt_at", "payment", "last_error"} <= order.keys()
    assert order["payment"] == {"status": "none", "attempts": 0, "charge_id": None}
    assert client.get(f"{ORDERS}/999999").status_code == 404


def test_wait_returns_after_the_deadline_when_nothing_happens(client: Any) -> None:
    a = product(client, "A")
    order_id = client.post(ORDERS, json={"product_id": a, "quantity": 1}).json()["data"]["id"]
    assert client.get(f"{ORDERS}/{order_id}", params={"wait": 0.3}).json()["status"] == "pending"
    for bad in ("31", "-1", "soon"):
        assert client.get(f"{ORDERS}/{order_id}", params={"wait": bad}).status_code == 400


def test_list_filters_by_status_and_pages(client: Any) -> None:
    a = product(client, "A")
    ids = [client.post(ORDERS, json={"product_id": a, "quantity": 1}).json()["data"]["id"] for _ in range(5)]
    client.post(f"{ORDERS}/{ids[1]}/cancel")
    pending = client.get(ORDERS, params={"status": "pending", "limit": 2}).json()
    assert [o["id"] for o in pending["data"]] == [ids[0], ids[2]]
    rest = client.get(ORDERS, params={"status": "pending", "cursor": pending["next_cursor"]}).json()
    assert [o["id"] for o in rest["data"]] == ids[3:]
    assert [o["id"] for o in client.get(ORDERS, params={"status": "cancelled"}).json()["data"]] == [ids[1]]
    assert client.get(ORDERS, params={"status": "lost"}).status_code == 400


def test_cancel_pending_order_then_cancel_again_is_409(client: Any, sql: Any) -> None:
    a = product(client, "A")
    order_id = client.post(ORDERS, json={"product_id": a, "quantity": 1}).json()["data"]["id"]
    response = client.post(f"{ORDERS}/{order_id}/cancel")
    assert response.status_code == 200
    assert response.json()["message"] == "Order cancelled"
    assert response.json()["data"]["status"] == "cancelled"
    assert client.post(f"{ORDERS}/{order_id}/cancel").status_code == 409
    assert client.post(f"{ORDERS}/999999/cancel").status_code == 404
    logs = [e["status"] for e in client.get(f"{ORDERS}/{order_id}/logs").json()["data"]]
    assert logs == ["placed", "cancelled"]


def test_cancel_releases_a_reservation(client: Any, sql: Any) -> None:
    a = product(client, "A", stock=5)
    order_id = client.post(ORDERS, json={"product_id": a, "quantity": 2}).json()["data"]["id"]
    sql.execute("update orders set status = 'reserved' where id = %s", (order_id,))
    sql.execute("update inventory set reserved = 2 where product_id = %s", (a,))
    assert client.post(f"{ORDERS}/{order_id}/cancel").status_code == 200
    assert client.get(f"/api/v1/inventory/{a}").json()["reserved"] == 0


def test_cancel_after_a_charge_was_attempted_is_409(client: Any, sql: Any) -> None:
    a = product(client, "A")
    order_id = client.post(ORDERS, json={"product_id": a, "quantity": 1}).json()["data"]["id"]
    sql.execute("update orders set status = 'reserved', payment_status = 'unknown' where id = %s", (order_id,))
    sql.execute("update inventory set reserved = 1 where product_id = %s", (a,))
    assert client.post(f"{ORDERS}/{order_id}/cancel").status_code == 409
    assert client.get(f"{ORDERS}/{order_id}").json()["status"] == "reserved"
