"""`GET /dashboard` rendered from a real database: the numbers it shows, data escaped as text,
its reload setting, and that it stays out of the OpenAPI schema. (The browser test, with real
processes and orders flowing, is tests/system/test_dashboard.py.)"""

from __future__ import annotations

import re
from typing import Any

import pytest

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


def test_dashboard_on_an_empty_database_says_so(client: Any) -> None:
    page = client.get("/dashboard").text
    assert text_of(page, "orders-processed") == "0"
    assert text_of(page, "workers-alive") == "0"
    assert "No worker has sent a heartbeat" in page
    assert "No failed job." in page


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
