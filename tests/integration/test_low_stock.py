"""Low stock over HTTP: the reorder point set by PATCH, the `below_reorder_point` list, and the
inventory events the database writes when available crosses it (read from `events` in SQL)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_inventory_api import INV, ledger_sum, product, stocked

PROBLEM = "application/problem+json"


def patch(client: Any, pid: int, body: Any, **headers: str) -> Any:
    return client.patch(f"{INV}/{pid}", json=body, headers=headers)


def adjust(client: Any, pid: int, delta: int) -> dict[str, Any]:
    response = client.post(f"{INV}/{pid}/adjustments", json={"delta": delta, "reason": "count"})
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def set_reorder_point(client: Any, pid: int, reorder_point: int | None) -> dict[str, Any]:
    response = patch(client, pid, {"reorder_point": reorder_point})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def inventory_events(sql: Any, pid: int) -> list[tuple[str, dict[str, Any]]]:
    """The inventory events of one product, in the order they were written."""
    rows = sql.execute(
        "select type, data from events where subject_id = %s and type like 'inventory.%%' order by id", (pid,)
    ).fetchall()
    return [(kind, dict(data)) for kind, data in rows]


def types(sql: Any, pid: int) -> list[str]:
    return [kind for kind, _ in inventory_events(sql, pid)]


def listed(client: Any, **params: Any) -> list[int]:
    response = client.get(INV, params=params)
    assert response.status_code == 200, response.text
    return [row["product_id"] for row in response.json()["data"]]


# PATCH


def test_patch_reorder_point_alone_moves_no_stock_and_bumps_the_version(client: Any, sql: Any) -> None:
    pid = stocked(client, 10)
    response = patch(client, pid, {"reorder_point": 4})
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Inventory updated successfully"
    data = response.json()["data"]
    assert (data["on_hand"], data["available"], data["reorder_point"], data["version"]) == (10, 10, 4, 2)
    assert response.headers["etag"] == '"2"'
    got = client.get(f"{INV}/{pid}")
    assert got.json()["reorder_point"] == 4 and got.headers["etag"] == '"2"'
    assert [m["kind"] for m in client.get(f"{INV}/{pid}/movements").json()["data"]] == ["initial"]
    assert ledger_sum(sql, pid) == 10


def test_patch_on_hand_and_reorder_point_together_is_one_change(client: Any, sql: Any) -> None:
    pid = stocked(client, 10)
    response = patch(client, pid, {"on_hand": 3, "reorder_point": 5})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["on_hand"], data["available"], data["reorder_point"], data["version"]) == (3, 3, 5, 2)
    assert [m["kind"] for m in client.get(f"{INV}/{pid}/movements").json()["data"]] == ["initial", "set"]
    assert ledger_sum(sql, pid) == 3
    # One statement, so the crossing is measured against the new reorder point.
    assert types(sql, pid) == ["inventory.low_stock"]


def test_patch_on_hand_alone_keeps_the_reorder_point(client: Any) -> None:
    pid = stocked(client, 10)
    set_reorder_point(client, pid, 4)
    response = patch(client, pid, {"on_hand": 8})
    assert response.status_code == 200
    assert (response.json()["data"]["on_hand"], response.json()["data"]["reorder_point"]) == (8, 4)


def test_patch_reorder_point_null_clears_it(client: Any) -> None:
    pid = stocked(client, 10)
    set_reorder_point(client, pid, 4)
    data = set_reorder_point(client, pid, None)
    assert (data["reorder_point"], data["on_hand"], data["version"]) == (None, 10, 3)
    assert client.get(f"{INV}/{pid}").json()["reorder_point"] is None


def test_the_etag_covers_the_reorder_point(client: Any) -> None:
    pid = stocked(client, 10)
    assert patch(client, pid, {"reorder_point": 4}, **{"If-Match": '"1"'}).status_code == 200
    stale = patch(client, pid, {"reorder_point": 7}, **{"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith(PROBLEM)
    assert client.get(f"{INV}/{pid}").json()["reorder_point"] == 4
    assert patch(client, pid, {"reorder_point": 7}, **{"If-Match": '"2"'}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"reorder_point": -1},
        {"reorder_point": "5"},
        {"reorder_point": 1.5},
        {"reorder_point": 10**13},
        {"on_hand": -1, "reorder_point": 1},
        {"reorder_point": 1, "extra": 1},
        {"min_stock": 1},
        [],
        None,
    ],
)
def test_bad_reorder_point_body_is_400_and_changes_nothing(client: Any, sql: Any, body: Any) -> None:
    pid = stocked(client, 10)
    response = patch(client, pid, body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    got = client.get(f"{INV}/{pid}").json()
    assert (got["on_hand"], got["reorder_point"], got["version"]) == (10, None, 1)
    assert ledger_sum(sql, pid) == 10


def test_patch_with_neither_field_is_400_naming_both(client: Any) -> None:
    pid = stocked(client, 10)
    response = patch(client, pid, {})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["detail"] == "give on_hand, reorder_point or both"
    assert [e["field"] for e in problem["errors"]] == ["on_hand", "reorder_point"]
    assert client.get(f"{INV}/{pid}").json()["version"] == 1


def test_patch_reorder_point_of_missing_inventory_is_404(client: Any) -> None:
    pid = product(client)
    assert patch(client, pid, {"reorder_point": 1}).status_code == 404
    assert patch(client, 424242, {"reorder_point": 1}).status_code == 404


# GET /inventory?below_reorder_point=true


def test_list_below_reorder_point_shows_rows_at_or_below_it_only(client: Any, sql: Any) -> None:
    under = stocked(client, 2, "Under")
    at = stocked(client, 5, "At")
    above = stocked(client, 6, "Above")
    empty_no_point = stocked(client, 0, "Empty without a point")
    held = stocked(client, 10, "Held")  # on_hand above the point, available at it
    deleted = stocked(client, 1, "Deleted")
    for pid in (under, at, above, held, deleted):
        set_reorder_point(client, pid, 5)
    sql.execute("update inventory set reserved = 5 where product_id = %s", (held,))
    assert client.delete(f"/api/v1/products/{deleted}").status_code == 200

    assert listed(client, below_reorder_point="true") == [under, at, held]
    everything = [under, at, above, empty_no_point, held]
    assert listed(client, below_reorder_point="false") == everything
    assert listed(client) == everything
    assert listed(client, below_reorder_point="true", below=5) == [under]


def test_list_below_reorder_point_pages_with_the_cursor(client: Any) -> None:
    low = [stocked(client, 1, f"Low {n}") for n in range(5)]
    stocked(client, 50, "Plenty")
    for pid in low:
        set_reorder_point(client, pid, 3)
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"below_reorder_point": "true", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get(INV, params=params).json()
        seen += [row["product_id"] for row in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == low


@pytest.mark.parametrize("value", ["maybe", "2", ""])
def test_list_below_reorder_point_refuses_a_non_boolean_with_400(client: Any, value: str) -> None:
    response = client.get(INV, params={"below_reorder_point": value})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)


def test_the_document_states_the_patch_forms_and_the_filter(client: Any) -> None:
    doc = client.get("/schema/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert schemas["InventoryPatch"]["oneOf"] == [
        {"$ref": "#/components/schemas/InventoryPatchOnHand"},
        {"$ref": "#/components/schemas/InventoryPatchReorderPoint"},
    ]
    on_hand, reorder_point = schemas["InventoryPatchOnHand"], schemas["InventoryPatchReorderPoint"]
    assert on_hand["required"] == ["on_hand"]
    assert sorted(on_hand["properties"]) == ["location_id", "on_hand", "reorder_point"]
    assert reorder_point["required"] == ["reorder_point"]
    assert sorted(reorder_point["properties"]) == ["location_id", "reorder_point"]
    assert on_hand["additionalProperties"] is False and reorder_point["additionalProperties"] is False
    assert {"type": "null"} in reorder_point["properties"]["reorder_point"]["anyOf"]
    out = doc["components"]["schemas"]["InventoryOut"]
    assert "reorder_point" in out["required"]
    (param,) = [p for p in doc["paths"]["/api/v1/inventory"]["get"]["parameters"] if p["name"] == "below_reorder_point"]
    assert param["schema"]["type"] == "boolean" and param["schema"]["default"] is False


# Events, as the triggers write them in the transaction of the change


def test_low_stock_is_emitted_once_when_available_crosses_the_reorder_point(client: Any, sql: Any) -> None:
    pid = stocked(client, 10)
    set_reorder_point(client, pid, 5)
    adjust(client, pid, -4)  # 6: still above
    assert types(sql, pid) == []
    adjust(client, pid, -1)  # 5: at the point
    adjust(client, pid, -2)  # 3: further down, already low
    assert inventory_events(sql, pid) == [
        (
            "inventory.low_stock",
            {"product_id": pid, "on_hand": 5, "reserved": 0, "available": 5, "reorder_point": 5, "location_id": 1},
        )
    ]


def test_low_stock_is_measured_on_available_not_on_hand(client: Any, sql: Any) -> None:
    pid = stocked(client, 10)
    set_reorder_point(client, pid, 5)
    sql.execute("update inventory set reserved = 4 where product_id = %s", (pid,))  # available 6
    adjust(client, pid, -1)  # on_hand 9, available 5
    assert inventory_events(sql, pid) == [
        (
            "inventory.low_stock",
            {"product_id": pid, "on_hand": 9, "reserved": 4, "available": 5, "reorder_point": 5, "location_id": 1},
        )
    ]


def test_out_of_stock_when_available_reaches_zero(client: Any, sql: Any) -> None:
    with_point = stocked(client, 10, "With a point")
    set_reorder_point(client, with_point, 5)
    adjust(client, with_point, -7)  # 3: low
    adjust(client, with_point, -3)  # 0: out of stock, and not low a second time
    assert types(sql, with_point) == ["inventory.low_stock", "inventory.out_of_stock"]
    assert inventory_events(sql, with_point)[-1][1] == {
        "product_id": with_point,
        "on_hand": 0,
        "reserved": 0,
        "available": 0,
        "reorder_point": 5,
        "location_id": 1,
    }

    without_point = stocked(client, 3, "Without a point")
    adjust(client, without_point, -1)
    assert types(sql, without_point) == []
    assert patch(client, without_point, {"on_hand": 0}).status_code == 200
    assert inventory_events(sql, without_point) == [
        (
            "inventory.out_of_stock",
            {
                "product_id": without_point,
                "on_hand": 0,
                "reserved": 0,
                "available": 0,
                "reorder_point": None,
                "location_id": 1,
            },
        )
    ]


def test_one_change_that_crosses_both_levels_emits_low_stock_then_out_of_stock(client: Any, sql: Any) -> None:
    pid = stocked(client, 10)
    set_reorder_point(client, pid, 5)
    assert patch(client, pid, {"on_hand": 0}).status_code == 200
    assert types(sql, pid) == ["inventory.low_stock", "inventory.out_of_stock"]


def test_a_restock_after_out_of_stock_emits_restocked_exactly_once(client: Any, sql: Any) -> None:
    pid = stocked(client, 6)
    set_reorder_point(client, pid, 5)
    adjust(client, pid, -6)  # 0: low and out of stock
    adjust(client, pid, 3)  # 3: back in stock, still at or below the point
    assert types(sql, pid) == ["inventory.low_stock", "inventory.out_of_stock"]
    adjust(client, pid, 5)  # 8: above the point
    adjust(client, pid, 10)  # 18: further up
    assert types(sql, pid) == ["inventory.low_stock", "inventory.out_of_stock", "inventory.restocked"]
    assert inventory_events(sql, pid)[-1][1] == {
        "product_id": pid,
        "on_hand": 8,
        "reserved": 0,
        "available": 8,
        "reorder_point": 5,
        "location_id": 1,
    }
    adjust(client, pid, -13)  # 5: a new crossing, a new low_stock
    assert types(sql, pid)[-1:] == ["inventory.low_stock"]
    assert types(sql, pid).count("inventory.low_stock") == 2


def test_without_a_reorder_point_restocked_means_back_above_zero(client: Any, sql: Any) -> None:
    pid = stocked(client, 2)
    adjust(client, pid, -2)
    adjust(client, pid, 1)
    adjust(client, pid, 1)
    assert types(sql, pid) == ["inventory.out_of_stock", "inventory.restocked"]


def test_creating_stock_and_setting_a_reorder_point_emit_nothing(client: Any, sql: Any) -> None:
    empty = stocked(client, 0, "Empty")  # created out of stock
    low = stocked(client, 3, "Low")
    set_reorder_point(client, low, 5)  # now at or below it, but available did not move
    set_reorder_point(client, low, 1)  # now above it: not a restock either
    set_reorder_point(client, low, None)
    set_reorder_point(client, empty, 2)
    assert types(sql, empty) == [] and types(sql, low) == []


def test_a_refused_change_emits_nothing(client: Any, sql: Any) -> None:
    pid = stocked(client, 3)
    set_reorder_point(client, pid, 5)
    response = client.post(f"{INV}/{pid}/adjustments", json={"delta": -4, "reason": "x"})
    assert response.status_code == 409
    stale = patch(client, pid, {"on_hand": 0}, **{"If-Match": '"1"'})
    assert stale.status_code == 412
    assert types(sql, pid) == []
