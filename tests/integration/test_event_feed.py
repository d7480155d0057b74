"""The event feed against a real PostgreSQL: events commit with their change, the cursor never
skips an event that commits late, clients see only their own orders' events, and an event's
data is the resource as the API shows it."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from invorder import db
from invorder.events.feed import prune
from tests.integration.test_access import bearer, make_key
from tests.support.handmade import make_product


def read_feed(
    client: Any, after: str | None = None, *, headers: dict[str, str] | None = None, **params: Any
) -> tuple[list[dict[str, Any]], str | None]:
    query = {**params, **({"after": after} if after else {})}
    response = client.get("/api/v1/events", params=query, headers=headers or {})
    assert response.status_code == 200, response.text
    body = response.json()
    return body["data"], body["next_cursor"]


def read_all(
    client: Any, after: str | None = None, *, headers: dict[str, str] | None = None, **params: Any
) -> tuple[list[dict[str, Any]], str | None]:
    """Every event after `after`, two a page; and the cursor to poll from next."""
    events: list[dict[str, Any]] = []
    while True:
        page, cursor = read_feed(client, after, headers=headers, limit=2, **params)
        events += page
        if not page:
            return events, cursor
        after = cursor


def test_two_transactions_committing_in_reverse_id_order_are_both_served_in_commit_order(
    client: Any, database_url: str
) -> None:
    _, start = read_all(client)
    with psycopg.connect(database_url) as first, psycopg.connect(database_url) as second:
        first.execute("insert into products (name, price_cents) values ('written first', 1)")
        second.execute("insert into products (name, price_cents) values ('written second', 1)")
        second.commit()  # the later event id commits first
        between, cursor = read_all(client, start)
        assert [e["data"]["name"] for e in between] == ["written second"]
        first.commit()
    # An id cursor would now be past 'written first' for ever; the commit-ordered one is not.
    late, _ = read_all(client, cursor)
    assert [e["data"]["name"] for e in late] == ["written first"]
    assert late[0]["id"] < between[0]["id"]
    everything, _ = read_all(client, start)
    assert [e["data"]["name"] for e in everything] == ["written second", "written first"]


def test_a_short_page_moves_the_cursor_past_what_a_filter_left_out(client: Any) -> None:
    client.post("/api/v1/products", json={"name": "Filtered out", "price_cents": 1})
    page, cursor = read_feed(client, type="order.placed")
    assert page == []
    # The cursor is past the product event: the next poll does not read it again.
    client.post("/api/v1/products", json={"name": "After the cursor", "price_cents": 1})
    later, _ = read_feed(client, cursor)
    assert [e["data"]["name"] for e in later] == ["After the cursor"]
    assert read_feed(client)[1]  # never null, even from the start


def test_a_rolled_back_change_has_no_event_and_a_committed_one_has_exactly_one(client: Any, database_url: str) -> None:
    _, start = read_all(client)
    with psycopg.connect(database_url) as conn:
        conn.execute("insert into products (name, price_cents) values ('never', 1)")
        conn.rollback()
        conn.execute("insert into products (name, price_cents) values ('kept', 1)")
        conn.commit()
    events, _ = read_all(client, start)
    assert [(e["type"], e["data"]["name"]) for e in events] == [("product.created", "kept")]


def test_order_events_carry_the_order_as_get_answers_it_and_only_its_client_sees_them(client: Any, sql: Any) -> None:
    product = make_product(sql, on_hand=10)
    alice = bearer(make_key(client, "alice", "orders:write", "orders:read", "events:read"))
    bob = bearer(make_key(client, "bob", "events:read"))
    placed = client.post("/api/v1/orders", json={"items": [{"product_id": product, "quantity": 2}]}, headers=alice)
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["data"]["id"]
    assert client.post(f"/api/v1/orders/{order_id}/cancel", headers=alice).status_code == 200
    shown = client.get(f"/api/v1/orders/{order_id}", headers=alice).json()

    alice_sees, _ = read_all(client, headers=alice, type="order.cancelled")
    assert [e["data"] for e in alice_sees] == [shown]  # exactly the order GET answers
    mine = [e for e in read_all(client, headers=alice)[0] if e["type"].startswith("order.")]
    assert [e["type"] for e in mine] == ["order.placed", "order.cancelled"]
    assert mine[0]["data"]["status"] == "pending"
    assert mine[0]["data"]["items"] == [
        {
            "product_id": product,
            "quantity": 2,
            "unit_price_cents": 100,
            "fulfilled_quantity": 0,
            "refunded_quantity": 0,
            "restocked_quantity": 0,
        }
    ]

    bob_sees, _ = read_all(client, headers=bob)
    assert not [e for e in bob_sees if e["type"].startswith("order.")]
    assert [e for e in bob_sees if e["type"] == "product.created"]  # the catalog is everyone's
    ops_sees, _ = read_all(client, type="order.placed")  # the admin key has ops
    assert order_id in [e["data"]["id"] for e in ops_sees]


def test_product_events_carry_the_product_as_the_api_shows_it(client: Any) -> None:
    _, start = read_all(client)
    created = client.post("/api/v1/products", json={"name": "Feed lamp", "price_cents": 990}).json()["data"]
    updated = client.patch(f"/api/v1/products/{created['id']}", json={"price_cents": 1290}).json()["data"]
    deleted = client.delete(f"/api/v1/products/{created['id']}").json()["data"]
    events, _ = read_all(client, start)
    assert [e["type"] for e in events] == ["product.created", "product.updated", "product.deleted"]
    assert [e["data"] for e in events[:2]] == [created, updated]
    assert events[2]["data"]["id"] == deleted["id"]


def test_bad_cursors_and_types_are_refused(client: Any) -> None:
    for params in ({"after": "12"}, {"after": "x-1"}, {"type": "order.shipped"}, {"limit": 0}):
        response = client.get("/api/v1/events", params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


def test_the_feed_needs_events_read(client: Any) -> None:
    other = bearer(make_key(client, "carol", "orders:read"))
    assert client.get("/api/v1/events", headers=other).status_code == 403


def test_redeliver_of_an_unknown_event_is_404(client: Any) -> None:
    assert client.post("/api/v1/events/999999/redeliver").status_code == 404


def test_pruning_deletes_events_and_delivery_records_past_the_retention_only(database_url: str, sql: Any) -> None:
    sql.execute("insert into products (name, price_cents) values ('old', 1), ('new', 1)")
    sql.execute("update events set created_at = now() - interval '8 days' where data ->> 'name' = 'old'")
    endpoint = sql.execute(
        "insert into webhook_endpoints (client_id, url, events, secret) values (1, 'http://127.0.0.1:9/', '{*}',"
        " 'whsec_AAAA') returning id"
    ).fetchone()[0]
    sql.execute(
        "insert into webhook_deliveries (endpoint_id, event_id, attempt, status_code, created_at) values"
        " (%(e)s, 1, 1, 200, now() - interval '8 days'), (%(e)s, 2, 1, 200, now())",
        {"e": endpoint},
    )

    async def run() -> tuple[int, int]:
        pool = db.open_pool(database_url, min_size=1, max_size=1)
        await pool.open(wait=True)
        try:
            return await prune(pool, 7 * 86400)
        finally:
            await pool.close()

    assert asyncio.run(run()) == (1, 1)
    assert [r[0] for r in sql.execute("select data ->> 'name' from events").fetchall()] == ["new"]
    assert sql.execute("select count(*) from webhook_deliveries").fetchone()[0] == 1
