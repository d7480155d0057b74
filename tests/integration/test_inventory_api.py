"""Inventory over HTTP: levels, adjustments, the ledger and the reserved rules of SPEC.md."""

from __future__ import annotations

from typing import Any

import pytest

INV = "/api/v1/inventory"


def product(client: Any, name: str = "Widget") -> int:
    response = client.post("/api/v1/products", json={"name": name, "price_cents": 100})
    assert response.status_code == 201
    return int(response.json()["data"]["id"])


def stocked(client: Any, on_hand: int = 10, name: str = "Widget") -> int:
    pid = product(client, name)
    assert client.post(INV, json={"product_id": pid, "on_hand": on_hand}).status_code == 201
    return pid


def ledger_sum(sql: Any, pid: int) -> int:
    return int(
        sql.execute("select coalesce(sum(delta), 0) from stock_movements where product_id = %s", (pid,)).fetchone()[0]
    )


def test_create_inventory_is_201_with_levels_and_ledger_row(client: Any, sql: Any) -> None:
    pid = product(client)
    response = client.post(INV, json={"product_id": pid, "on_hand": 7})
    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "Inventory created successfully"
    assert {k: body["data"][k] for k in ("product_id", "on_hand", "reserved", "available")} == {
        "product_id": pid,
        "on_hand": 7,
        "reserved": 0,
        "available": 7,
    }
    assert response.headers["location"] == f"{INV}/{pid}"
    assert ledger_sum(sql, pid) == 7


def test_second_inventory_for_same_product_is_409(client: Any) -> None:
    pid = stocked(client)
    assert client.post(INV, json={"product_id": pid, "on_hand": 1}).status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"product_id": 1, "on_hand": -1},
        {"product_id": 1},
        {"on_hand": 1},
        {"product_id": 1, "on_hand": "5"},
        {"product_id": 1, "on_hand": 1, "x": 1},
    ],
)
def test_bad_inventory_body_is_4xx(client: Any, body: dict[str, Any]) -> None:
    product(client)
    response = client.post(INV, json=body)
    assert 400 <= response.status_code < 500
    assert client.get(f"{INV}/1").status_code == 404


def test_inventory_for_missing_or_deleted_product_is_404(client: Any) -> None:
    assert client.post(INV, json={"product_id": 9999, "on_hand": 1}).status_code == 404
    pid = product(client)
    client.delete(f"/api/v1/products/{pid}")
    assert client.post(INV, json={"product_id": pid, "on_hand": 1}).status_code == 404


def test_get_inventory_has_all_fields_and_etag(client: Any) -> None:
    pid = stocked(client, 5)
    response = client.get(f"{INV}/{pid}")
    assert response.status_code == 200
    assert set(response.json()) == {
        "product_id",
        "on_hand",
        "reserved",
        "available",
        "reorder_point",
        "version",
        "updated_at",
        "locations",
    }
    assert response.json()["reorder_point"] is None
    assert response.headers["etag"] == '"1"'
    assert client.get(f"{INV}/123456").status_code == 404


def test_list_below_shows_low_stock_only(client: Any) -> None:
    low = stocked(client, 2, "Low")
    stocked(client, 50, "High")
    rows = client.get(INV, params={"below": 10}).json()["data"]
    assert [r["product_id"] for r in rows] == [low]
    assert len(client.get(INV).json()["data"]) == 2
    assert client.get(INV, params={"below": -1}).status_code == 400


def test_patch_sets_absolute_level_and_writes_ledger(client: Any, sql: Any) -> None:
    pid = stocked(client, 10)
    response = client.patch(f"{INV}/{pid}", json={"on_hand": 3})
    assert response.status_code == 200
    assert response.json()["data"]["on_hand"] == 3
    assert ledger_sum(sql, pid) == 3
    kinds = [m["kind"] for m in client.get(f"{INV}/{pid}/movements").json()["data"]]
    assert kinds == ["initial", "set"]


def test_patch_with_stale_if_match_is_412(client: Any) -> None:
    pid = stocked(client, 10)
    assert client.patch(f"{INV}/{pid}", json={"on_hand": 4}, headers={"If-Match": '"1"'}).status_code == 200
    assert client.patch(f"{INV}/{pid}", json={"on_hand": 5}, headers={"If-Match": '"1"'}).status_code == 412
    assert client.get(f"{INV}/{pid}").json()["on_hand"] == 4


def test_adjustments_are_relative_and_logged_with_reason(client: Any, sql: Any) -> None:
    pid = stocked(client, 10)
    response = client.post(f"{INV}/{pid}/adjustments", json={"delta": -4, "reason": "damaged"})
    assert response.status_code == 201
    assert response.json()["data"]["on_hand"] == 6
    client.post(f"{INV}/{pid}/adjustments", json={"delta": 5, "reason": "delivery"})
    movements = client.get(f"{INV}/{pid}/movements").json()["data"]
    assert [(m["delta"], m["reason"], m["on_hand_after"]) for m in movements][1:] == [
        (-4, "damaged", 6),
        (5, "delivery", 11),
    ]
    assert ledger_sum(sql, pid) == 11


def test_adjustment_below_zero_is_409_and_changes_nothing(client: Any, sql: Any) -> None:
    pid = stocked(client, 3)
    response = client.post(f"{INV}/{pid}/adjustments", json={"delta": -4, "reason": "x"})
    assert response.status_code == 409
    assert client.get(f"{INV}/{pid}").json()["on_hand"] == 3
    assert ledger_sum(sql, pid) == 3


def test_on_hand_never_below_reserved(client: Any, sql: Any) -> None:
    pid = stocked(client, 10)
    sql.execute("update inventory set reserved = 6 where product_id = %s", (pid,))
    assert client.post(f"{INV}/{pid}/adjustments", json={"delta": -5, "reason": "x"}).status_code == 409
    assert client.patch(f"{INV}/{pid}", json={"on_hand": 5}).status_code == 409
    assert client.post(f"{INV}/{pid}/adjustments", json={"delta": -4, "reason": "x"}).status_code == 201
    inv = client.get(f"{INV}/{pid}").json()
    assert (inv["on_hand"], inv["reserved"], inv["available"]) == (6, 6, 0)


def test_delete_inventory_is_409_while_reserved_then_200(client: Any, sql: Any) -> None:
    pid = stocked(client, 10)
    sql.execute("update inventory set reserved = 1 where product_id = %s", (pid,))
    assert client.delete(f"{INV}/{pid}").status_code == 409
    sql.execute("update inventory set reserved = 0 where product_id = %s", (pid,))
    response = client.delete(f"{INV}/{pid}")
    assert response.status_code == 200 and response.json()["message"] == "Inventory deleted successfully"
    assert client.get(f"{INV}/{pid}").status_code == 404
    assert ledger_sum(sql, pid) == 0  # the history stays, balanced by a `removed` movement
    assert client.post(INV, json={"product_id": pid, "on_hand": 4}).status_code == 201
    assert ledger_sum(sql, pid) == 4


def test_bad_adjustment_bodies_are_4xx(client: Any) -> None:
    pid = stocked(client, 3)
    for body in (
        {"delta": 1},
        {"reason": "x"},
        {"delta": "1", "reason": "x"},
        {"delta": 1, "reason": ""},
        {"delta": 1.5, "reason": "x"},
    ):
        assert client.post(f"{INV}/{pid}/adjustments", json=body).status_code == 400
    assert client.post(f"{INV}/999/adjustments", json={"delta": 1, "reason": "x"}).status_code == 404
    assert client.get(f"{INV}/{pid}").json()["on_hand"] == 3


def test_movements_of_missing_inventory_is_404(client: Any) -> None:
    assert client.get(f"{INV}/4242/movements").status_code == 404
