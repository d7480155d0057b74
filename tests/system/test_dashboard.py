"""The dashboard in a real browser: Debian's headless Chromium, driven by playwright, reads
/dashboard from a real API while a real worker processes orders; the numbers move on the page's
own reloads (a product the orders take below its reorder point joins the low-stock panel),
failed jobs' errors show as text, and a screenshot goes to the test artefacts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.support.processes import ADMIN_TOKEN, AUTH, LiveProcess, start_worker, wait_until
from tests.system.test_order_processing import make_products

# Debian's package: playwright's own browser download cannot work on these machines (no
# `playwright install`). .ci/run installs it when it is missing.
CHROMIUM = Path(os.environ.get("INVORDER_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root in CI, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ORDERS = 25
XSS = '<script>document.title="pwned"</script> & <b>not bold</b>'


def screenshot_path(name: str) -> Path:
    folder = Path(os.environ.get("INVORDER_TEST_ARTIFACTS", "test-artifacts")) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


@pytest.fixture
def page() -> Iterator[Page]:
    """A page of a fresh headless Chromium."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set INVORDER_TEST_CHROMIUM)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # The browser answers the dashboard's Basic challenge with the key as the password.
            context = browser.new_context(
                viewport={"width": 1400, "height": 1000},
                http_credentials={"username": "ops", "password": ADMIN_TOKEN},
            )
            yield context.new_page()
        finally:
            browser.close()


@pytest.fixture
def worker(system_env: dict[str, str], sql: Any) -> Iterator[LiveProcess]:
    process = start_worker(system_env, concurrency=8)
    try:
        wait_until(
            lambda: sql.execute("select count(*) from queue_workers where stopped_at is null").fetchone()[0] == 1,
            timeout=30,
            what="the worker's first heartbeat",
        )
        yield process
    finally:
        assert process.stop() == 0


def test_dashboard_in_chromium_shows_numbers_that_move_as_orders_flow(
    live_api: LiveProcess, worker: LiveProcess, sql: Any, page: Page
) -> None:
    (product,) = make_products(live_api.url, [1000])
    # Low once ten orders have reserved their unit; the 25 take it to 975.
    low_from = 990
    set_point = httpx.patch(
        f"{live_api.url}/api/v1/inventory/{product}", json={"reorder_point": low_from}, headers=AUTH, timeout=10
    )
    assert set_point.status_code == 200, set_point.text
    sql.execute(
        "insert into jobs (kind, status, attempts, max_attempts, last_error)"
        " values ('dashboard_probe', 'dead', 3, 3, %s)",
        [XSS],
    )

    refused = httpx.get(f"{live_api.url}/dashboard", timeout=10)  # no key: the browser is asked for one
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    wrong = httpx.get(f"{live_api.url}/dashboard", auth=("ops", "not-the-key"), timeout=10)
    assert wrong.status_code == 401
    page.goto(f"{live_api.url}/dashboard?refresh=1")
    expect(page).to_have_title("invorder dashboard")
    expect(page.get_by_test_id("orders-processed")).to_have_text("0")
    expect(page.get_by_test_id("to-ship")).to_have_text("0")
    expect(page.get_by_test_id("workers-alive")).to_have_text("1")
    expect(page.get_by_test_id("queue-dead-dashboard_probe")).to_have_text("1")
    expect(page.get_by_test_id("nothing-low")).to_be_visible()
    # The error is shown as the text it is, and nothing of it became an element or ran.
    expect(page.get_by_test_id("failure-error")).to_have_text(XSS)
    assert page.locator("script").count() == 0
    assert page.locator("[data-testid=failure-error] b").count() == 0
    first_update = page.get_by_test_id("updated-at").get_attribute("datetime")

    with httpx.Client(headers=AUTH, base_url=live_api.url, timeout=30) as http:
        for _ in range(ORDERS):
            assert http.post("/api/v1/orders", json={"product_id": product, "quantity": 1}).status_code == 202

    # No goto and no reload from here on: only the page's own refresh can change what it shows.
    expect(page.get_by_test_id("orders-processed")).to_have_text(str(ORDERS), timeout=90_000)
    expect(page.get_by_test_id("orders-finished-processed")).to_have_text(str(ORDERS))
    # Throughput comes from the worker's heartbeats, a few seconds behind the orders.
    expect(page.get_by_test_id("throughput-5m")).to_have_text(str(ORDERS), timeout=30_000)
    expect(page.get_by_test_id("jobs-done")).to_have_text(str(ORDERS))
    expect(page.get_by_test_id("workers-alive")).to_have_text("1")
    expect(page.get_by_test_id("orders-pending")).to_have_text("0")
    expect(page.get_by_test_id("to-ship")).to_have_text(str(ORDERS))  # paid, none shipped
    expect(page.get_by_test_id(f"low-stock-available-{product}")).to_have_text(str(1000 - ORDERS))
    expect(page.get_by_test_id(f"low-stock-reorder-point-{product}")).to_have_text(str(low_from))
    assert page.get_by_test_id("updated-at").get_attribute("datetime") != first_update
    expect(page.get_by_test_id("failure-error")).to_have_text(XSS)
    assert page.title() == "invorder dashboard"

    # A page that stays put while it is photographed.
    page.goto(f"{live_api.url}/dashboard?refresh=60")
    expect(page.get_by_test_id("orders-processed")).to_have_text(str(ORDERS))
    path = screenshot_path("dashboard.png")
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
