"""`GET /dashboard` rendered from a real database: the numbers it shows, data escaped as text,
its reload setting, and that it stays out of the OpenAPI schema. (The browser test, with real
processes and orders flowing, is tests/system/test_dashboard.py.)"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.handmade import make_order, make_product

XSS = '<script>document.title="pwned"</script> & <img src=x onerror=alert(1)>'


def text_of(page: str, name: str) -> str:
    """The text of the element with `data-testid="name"` (one with no child elements)."""
    found = re.search(rf'data-testid="{re.escape(name)}"[^>]*>([^<]*)<', page)
    assert found, f"no element with data-testid={name!r}"
    return found[1]


def test_dashboard_shows_orders_queues_workers_throughput_and_failures(client: Any, sql: Any) -> None:
    sql.execute(
        "insert into orders (status, total_cents, finished_at) values"
        " ('processed', 100, now()), ('processed', 100, now()), ('failed', 100, now()), ('pending', 100, null)"
    )
    sql.execute("insert into jobs (kind, status) values ('process_order', 'ready')")
    sql.execute(
        "insert into jobs (kind, status, attempts, max_attempts, last_error) values ('mail', 'dead', 3, 3, %s)", [XSS]
    )
    sql.execute("insert into queue_workers (worker_id, kinds, concurrency) values ('host:1:abc', '{mail}', 4)")
    sql.execute("insert into job_throughput (minute, kind, done) values (date_trunc('minute', now()), 'mail', 7)")

    response = client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert text_of(page, "orders-processed") == "2"
    assert text_of(page, "orders-failed") == "1"
    assert text_of(page, "orders-pending") == "1"
    assert text_of(page, "orders-finished-processed") == "2"
    assert text_of(page, "queue-ready-process_order") == "1"
    assert text_of(page, "queue-dead-mail") == "1"
    assert text_of(page, "workers-alive") == "1"
    # (not "throughput-last-minute": the request may land in the minute after the row's)
    assert text_of(page, "throughput-5m") == "7"
    assert text_of(page, "failure-error") == (
        "&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;"
    )
    assert "<script" not in page
    assert "<img" not in page


def test_dashboard_shows_webhook_deliveries_waiting_failed_and_disabled_endpoints(client: Any, sql: Any) -> None:
    endpoints = [
        sql.execute(
            "insert into webhook_endpoints (client_id, url, events, secret, enabled)"
            " values (1, 'http://127.0.0.1:9/h', '{*}', 'whsec_AAAA', %s) returning id",
            [enabled],
        ).fetchone()[0]
        for enabled in (True, False, False)
    ]
    sql.execute("insert into jobs (kind, payload) values ('deliver_webhook', '{}'), ('deliver_webhook', '{}')")
    sql.execute(
        "insert into webhook_deliveries (endpoint_id, event_id, attempt, status_code, error) values"
        " (%(e)s, 1, 1, 500, 'answered 500'), (%(e)s, 1, 2, null, 'no answer in time'), (%(e)s, 1, 3, 204, null)",
        {"e": endpoints[0]},
    )
    page = client.get("/dashboard").text
    assert text_of(page, "webhooks-pending") == "2"
    assert text_of(page, "webhooks-failed") == "2"
    assert text_of(page, "webhooks-disabled") == "2"
    stats = client.get("/api/v1/ops/stats").json()
    assert stats["webhooks"] == {
        "pending": 2,
        "delivered_last_hour": 1,
        "failed_last_hour": 2,
        "enabled_endpoints": 1,
        "disabled_endpoints": 2,
    }
    metrics = client.get("/metrics").text
    assert "invorder_webhook_deliveries_pending 2.0" in metrics
    assert 'invorder_webhook_endpoints{state="disabled"} 2.0' in metrics
    assert 'invorder_webhook_attempts_last_hour{result="failed"} 2.0' in metrics


def test_dashboard_on_an_empty_database_says_so(client: Any) -> None:
    page = client.get("/dashboard").text
    assert text_of(page, "orders-processed") == "0"
    assert text_of(page, "workers-alive") == "0"
    assert text_of(page, "to-ship") == "0"
    assert text_of(page, "refunds-pending") == "0"
    assert text_of(page, "refunds-amount") == "0.00"
    assert "none waits for the provider" in page
    assert "No worker has sent a heartbeat" in page
    assert "No failed job." in page
    assert "No product is low on stock." in page


def _stock(client: Any, name: str, on_hand: int, reorder_point: int | None) -> int:
    created = client.post("/api/v1/products", json={"name": name, "price_cents": 100})
    assert created.status_code == 201, created.text
    pid = int(created.json()["data"]["id"])
    assert client.post("/api/v1/inventory", json={"product_id": pid, "on_hand": on_hand}).status_code == 201
    if reorder_point is not None:
        assert client.patch(f"/api/v1/inventory/{pid}", json={"reorder_point": reorder_point}).status_code == 200
    return pid


def test_dashboard_lists_low_stock_most_urgent_first(client: Any, sql: Any) -> None:
    at_point = _stock(client, "At its point", 5, 5)
    under = _stock(client, XSS, 2, 5)
    empty = _stock(client, "Empty, no point", 0, None)
    held = _stock(client, "Held", 10, 5)
    _stock(client, "Plenty", 50, 5)
    _stock(client, "No point", 1, None)
    gone = _stock(client, "Deleted", 0, 5)
    sql.execute("update inventory set reserved = 9 where product_id = %s", (held,))  # available 1
    assert client.delete(f"/api/v1/products/{gone}").status_code == 200

    page = client.get("/dashboard").text
    panel = page.split('data-testid="low-stock"', 1)[1].split("</section>", 1)[0]
    rows = re.findall(r'<tr data-testid="low-stock-product"><td>(\d+)</td>', panel)
    assert [int(r) for r in rows] == [empty, held, under, at_point]
    assert text_of(page, f"low-stock-available-{held}") == "1"
    assert text_of(page, f"low-stock-reorder-point-{held}") == "5"
    assert text_of(page, f"low-stock-available-{empty}") == "0"
    assert text_of(page, f"low-stock-reorder-point-{empty}") == "none"
    assert '<td class="num">10</td><td class="num">9</td>' in panel  # held's on_hand and reserved
    assert "&lt;script&gt;document.title" in panel
    assert "<script" not in page
    assert "No product is low on stock." not in page


def test_dashboard_lists_at_most_twenty_low_stock_products(client: Any, sql: Any) -> None:
    pids = [_stock(client, f"Low {n}", 1, 3) for n in range(25)]
    sql.execute("update inventory set on_hand = 0 where product_id = any(%s)", (pids[20:],))
    panel = client.get("/dashboard").text.split('data-testid="low-stock"', 1)[1].split("</section>", 1)[0]
    rows = [int(r) for r in re.findall(r'<tr data-testid="low-stock-product"><td>(\d+)</td>', panel)]
    assert rows == pids[20:] + pids[:15]  # the five out of stock first, then by product id


@pytest.mark.parametrize(("query", "meta"), [("", 'content="5"'), ("?refresh=2", 'content="2"'), ("?refresh=0", None)])
def test_dashboard_reloads_itself_every_refresh_seconds(client: Any, query: str, meta: str | None) -> None:
    page = client.get("/dashboard" + query).text
    refresh = re.search(r'<meta http-equiv="refresh" ([^>]*)>', page)
    assert (refresh[1] if refresh else None) == meta


@pytest.mark.parametrize("value", ["-1", "3601", "soon"])
def test_dashboard_refuses_a_bad_refresh_with_400(client: Any, value: str) -> None:
    response = client.get("/dashboard", params={"refresh": value})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


def test_dashboard_is_not_in_the_openapi_schema(client: Any) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert "/dashboard" not in paths
    assert any(p.startswith("/api/v1/") for p in paths)


def test_dashboard_shows_the_paused_job_kinds(client: Any, sql: Any) -> None:
    assert text_of(client.get("/dashboard").text, "kinds-paused") == "0"
    assert client.post("/api/v1/ops/kinds/deliver_webhook/pause").status_code == 200
    page = client.get("/dashboard").text
    assert text_of(page, "kinds-paused") == "1"
    assert "deliver_webhook" in page
    assert [r[0] for r in sql.execute("select kind from paused_job_kinds").fetchall()] == ["deliver_webhook"]


def test_dashboard_shows_the_limited_job_kinds(client: Any, sql: Any) -> None:
    assert text_of(client.get("/dashboard").text, "kinds-limited") == "0"
    assert client.put("/api/v1/ops/kinds/deliver_webhook/limit", json={"max_running": 3}).status_code == 200
    sql.execute(
        "insert into jobs (kind, status, lease_owner, lease_expires_at)"
        " values ('deliver_webhook', 'running', 'host:1:abc', now() + interval '1 minute')"
    )
    page = client.get("/dashboard").text
    assert text_of(page, "kinds-limited") == "1"
    assert "deliver_webhook: 1/3 running" in page


def _refund(sql: Any, order_id: int, amount_cents: int, status: str, *, age_s: float = 0.0) -> None:
    """A refund of the order written in SQL: created `age_s` ago, and finished then unless pending."""
    sql.execute(
        """
        insert into refunds (order_id, client_id, amount_cents, status, created_at, finished_at)
        select id, client_id, %(amount)s, %(status)s, now() - make_interval(secs => %(age)s),
            case when %(status)s <> 'pending' then now() - make_interval(secs => %(age)s) end
        from orders where id = %(order_id)s
        """,
        {"order_id": order_id, "amount": amount_cents, "status": status, "age": age_s},
    )


def test_dashboard_shows_refunds_and_the_orders_to_ship(client: Any, sql: Any) -> None:
    pid = make_product(sql, price=250_000, on_hand=50)

    def paid(fulfillment_status: str, *, paid_ago_s: float = 0.0, status: str = "processed") -> int:
        order_id = make_order(sql, {pid: 1}, status=status, payment_status="succeeded")
        sql.execute(
            "update orders set fulfillment_status = %s, finished_at = now() - make_interval(secs => %s) where id = %s",
            (fulfillment_status, paid_ago_s, order_id),
        )
        return order_id

    first = paid("unfulfilled", paid_ago_s=3 * 3600)
    paid("unfulfilled")
    paid("partially_fulfilled", paid_ago_s=600)
    shipped = paid("fulfilled")
    cancelled = paid("unfulfilled", status="cancelled")  # cancelled after payment: nothing to ship
    make_order(sql, {pid: 1}, status="reserved", payment_status="pending")  # not paid yet
    _refund(sql, first, 1_000, "pending", age_s=2 * 3600)
    _refund(sql, first, 500, "pending", age_s=60)
    _refund(sql, shipped, 150_000, "succeeded")
    _refund(sql, shipped, 34_567, "succeeded", age_s=300)
    _refund(sql, cancelled, 250_000, "succeeded", age_s=2 * 3600)  # finished before the last hour
    _refund(sql, shipped, 700, "failed")
    _refund(sql, first, 800, "failed", age_s=2 * 3600)

    page = client.get("/dashboard").text
    assert text_of(page, "to-ship") == "3"
    assert text_of(page, "to-ship-unfulfilled") == "2"
    assert text_of(page, "to-ship-partially-fulfilled") == "1"
    assert "; oldest paid 3h ago" in page
    assert text_of(page, "refunds-pending") == "2"
    assert "oldest waits 2h" in page
    assert re.search(r'<div class="card bad"><div class="label">Refunds pending<', page)
    assert text_of(page, "refunds-succeeded") == "2"
    assert text_of(page, "refunds-failed") == "1"
    assert text_of(page, "refunds-amount") == "1,845.67"
    assert "in the last hour (184567 cents)" in page

    stats = client.get("/api/v1/ops/stats").json()
    assert stats["to_ship"]["unfulfilled"] == 2 and stats["to_ship"]["partially_fulfilled"] == 1
    assert 3 * 3600 <= stats["to_ship"]["oldest_age_s"] < 3 * 3600 + 60
    assert stats["refunds"]["oldest_pending_age_s"] >= 2 * 3600
    assert {k: v for k, v in stats["refunds"].items() if k != "oldest_pending_age_s"} == {
        "pending": 2,
        "succeeded_last_hour": 2,
        "failed_last_hour": 1,
        "refunded_cents_last_hour": 184_567,
    }
