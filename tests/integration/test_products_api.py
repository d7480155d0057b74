"""Products over HTTP: every success and error case of SPEC.md."""

from __future__ import annotations

from typing import Any

import pytest

P = "/api/v1/products"


def create(client: Any, **body: Any) -> dict[str, Any]:
    response = client.post(P, json={"price_cents": 100, **body})
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def test_create_product_answers_201_with_message_location_and_data(client: Any) -> None:
    response = client.post(P, json={"name": "Widget", "sku": "W-1", "description": "blue", "price_cents": 1250})
    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "Product created successfully"
    data = body["data"]
    assert {k: data[k] for k in ("name", "sku", "description", "price_cents", "version")} == {
        "name": "Widget",
        "sku": "W-1",
        "description": "blue",
        "price_cents": 1250,
        "version": 1,
    }
    assert response.headers["location"] == f"{P}/{data['id']}"
    assert client.get(response.headers["location"]).json()["name"] == "Widget"


@pytest.mark.parametrize("second", ["widget", "  WIDGET  ", "Widget", "wIdGeT"])
def test_second_product_with_same_name_is_409(client: Any, second: str) -> None:
    create(client, name="Widget")
    response = client.post(P, json={"name": second, "price_cents": 5})
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 409 and problem["errors"][0]["field"] == "name"


def test_names_differing_only_in_inner_spacing_are_duplicates(client: Any) -> None:
    create(client, name="Blue  Widget")
    assert client.post(P, json={"name": "blue widget", "price_cents": 1}).status_code == 409


def test_second_product_with_same_sku_is_409(client: Any) -> None:
    create(client, name="A", sku="SKU-1")
    response = client.post(P, json={"name": "B", "sku": "SKU-1", "price_cents": 1})
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "sku"


@pytest.mark.parametrize(
    "body",
    [
        {"price_cents": 1},
        {"name": "x"},
        {"name": "", "price_cents": 1},
        {"name": "   ", "price_cents": 1},
        {"name": "x", "price_cents": -1},
        {"name": "x", "price_cents": "12"},
        {"name": "x", "price_cents": 1.5},
        {"name": 5, "price_cents": 1},
        {"name": "x", "price_cents": 1, "colour": "red"},
        {"name": "x" * 201, "price_cents": 1},
        {"name": "x", "price_cents": 10**13},
        [],
        "text",
    ],
)
def test_bad_product_body_is_4xx_problem_and_changes_nothing(client: Any, body: Any) -> None:
    response = client.post(P, json=body)
    assert 400 <= response.status_code < 500, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert client.get(P).json()["data"] == []


def test_malformed_json_is_400(client: Any) -> None:
    response = client.post(P, content=b'{"name": "x", ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["status"] == 400


def test_unknown_field_is_named_in_errors(client: Any) -> None:
    response = client.post(P, json={"name": "x", "price_cents": 1, "colour": "red"})
    assert response.status_code == 400
    assert "colour" in response.json()["detail"]


def test_get_missing_product_is_404_problem(client: Any) -> None:
    response = client.get(f"{P}/999999")
    assert response.status_code == 404
    assert response.json()["title"] == "Not found"


def test_get_has_etag_matching_version(client: Any) -> None:
    product = create(client, name="A")
    response = client.get(f"{P}/{product['id']}")
    assert response.headers["etag"] == '"1"'


def test_list_filters_by_q_and_pages_with_a_keyset_cursor(client: Any) -> None:
    for i in range(7):
        create(client, name=f"Gadget {i}", sku=f"G-{i}")
    create(client, name="Other", sku="O-1")
    first = client.get(P, params={"q": "gadget", "limit": 3}).json()
    assert [p["name"] for p in first["data"]] == ["Gadget 0", "Gadget 1", "Gadget 2"]
    names = [p["name"] for p in first["data"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(P, params={"q": "gadget", "limit": 3, "cursor": cursor}).json()
        names += [p["name"] for p in page["data"]]
        cursor = page["next_cursor"]
    assert names == [f"Gadget {i}" for i in range(7)]
    assert [p["sku"] for p in client.get(P, params={"q": "o-1"}).json()["data"]] == ["O-1"]


def test_q_treats_like_wildcards_literally(client: Any) -> None:
    create(client, name="100% cotton")
    create(client, name="1000 cotton")
    assert [p["name"] for p in client.get(P, params={"q": "0%"}).json()["data"]] == ["100% cotton"]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"limit": "x"}, {"cursor": "garbage!"}])
def test_bad_list_parameters_are_4xx(client: Any, params: dict[str, Any]) -> None:
    response = client.get(P, params=params)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")


def test_default_limit_is_50_and_max_500(client: Any, sql: Any) -> None:
    sql.execute("insert into products (name, price_cents) select 'p' || g, 1 from generate_series(1, 520) g")
    assert len(client.get(P).json()["data"]) == 50
    assert len(client.get(P, params={"limit": 500}).json()["data"]) == 500


def test_patch_changes_fields_and_bumps_version(client: Any) -> None:
    product = create(client, name="A", sku="S", description="d")
    response = client.patch(f"{P}/{product['id']}", json={"price_cents": 999, "description": None})
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Product updated successfully"
    assert body["data"]["price_cents"] == 999 and body["data"]["description"] is None
    assert body["data"]["sku"] == "S" and body["data"]["version"] == 2
    assert response.headers["etag"] == '"2"'


def test_patch_with_stale_if_match_is_412_and_changes_nothing(client: Any) -> None:
    product = create(client, name="A")
    url = f"{P}/{product['id']}"
    assert client.patch(url, json={"price_cents": 2}, headers={"If-Match": '"1"'}).status_code == 200
    stale = client.patch(url, json={"price_cents": 3}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert client.get(url).json()["price_cents"] == 2
    assert client.patch(url, json={"price_cents": 4}, headers={"If-Match": '"2"'}).status_code == 200
    assert client.patch(url, json={"price_cents": 5}, headers={"If-Match": "*"}).status_code == 200


def test_patch_rename_onto_existing_name_is_409(client: Any) -> None:
    create(client, name="Alpha")
    beta = create(client, name="Beta")
    response = client.patch(f"{P}/{beta['id']}", json={"name": " ALPHA "})
    assert response.status_code == 409
    assert client.get(f"{P}/{beta['id']}").json()["name"] == "Beta"


def test_patch_bad_body_or_missing_product(client: Any) -> None:
    product = create(client, name="A")
    assert client.patch(f"{P}/{product['id']}", json={"price_cents": -5}).status_code == 400
    assert client.patch(f"{P}/{product['id']}", json={"nope": 1}).status_code == 400
    assert client.patch(f"{P}/424242", json={"price_cents": 5}).status_code == 404


def test_delete_hides_product_and_frees_its_name(client: Any) -> None:
    product = create(client, name="Gone", sku="G")
    response = client.delete(f"{P}/{product['id']}")
    assert response.status_code == 200
    assert response.json()["message"] == "Product deleted successfully"
    assert client.get(f"{P}/{product['id']}").status_code == 404
    assert client.get(P).json()["data"] == []
    assert client.delete(f"{P}/{product['id']}").status_code == 404
    assert client.patch(f"{P}/{product['id']}", json={"price_cents": 1}).status_code == 404
    create(client, name="gone", sku="G")
