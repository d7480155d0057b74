"""The API against its own OpenAPI document, by schemathesis (every check, every phase), on a
live `invorder serve`: with a key holding every scope there is no failure, and without a key
every operation answers 401. schemathesis.toml at the root says what the document cannot know,
each of its allowances for the operations it names and no other."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from schemathesis.config import SchemathesisConfig
from schemathesis.openapi import from_dict

from tests.support.processes import ADMIN_TOKEN, AUTH, LiveProcess, start_api, start_worker

ROOT = Path(__file__).resolve().parents[2]
OPEN = r"^/(healthz|readyz)$"  # the only operations without a key


def schemathesis(api: LiveProcess, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "schemathesis.cli", "run", f"{api.url}/schema/openapi.json"),
            *("--checks", "all", "--max-examples", "15", "--workers", "1", "--seed", "1"),
            # Hypothesis gives up on an operation whose path pattern (a job kind) filters out most
            # of what it draws, now and then: a limit of the generator, not an answer of the API.
            *("--suppress-health-check", "filter_too_much"),
            *("--no-color", "--report", "har", "--report-har-path", str(tmp_path / "run.har")),
            *args,
        ],
        cwd=ROOT,  # for schemathesis.toml
        capture_output=True,
        text=True,
        timeout=600,
    )


def answers(tmp_path: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((tmp_path / "run.har").read_text())["log"]["entries"]
    return entries


@pytest.fixture
def paid_api(system_env: dict[str, str]) -> Iterator[LiveProcess]:
    """The API with a worker and the payment simulator behind it, and orders 1 to 3 paid. The
    coverage phase asks for the smallest ids first, so a paid order is cancelled (202, with its
    refund) and refunds are read: answers after payment are held to the document too."""
    api = start_api(system_env)
    worker = start_worker(system_env, concurrency=4)
    try:
        with httpx.Client(base_url=api.url, headers=AUTH, timeout=40) as http:
            product = http.post("/api/v1/products", json={"name": "Paid", "price_cents": 500}).json()["data"]["id"]
            assert http.post("/api/v1/inventory", json={"product_id": product, "on_hand": 100}).status_code == 201
            placed = [http.post("/api/v1/orders", json={"product_id": product, "quantity": 3}) for _ in range(3)]
            assert [r.json()["data"]["id"] for r in placed] == [1, 2, 3], [r.text for r in placed]
            for order_id in (1, 2, 3):
                order = http.get(f"/api/v1/orders/{order_id}", params={"wait": 20}).json()
                assert order["status"] == "processed", order
        yield api
    finally:
        for process in (worker, api):
            process.stop()


@pytest.mark.slow
def test_schemathesis_finds_no_failure_with_a_full_access_key(paid_api: LiveProcess, tmp_path: Path) -> None:
    run = schemathesis(paid_api, tmp_path, "-H", f"Authorization: Bearer {ADMIN_TOKEN}")
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    entries = answers(tmp_path)
    statuses = Counter(entry["response"]["status"] for entry in entries)
    assert sum(n for status, n in statuses.items() if 200 <= status < 300) > 100, statuses
    # The routes after payment answered with data, not only with errors.
    seen = {
        (e["request"]["method"], re.sub(r"/[0-9]+(?=/|$)", "/N", e["request"]["url"].split("?")[0]))
        for e in entries
        if 200 <= e["response"]["status"] < 300
    }
    for method, path in [
        ("POST", "/orders/N/cancel"),
        ("GET", "/refunds/N"),
        ("GET", "/orders/N/refunds"),
        ("GET", "/orders/N/fulfillments"),
    ]:
        assert any(m == method and u.endswith("/api/v1" + path) for m, u in seen), (method, path)


# The statuses schemathesis.toml allows beyond schemathesis's defaults, per operation ("422":
# state the document cannot know), and the operations whose stateful phase is off. Each entry
# there reaches these operations and no other.
ALLOWED = {
    "POST /api/v1/orders": {"422"},
    "PATCH /api/v1/products/{product_id}": {"412"},
    "PATCH /api/v1/inventory/{product_id}": {"412"},
    "PATCH /api/v1/inventory/{product_id}/locations/{location_id}": {"412"},
    "POST /api/v1/webhook-endpoints": {"422"},
    "PATCH /api/v1/webhook-endpoints/{endpoint_id}": {"422"},
    "POST /api/v1/orders/{order_id}/fulfillments": {"422"},
    "POST /api/v1/orders/{order_id}/refunds": {"422"},
}
NOT_STATEFUL = {
    "PUT /api/v1/products/{product_id}/categories",
    "DELETE /api/v1/products/{product_id}/categories/{category_id}",
}


def test_each_allowance_reaches_only_the_operations_it_names(client: Any) -> None:
    config = SchemathesisConfig.from_path(str(ROOT / "schemathesis.toml"))
    schema = from_dict(client.get("/schema/openapi.json").json(), config=config)
    defaults = set(schema.config.checks.positive_data_acceptance.expected_statuses)
    allowed: dict[str, set[str]] = {}
    not_stateful: set[str] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        expected = set(schema.config.checks_config_for(operation=operation).positive_data_acceptance.expected_statuses)
        if expected != defaults:
            allowed[operation.label] = expected - defaults
        if not schema.config.phases_for(operation=operation).stateful.enabled:
            not_stateful.add(operation.label)
    assert allowed == ALLOWED
    assert not_stateful == NOT_STATEFUL


@pytest.mark.slow
def test_without_a_key_every_operation_answers_401(live_api: LiveProcess, tmp_path: Path) -> None:
    run = schemathesis(live_api, tmp_path, "--exclude-path-regex", OPEN)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    document = httpx.get(f"{live_api.url}/schema/openapi.json").json()
    routes = [re.compile("^" + re.sub(r"\{[^}]+\}", "[0-9]+", path) + "$") for path in document["paths"]]
    entries = answers(tmp_path)
    assert len(entries) > 500
    for entry in entries:
        method, url, status = entry["request"]["method"], entry["request"]["url"], entry["response"]["status"]
        path = "/" + url.split("/", 3)[3].split("?", 1)[0]
        # Before any key is read, the router answers a path no route matches (404) and a
        # method a route lacks (405); neither says anything the document does not.
        if status == 404 and not any(r.match(path) for r in routes):
            continue
        if status == 405 and method.lower() not in document["paths"].get(_template(document, path), {}):
            continue
        assert status == 401, f"{method} {url} answered {status} without a key"


def _template(document: dict[str, Any], path: str) -> str:
    for template in document["paths"]:
        if re.match("^" + re.sub(r"\{[^}]+\}", "[0-9]+", template) + "$", path):
            return str(template)
    return ""
