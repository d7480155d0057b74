"""Categories over HTTP: CRUD, putting products in categories and taking them out, filters."""

from __future__ import annotations

from typing import Any

import pytest

C = "/api/v1/categories"
P = "/api/v1/products"


def create_category(client: Any, name: str) -> dict[str, Any]:
    response = client.post(C, json={"name": name})
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def create_product(client: Any, name: str) -> dict[str, Any]:
    response = client.post(P, json={"name": name, "price_cents": 100})
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def put_categories(client: Any, product_id: int, category_ids: list[int]) -> Any:
    return client.put(f"{P}/{product_id}/categories", json={"category_ids": category_ids})


def names(product: dict[str, Any]) -> list[str]:
    return [c["name"] for c in product["categories"]]


def test_create_category_answers_201_with_message_location_and_data(client: Any) -> None:
    response = client.post(C, json={"name": "  Books "})
    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "Category created successfully"
    assert body["data"]["name"] == "Books"
    assert set(body["data"]) == {"id", "name", "created_at", "updated_at"}
    assert response.headers["location"] == f"{C}/{body['data']['id']}"
    assert client.get(response.headers["location"]).json() == body["data"]


@pytest.mark.parametrize("second", ["books", "BOOKS", " Books ", "bOoKs"])
def test_second_category_with_same_name_is_409(client: Any, second: str) -> None:
    create_category(client, "Books")
    response = client.post(C, json={"name": second})
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "name"
    assert len(client.get(C).json()["data"]) == 1


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "   "}, {"name": 5}, {"name": "x" * 101}, {"name": "x", "colour": "red"}, [], "x"],
)
def test_bad_category_body_is_4xx_problem_and_changes_nothing(client: Any, body: Any) -> None:
    response = client.post(C, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get(C).json()["data"] == []


def test_get_missing_category_is_404(client: Any) -> None:
    response = client.get(f"{C}/999999")
    assert response.status_code == 404
    assert response.json()["title"] == "Not found"


def test_list_categories_pages_with_a_keyset_cursor(client: Any) -> None:
    for i in range(5):
        create_category(client, f"Cat {i}")
    first = client.get(C, params={"limit": 2}).json()
    seen = [c["name"] for c in first["data"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(C, params={"limit": 2, "cursor": cursor}).json()
        seen += [c["name"] for c in page["data"]]
        cursor = page["next_cursor"]
    assert seen == [f"Cat {i}" for i in range(5)]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"cursor": "garbage!"}])
def test_bad_category_list_parameters_are_4xx(client: Any, params: dict[str, Any]) -> None:
    response = client.get(C, params=params)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")


def test_rename_category(client: Any) -> None:
    books = create_category(client, "books")
    response = client.patch(f"{C}/{books['id']}", json={"name": "Books"})
    assert response.status_code == 200
    assert response.json()["message"] == "Category updated successfully"
    assert response.json()["data"]["name"] == "Books"
    assert client.get(f"{C}/{books['id']}").json()["name"] == "Books"


def test_rename_onto_another_categorys_name_is_409_and_changes_nothing(client: Any) -> None:
    create_category(client, "Books")
    music = create_category(client, "Music")
    response = client.patch(f"{C}/{music['id']}", json={"name": " BOOKS"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "name"
    assert client.get(f"{C}/{music['id']}").json()["name"] == "Music"


def test_rename_bad_body_or_missing_category(client: Any) -> None:
    books = create_category(client, "Books")
    assert client.patch(f"{C}/{books['id']}", json={"name": ""}).status_code == 400
    assert client.patch(f"{C}/{books['id']}", json={"name": "x", "other": 1}).status_code == 400
    assert client.patch(f"{C}/{books['id']}", json={}).status_code == 400
    assert client.patch(f"{C}/424242", json={"name": "x"}).status_code == 404


def test_deleting_a_category_products_are_in_removes_it_from_them_and_keeps_the_products(client: Any, sql: Any) -> None:
    books, music = create_category(client, "Books"), create_category(client, "Music")
    a, b = create_product(client, "A"), create_product(client, "B")
    assert put_categories(client, a["id"], [books["id"], music["id"]]).status_code == 200
    assert put_categories(client, b["id"], [books["id"]]).status_code == 200

    response = client.delete(f"{C}/{books['id']}")
    assert response.status_code == 200
    assert response.json() == {"message": "Category deleted successfully", "data": books}
    assert client.get(f"{C}/{books['id']}").status_code == 404
    assert client.delete(f"{C}/{books['id']}").status_code == 404
    assert names(client.get(f"{P}/{a['id']}").json()) == ["Music"]
    assert names(client.get(f"{P}/{b['id']}").json()) == []
    assert [p["name"] for p in client.get(P).json()["data"]] == ["A", "B"]
    assert (
        sql.execute("select count(*) from product_categories where category_id = %s", (books["id"],)).fetchone()[0] == 0
    )
    # The name is free again.
    create_category(client, "books")


def test_put_product_categories_replaces_the_whole_set(client: Any) -> None:
    books, music, films = (create_category(client, n) for n in ("Books", "Music", "Films"))
    product = create_product(client, "A")
    url = f"{P}/{product['id']}/categories"

    response = client.put(url, json={"category_ids": [music["id"], books["id"], books["id"]]})
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Product categories updated successfully"
    assert body["data"]["categories"] == [{"id": books["id"], "name": "Books"}, {"id": music["id"], "name": "Music"}]
    assert body["data"]["version"] == product["version"]

    assert names(put_categories(client, product["id"], [films["id"], music["id"]]).json()["data"]) == [
        "Films",
        "Music",
    ]
    assert names(client.get(f"{P}/{product['id']}").json()) == ["Films", "Music"]
    assert names(put_categories(client, product["id"], []).json()["data"]) == []
    assert names(client.get(f"{P}/{product['id']}").json()) == []


def test_put_with_an_unknown_category_is_404_and_changes_nothing(client: Any) -> None:
    books = create_category(client, "Books")
    product = create_product(client, "A")
    put_categories(client, product["id"], [books["id"]])
    response = put_categories(client, product["id"], [books["id"], 987654, 987655])
    assert response.status_code == 404
    problem = response.json()
    assert problem["errors"][0]["field"] == "category_ids"
    assert "987654, 987655" in problem["detail"]
    assert names(client.get(f"{P}/{product['id']}").json()) == ["Books"]


def test_put_on_a_missing_or_deleted_product_is_404(client: Any) -> None:
    books = create_category(client, "Books")
    assert put_categories(client, 424242, [books["id"]]).status_code == 404
    product = create_product(client, "Gone")
    client.delete(f"{P}/{product['id']}")
    assert put_categories(client, product["id"], [books["id"]]).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"category_ids": "1"},
        {"category_ids": ["1"]},
        {"category_ids": [0]},
        {"category_ids": [1.5]},
        {"category_ids": [1], "extra": True},
        {"category_ids": list(range(1, 102))},
        [1, 2],
    ],
)
def test_bad_put_body_is_400_and_changes_nothing(client: Any, body: Any) -> None:
    books = create_category(client, "Books")
    product = create_product(client, "A")
    put_categories(client, product["id"], [books["id"]])
    response = client.put(f"{P}/{product['id']}/categories", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert names(client.get(f"{P}/{product['id']}").json()) == ["Books"]


def test_delete_product_category_takes_the_product_out_of_one_category(client: Any) -> None:
    books, music = create_category(client, "Books"), create_category(client, "Music")
    product = create_product(client, "A")
    put_categories(client, product["id"], [books["id"], music["id"]])
    url = f"{P}/{product['id']}/categories/{books['id']}"
    response = client.delete(url)
    assert response.status_code == 200
    assert response.json()["message"] == "Product removed from category successfully"
    assert names(response.json()["data"]) == ["Music"]
    assert client.delete(url).status_code == 404
    assert client.delete(f"{P}/424242/categories/{music['id']}").status_code == 404
    assert client.delete(f"{P}/{product['id']}/categories/424242").status_code == 404
    assert client.get(f"{C}/{books['id']}").status_code == 200


def test_category_products_lists_live_products_in_pages(client: Any) -> None:
    books, music = create_category(client, "Books"), create_category(client, "Music")
    products = [create_product(client, f"P{i}") for i in range(5)]
    for p in products[:4]:
        put_categories(client, p["id"], [books["id"]])
    put_categories(client, products[4]["id"], [music["id"]])
    client.delete(f"{P}/{products[1]['id']}")

    url = f"{C}/{books['id']}/products"
    first = client.get(url, params={"limit": 2}).json()
    seen = [p["name"] for p in first["data"]]
    assert first["data"][0]["categories"] == [{"id": books["id"], "name": "Books"}]
    page = client.get(url, params={"limit": 2, "cursor": first["next_cursor"]}).json()
    seen += [p["name"] for p in page["data"]]
    assert seen == ["P0", "P2", "P3"]
    assert client.get(f"{C}/424242/products").status_code == 404


def test_products_filter_by_category_and_q(client: Any) -> None:
    books, music = create_category(client, "Books"), create_category(client, "Music")
    red, blue, green = (create_product(client, n) for n in ("Red book", "Blue book", "Green record"))
    put_categories(client, red["id"], [books["id"]])
    put_categories(client, blue["id"], [books["id"], music["id"]])
    put_categories(client, green["id"], [music["id"]])

    def listed(**params: Any) -> list[str]:
        response = client.get(P, params=params)
        assert response.status_code == 200, response.text
        return [p["name"] for p in response.json()["data"]]

    assert listed(category_id=books["id"]) == ["Red book", "Blue book"]
    assert listed(category_id=music["id"]) == ["Blue book", "Green record"]
    assert listed(category_id=music["id"], q="BOOK") == ["Blue book"]
    assert listed(category_id=424242) == []
    assert listed() == ["Red book", "Blue book", "Green record"]
    assert client.get(P, params={"category_id": 0}).status_code == 400
    assert client.get(P, params={"category_id": "x"}).status_code == 400


def test_product_payloads_carry_categories_and_keep_every_earlier_field(client: Any) -> None:
    earlier = {"id", "name", "sku", "description", "price_cents", "version", "created_at", "updated_at"}
    books = create_category(client, "Books")
    created = client.post(P, json={"name": "A", "price_cents": 5}).json()["data"]
    assert set(created) == earlier | {"categories"} and created["categories"] == []
    put_categories(client, created["id"], [books["id"]])
    patched = client.patch(f"{P}/{created['id']}", json={"price_cents": 6}).json()["data"]
    assert patched["categories"] == [{"id": books["id"], "name": "Books"}] and patched["version"] == 2
    assert client.get(P).json()["data"][0]["categories"] == patched["categories"]
    deleted = client.delete(f"{P}/{created['id']}").json()["data"]
    assert deleted["categories"] == patched["categories"]
