"""Clients generated from the live OpenAPI document, as a user makes them, each run through one
flow against a live API, worker and payment simulator: openapi-python-client's, and
openapi-typescript's types with openapi-fetch, compiled by `tsc --strict` (tests/clients/)."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.support.processes import ADMIN_TOKEN, LiveProcess, start_api, start_worker

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
BIGGEST_ID = 2**53 - 1  # no row has it


@pytest.fixture
def system(system_env: dict[str, str]) -> Iterator[LiveProcess]:
    api = start_api(system_env)
    worker = start_worker(system_env, concurrency=4)
    yield api
    for process in (worker, api):
        process.stop()


def test_the_document_is_valid_openapi(client: Any) -> None:
    validate(client.get("/schema/openapi.json").json())


@pytest.fixture
def python_client(system: LiveProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The package openapi-python-client generates from the live document, imported."""
    generated = subprocess.run(
        [
            *(sys.executable, "-m", "openapi_python_client", "generate"),
            *("--url", f"{system.url}/schema/openapi.json", "--meta", "none"),
            *("--output-path", str(tmp_path / "invorder_client"), "--fail-on-warning"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0 and "Warning" not in output and "Error" not in output, output
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("invorder_client")
    for name in [m for m in sys.modules if m == "invorder_client" or m.startswith("invorder_client.")]:
        del sys.modules[name]


@pytest.mark.slow
def test_the_generated_python_client_places_ships_and_refunds_an_order(system: LiveProcess, python_client: Any) -> None:
    from invorder_client import AuthenticatedClient
    from invorder_client.api.fulfillments import create_fulfillment, list_fulfillments
    from invorder_client.api.inventory import create_inventory
    from invorder_client.api.orders import get_order, list_orders, place_order
    from invorder_client.api.products import create_product
    from invorder_client.api.refunds import create_refund, get_refund
    from invorder_client.models import (
        FulfillmentCreate,
        FulfillmentLine,
        FulfillmentMessage,
        FulfillmentPage,
        InventoryCreate,
        ListOrdersStatusType0,
        OrderCreateItems,
        OrderCreateLine,
        OrderLine,
        OrderMessage,
        OrderOut,
        OrderPage,
        Problem,
        ProductCreate,
        ProductMessage,
        Refund,
        RefundCreateItems,
        RefundLine,
        RefundLineRestock,
        RefundMessage,
    )

    with AuthenticatedClient(base_url=system.url, token=ADMIN_TOKEN, timeout=httpx.Timeout(30)) as api:
        product = create_product.sync(
            client=api, body=ProductCreate(name=f"Py widget {uuid.uuid4()}", price_cents=1250)
        )
        assert isinstance(product, ProductMessage), product
        stock = create_inventory.sync(client=api, body=InventoryCreate(product_id=product.data.id, on_hand=5))
        assert stock is not None and not isinstance(stock, Problem) and stock.data.on_hand == 5, stock

        key = str(uuid.uuid4())
        body = OrderCreateItems(items=[OrderLine(product_id=product.data.id, quantity=2)])
        placed = place_order.sync_detailed(client=api, body=body, idempotency_key=key)
        assert placed.status_code == 202 and isinstance(placed.parsed, OrderMessage), placed
        again = place_order.sync(client=api, body=body, idempotency_key=key)
        assert isinstance(again, OrderMessage) and again.data.id == placed.parsed.data.id

        order: OrderOut | None = None
        for _ in range(6):
            order = get_order.sync(client=api, order_id=placed.parsed.data.id, wait=10)
            assert isinstance(order, OrderOut), order
            if order.status in ("processed", "failed", "cancelled"):
                break
        assert order is not None and order.status == "processed" and order.total_cents == 2500, order

        page = list_orders.sync(client=api, status=ListOrdersStatusType0.PROCESSED, limit=500)
        assert isinstance(page, OrderPage) and order.id in [o.id for o in page.data], page

        missing = get_order.sync_detailed(client=api, order_id=BIGGEST_ID)
        assert missing.status_code == 404 and isinstance(missing.parsed, Problem), missing
        assert missing.parsed.status == 404 and missing.parsed.title, missing.parsed
        refused = place_order.sync_detailed(client=api, body=OrderCreateLine(product_id=BIGGEST_ID, quantity=1))
        assert refused.status_code == 422 and isinstance(refused.parsed, Problem), refused
        assert refused.parsed.status == 422 and refused.parsed.title, refused.parsed

        # After payment: one unit shipped, then returned and refunded (a replay is the same refund).
        shipped = create_fulfillment.sync_detailed(
            client=api,
            order_id=order.id,
            body=FulfillmentCreate(
                items=[FulfillmentLine(product_id=product.data.id, quantity=1)],
                carrier="DHL",
                tracking_number="PY-1",
            ),
        )
        assert shipped.status_code == 201 and isinstance(shipped.parsed, FulfillmentMessage), shipped
        fulfillment = shipped.parsed.data
        assert (fulfillment.order_id, fulfillment.carrier, fulfillment.tracking_number) == (order.id, "DHL", "PY-1")
        assert [(i.product_id, i.quantity) for i in fulfillment.items] == [(product.data.id, 1)], fulfillment
        shipments = list_fulfillments.sync(client=api, order_id=order.id)
        assert isinstance(shipments, FulfillmentPage) and [f.id for f in shipments.data] == [fulfillment.id]

        refund_key = str(uuid.uuid4())
        return_one = RefundCreateItems(
            items=[RefundLine(product_id=product.data.id, quantity=1, restock=RefundLineRestock.RETURN)]
        )
        accepted = create_refund.sync_detailed(
            client=api, order_id=order.id, body=return_one, idempotency_key=refund_key
        )
        assert accepted.status_code == 202 and isinstance(accepted.parsed, RefundMessage), accepted
        refund_id = accepted.parsed.data.id
        assert accepted.headers["Location"] == f"/api/v1/refunds/{refund_id}", accepted.headers
        assert accepted.parsed.data.amount_cents == 1250, accepted.parsed
        replayed = create_refund.sync_detailed(
            client=api, order_id=order.id, body=return_one, idempotency_key=refund_key
        )
        assert isinstance(replayed.parsed, RefundMessage) and replayed.parsed.data.id == refund_id, replayed
        assert replayed.headers.get("Idempotent-Replayed") == "true", replayed.headers

        refund: Refund | Problem | None = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            refund = get_refund.sync(client=api, refund_id=refund_id)
            assert isinstance(refund, Refund), refund
            if refund.status != "pending":
                break
            time.sleep(0.2)
        assert isinstance(refund, Refund) and refund.status == "succeeded", refund
        assert refund.provider_refund_id and [(i.restock, i.quantity) for i in refund.items] == [("return", 1)]

        after = get_order.sync(client=api, order_id=order.id)
        assert isinstance(after, OrderOut), after
        assert (after.refunded_cents, after.refund_status) == (1250, "partially_refunded"), after
        assert after.fulfillment_status == "partially_fulfilled", after
        (item,) = after.items
        assert (item.fulfilled_quantity, item.refunded_quantity, item.restocked_quantity) == (1, 1, 1), item


def _node_tools() -> Path:
    """tests/clients/node_modules, installed from its lock file when missing (`.ci/run` does it
    first); skips where Node is missing, except in CI."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("Node and npm are missing; .ci/run installs them")
        pytest.skip("Node and npm are not installed (Debian: apt-get install nodejs npm)")
    if not (CLIENTS / "node_modules" / ".bin" / "tsc").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENTS, check=True, timeout=600)
    return CLIENTS / "node_modules"


@pytest.mark.slow
def test_the_generated_typescript_client_places_ships_and_refunds_an_order(system: LiveProcess, tmp_path: Path) -> None:
    node_modules = _node_tools()
    project = tmp_path / "ts"
    project.mkdir()
    (project / "node_modules").symlink_to(node_modules)
    for name in ("flow.ts", "tsconfig.json", "package.json"):
        shutil.copy(CLIENTS / name, project / name)
    bin_ = node_modules / ".bin"

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(a) for a in args], cwd=project, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
        return done

    run(bin_ / "openapi-typescript", f"{system.url}/schema/openapi.json", "-o", "schema.d.ts")
    run(bin_ / "tsc", "-p", ".")
    seen = json.loads(run("node", "out/flow.js", system.url, ADMIN_TOKEN).stdout.strip().splitlines()[-1])
    assert seen["status"] == "processed", seen
    assert seen["not_found"] and seen["unprocessable"], seen
    assert seen["refund_status"] == "succeeded" and seen["refunded_cents"] == 1250, seen
    assert seen["fulfillment_status"] == "partially_fulfilled", seen
