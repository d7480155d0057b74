"""Locations over HTTP: `default` from the migration on, create, read, list, change, and delete
only what holds no stock."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_access import bearer, make_key
from tests.support.handmade import make_product

LOCATIONS = "/api/v1/locations"


def test_default_exists_and_holds_every_stock_level(client: Any, sql: Any) -> None:
    pid = make_product(sql, on_hand=5)
    [default] = client.get(LOCATIONS).json()["data"]
    assert (default["id"], default["code"], default["priority"], default["active"]) == (1, "default", 100, True)
    assert sql.execute("select location_id from inventory where product_id = %s", (pid,)).fetchone()[0] == 1
    moves = client.get(f"/api/v1/inventory/{pid}/movements").json()["data"]
    assert [m["location_id"] for m in moves] == [1]


def test_create_read_change_and_delete_a_location(client: Any) -> None:
    made = client.post(LOCATIONS, json={"code": "store-1", "name": "Store", "priority": 10})
    assert made.status_code == 201, made.text
    data = made.json()["data"]
    assert made.headers["location"] == f"{LOCATIONS}/{data['id']}"
    assert (data["code"], data["name"], data["priority"], data["active"]) == ("store-1", "Store", 10, True)
    assert client.get(f"{LOCATIONS}/{data['id']}").json() == data
    changed = client.patch(f"{LOCATIONS}/{data['id']}", json={"active": False, "name": "Old store"})
    assert changed.status_code == 200
    assert (changed.json()["data"]["active"], changed.json()["data"]["name"], changed.json()["data"]["priority"]) == (
        False,
        "Old store",
        10,
    )
    assert [loc["code"] for loc in client.get(LOCATIONS).json()["data"]] == ["default", "store-1"]
    assert client.delete(f"{LOCATIONS}/{data['id']}").status_code == 200
    assert client.get(f"{LOCATIONS}/{data['id']}").status_code == 404
    assert client.delete(f"{LOCATIONS}/{data['id']}").status_code == 404


def test_a_code_is_unique(client: Any) -> None:
    assert client.post(LOCATIONS, json={"code": "wh", "name": "A"}).status_code == 201
    taken = client.post(LOCATIONS, json={"code": "wh", "name": "B"})
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "code"
    assert client.post(LOCATIONS, json={"code": "default", "name": "C"}).status_code == 409


def test_a_location_holding_stock_or_default_is_not_deleted(client: Any, sql: Any) -> None:
    store = client.post(LOCATIONS, json={"code": "store", "name": "Store"}).json()["data"]["id"]
    pid = make_product(sql, on_hand=None)
    # Until the contract step a product has one level: this one is at the store.
    sql.execute("insert into inventory (product_id, on_hand, location_id) values (%s, 2, %s)", (pid, store))
    refused = client.delete(f"{LOCATIONS}/{store}")
    assert refused.status_code == 409 and "2 units on hand" in refused.json()["detail"]
    sql.execute("update inventory set on_hand = 0 where product_id = %s", (pid,))
    assert client.delete(f"{LOCATIONS}/{store}").status_code == 200  # its empty level goes with it
    assert sql.execute("select count(*) from inventory where product_id = %s", (pid,)).fetchone()[0] == 0
    assert client.delete(f"{LOCATIONS}/1").status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": "x"},
        {"code": "Upper", "name": "n"},
        {"code": "ok", "name": " "},
        {"code": "ok", "name": "n", "priority": "1"},
        {"code": "ok", "name": "n", "active": "yes"},
        {"code": "ok", "name": "n", "colour": "red"},
    ],
)
def test_bad_locations_are_400_and_write_nothing(client: Any, sql: Any, body: dict[str, Any]) -> None:
    response = client.post(LOCATIONS, json=body)
    assert response.status_code == 400, response.text
    assert sql.execute("select count(*) from locations").fetchone()[0] == 1


def test_reading_needs_inventory_read_and_changing_inventory_write(client: Any) -> None:
    reader = bearer(make_key(client, "shop", "inventory:read"))
    assert client.get(LOCATIONS, headers=reader).status_code == 200
    refused = client.post(LOCATIONS, json={"code": "a", "name": "A"}, headers=reader)
    assert refused.status_code == 403 and "inventory:write" in refused.json()["detail"]
    assert client.patch(f"{LOCATIONS}/424242", json={"name": "x"}).status_code == 404


def test_a_products_stock_shows_its_levels_and_new_ledger_rows_name_their_location(client: Any, sql: Any) -> None:
    pid = make_product(sql, on_hand=None)
    assert client.post("/api/v1/inventory", json={"product_id": pid, "on_hand": 7}).status_code == 201
    assert client.post(f"/api/v1/inventory/{pid}/adjustments", json={"delta": -2, "reason": "count"}).status_code == 201
    shown = client.get(f"/api/v1/inventory/{pid}").json()
    assert (shown["on_hand"], shown["available"]) == (5, 5)
    assert shown["locations"] == [
        {"location_id": 1, "on_hand": 5, "reserved": 0, "available": 5, "reorder_point": None, "version": 2}
    ]
    written = sql.execute("select kind, location_id from stock_movements where product_id = %s order by id", (pid,))
    assert written.fetchall() == [("initial", 1), ("adjustment", 1)]


def test_a_level_is_made_read_and_set_at_a_location(client: Any, sql: Any) -> None:
    store = client.post(LOCATIONS, json={"code": "store", "name": "Store"}).json()["data"]["id"]
    pid = make_product(sql, on_hand=None)
    made = client.post("/api/v1/inventory", json={"product_id": pid, "on_hand": 4, "location_id": store})
    assert made.status_code == 201, made.text
    level = client.get(f"/api/v1/inventory/{pid}/locations/{store}")
    assert level.status_code == 200 and level.headers["etag"] == '"1"'
    assert level.json() == {
        "location_id": store,
        "on_hand": 4,
        "reserved": 0,
        "available": 4,
        "reorder_point": None,
        "version": 1,
    }
    stale = client.patch(f"/api/v1/inventory/{pid}/locations/{store}", json={"on_hand": 9}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    changed = client.patch(f"/api/v1/inventory/{pid}/locations/{store}", json={"on_hand": 9, "reorder_point": 2})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["data"]["on_hand"], changed.json()["data"]["reorder_point"]) == (9, 2)
    adjusted = client.post(
        f"/api/v1/inventory/{pid}/adjustments", json={"delta": -1, "reason": "count", "location_id": store}
    )
    assert adjusted.status_code == 201 and adjusted.json()["data"]["on_hand"] == 8
    moves = sql.execute("select kind, location_id from stock_movements where product_id = %s order by id", (pid,))
    assert moves.fetchall() == [("initial", store), ("set", store), ("adjustment", store)]
    assert client.get(f"/api/v1/inventory/{pid}/locations/1").status_code == 404
    # Until the contract step of locations, a product has one level.
    assert client.post("/api/v1/inventory", json={"product_id": pid, "on_hand": 1, "location_id": 1}).status_code == 409
    unknown = client.post("/api/v1/inventory", json={"product_id": pid, "on_hand": 1, "location_id": 999})
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "location_id"
    assert client.delete(f"{LOCATIONS}/{store}").status_code == 409  # it holds 8 units
