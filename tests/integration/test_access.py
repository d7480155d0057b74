"""API keys and scopes against a real PostgreSQL: every route's scope (walked from the app's
own route list), 401 and 403, two clients kept apart, revocation and expiry, the keys table,
and the `invorder keys` CLI."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from invorder.access.keys import SCOPES
from invorder.api.access import SCOPE_KEY
from invorder.api.app import create_app
from invorder.settings import Settings
from tests.support.processes import run_invorder

OPEN = {"/healthz", "/readyz"}  # the only routes without a key
NOT_YET: set[str] = set()  # routes still open that will not stay so


def api_routes(app: Litestar) -> list[tuple[str, str, Any]]:
    """(method, path, handler) of every route the app serves, from its own route list."""
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(getattr(handler, "http_methods", [])):
                if method in ("HEAD", "OPTIONS"):
                    continue
                found.append((method, route.path, handler))
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def make_key(client: Any, name: str, *scopes: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/ops/keys", json={"client": name, "scopes": list(scopes), **extra})
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def bearer(key: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['key']}"}


def test_every_route_declares_a_known_scope(client: Any) -> None:
    app = client.app
    undeclared = []
    for method, path, handler in api_routes(app):
        if path in OPEN or path in NOT_YET or path.startswith("/schema"):
            continue
        scope = handler.opt.get(SCOPE_KEY)
        if scope not in SCOPES:
            undeclared.append(f"{method} {path}: {scope!r}")
    assert undeclared == []


def test_each_route_is_401_without_a_key_403_without_its_scope_and_served_with_it(client: Any) -> None:
    app = client.app
    routes = [(m, concrete(p), h.opt[SCOPE_KEY]) for m, p, h in api_routes(app) if SCOPE_KEY in h.opt]
    assert len(routes) >= 30
    only = {scope: make_key(client, "walker", scope) for scope in SCOPES}
    others = {scope: make_key(client, "walker", *(s for s in SCOPES if s != scope)) for scope in SCOPES}
    for method, path, scope in routes:
        body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
        anonymous = client.request(method, path, headers={"Authorization": ""}, **body)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        assert "Bearer" in anonymous.headers["www-authenticate"]
        refused = client.request(method, path, headers=bearer(others[scope]), **body)
        assert refused.status_code == 403, (method, path, refused.text)
        assert scope in refused.json()["detail"]
        served = client.request(method, path, headers=bearer(only[scope]), **body)
        assert served.status_code not in (401, 403), (method, path, scope, served.text)


def test_the_dashboard_takes_the_key_by_basic_auth_and_asks_a_browser_for_it(client: Any, settings: Settings) -> None:
    refused = client.get("/dashboard", headers={"Authorization": ""})
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic realm=")
    assert client.get("/dashboard", headers={"Authorization": ""}, auth=("anyone", "ik_wrong")).status_code == 401
    assert (
        client.get("/dashboard", headers={"Authorization": ""}, auth=("anyone", settings.admin_token)).status_code
        == 200
    )
    catalog = make_key(client, "shop-a", "catalog:read")
    assert client.get("/dashboard", headers={"Authorization": ""}, auth=("x", catalog["key"])).status_code == 403


def test_health_is_open(client: Any) -> None:
    for path in OPEN:
        assert client.get(path, headers={"Authorization": ""}).status_code in (200, 503)


def test_two_clients_see_only_their_own_orders_and_ops_sees_both(client: Any, sql: Any) -> None:
    pid = client.post("/api/v1/products", json={"name": "Shared", "price_cents": 100}).json()["data"]["id"]
    client.post("/api/v1/inventory", json={"product_id": pid, "on_hand": 10})
    a = bearer(make_key(client, "shop-a", "orders:read", "orders:write"))
    b = bearer(make_key(client, "shop-b", "orders:read", "orders:write"))
    ops = bearer(make_key(client, "operator", "ops", "orders:read", "orders:write"))
    body = {"product_id": pid, "quantity": 1}
    first = client.post("/api/v1/orders", json=body, headers={**a, "Idempotency-Key": "same"})
    second = client.post("/api/v1/orders", json=body, headers={**b, "Idempotency-Key": "same"})
    assert first.status_code == second.status_code == 202
    assert "idempotent-replayed" not in second.headers
    a_order, b_order = first.json()["data"]["id"], second.json()["data"]["id"]
    assert a_order != b_order  # one key, two clients: two orders
    replay = client.post("/api/v1/orders", json=body, headers={**a, "Idempotency-Key": "same"})
    assert replay.json()["data"]["id"] == a_order and replay.headers["idempotent-replayed"] == "true"

    for path in (f"/api/v1/orders/{a_order}", f"/api/v1/orders/{a_order}/logs", f"/api/v1/orders/{a_order}?wait=1"):
        assert client.get(path, headers=b).status_code == 404, path
    assert client.post(f"/api/v1/orders/{a_order}/cancel", headers=b).status_code == 404
    assert [o["id"] for o in client.get("/api/v1/orders", headers=b).json()["data"]] == [b_order]
    assert [o["id"] for o in client.get("/api/v1/orders", headers=a).json()["data"]] == [a_order]
    assert {o["id"] for o in client.get("/api/v1/orders", headers=ops).json()["data"]} == {a_order, b_order}
    assert client.get(f"/api/v1/orders/{b_order}", headers=ops).status_code == 200
    assert client.post(f"/api/v1/orders/{a_order}/cancel", headers=a).status_code == 200
    owners = dict(sql.execute("select o.id, c.name from orders o join clients c on c.id = o.client_id").fetchall())
    assert owners == {a_order: "shop-a", b_order: "shop-b"}


@pytest.fixture
def quick_revocation(settings: Settings) -> Iterator[Any]:
    fast = msgspec.structs.replace(settings, api_key_cache_s=0.3)
    with TestClient(app=create_app(fast), base_url="http://testserver.local") as c:
        c.headers.update({"Authorization": f"Bearer {settings.admin_token}"})
        yield c


def test_a_revoked_key_is_refused_within_the_cache_bound(quick_revocation: Any) -> None:
    client = quick_revocation
    key = make_key(client, "shop-a", "catalog:read")
    assert client.get("/api/v1/products", headers=bearer(key)).status_code == 200
    revoked = client.delete(f"/api/v1/ops/keys/{key['id']}")
    assert revoked.status_code == 200 and revoked.json()["data"]["revoked_at"]
    time.sleep(0.35)
    refused = client.get("/api/v1/products", headers=bearer(key))
    assert refused.status_code == 401, refused.text
    assert key["key"] not in refused.text


def test_an_expired_key_is_refused(client: Any) -> None:
    key = make_key(client, "shop-a", "catalog:read", expires_in_s=1)
    assert key["expires_at"]
    assert client.get("/api/v1/products", headers=bearer(key)).status_code == 200
    time.sleep(1.1)
    assert client.get("/api/v1/products", headers=bearer(key)).status_code == 401


def test_the_keys_table_holds_no_key_and_lists_never_show_one(client: Any, sql: Any) -> None:
    key = make_key(client, "shop-a", "orders:read")
    assert re.fullmatch(r"ik_[A-Za-z0-9_-]{32}", key["key"])
    assert key["prefix"] == key["key"][:11]
    row = sql.execute("select api_keys::text, key_hash from api_keys where id = %s", (key["id"],)).fetchone()
    assert key["key"] not in row[0] and key["key"][11:] not in row[0]
    assert bytes(row[1]) == hashlib.sha256(key["key"].encode()).digest()
    listed = client.get("/api/v1/ops/keys").text
    assert key["key"] not in listed and key["prefix"] in listed


def test_bad_key_requests_are_422_and_make_nothing(client: Any, sql: Any) -> None:
    for body in (
        {"client": "shop-a", "scopes": ["orders:delete"]},
        {"client": "shop-a", "scopes": []},
        {"client": "Shop A", "scopes": ["ops"]},
        {"client": "shop-a", "scopes": ["ops"], "expires_in_s": 0},
        {"client": "shop-a", "scopes": ["ops"], "colour": "red"},
        {"client": "shop-a\n", "scopes": ["ops"]},
    ):
        response = client.post("/api/v1/ops/keys", json=body)
        assert 400 <= response.status_code < 500, (body, response.text)
    assert sql.execute("select count(*) from api_keys").fetchone() == (0,)


def test_last_use_is_recorded_when_the_api_flushes(settings: Settings, sql: Any) -> None:
    fast = msgspec.structs.replace(settings, api_key_last_used_flush_s=0.2)
    with TestClient(app=create_app(fast), base_url="http://testserver.local") as c:
        c.headers.update({"Authorization": f"Bearer {settings.admin_token}"})
        key = make_key(c, "shop-a", "catalog:read")
        for _ in range(5):
            assert c.get("/api/v1/products", headers=bearer(key)).status_code == 200
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            row = sql.execute("select last_used_at from api_keys where id = %s", (key["id"],)).fetchone()
            if row[0] is not None:
                break
            time.sleep(0.05)
        assert row[0] is not None


def test_keys_cli_creates_lists_and_revokes(database_url: str, sql: Any) -> None:
    env = {"DATABASE_URL": database_url}
    made = run_invorder("keys", "create", "--client", "shop-cli", "--scope", "orders:read", "--json", env=env)
    assert made.returncode == 0, made.stderr
    key = msgspec.json.decode(made.stdout)
    assert key["client"] == "shop-cli" and key["scopes"] == ["orders:read"] and key["key"].startswith("ik_")
    listed = run_invorder("keys", "list", env=env)
    assert listed.returncode == 0 and key["prefix"] in listed.stdout and key["key"] not in listed.stdout
    revoked = run_invorder("keys", "revoke", str(key["id"]), env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert sql.execute("select revoked_at is not null from api_keys where id = %s", (key["id"],)).fetchone() == (True,)
    missing = run_invorder("keys", "revoke", "999999", env=env)
    assert missing.returncode != 0 and "does not exist" in missing.stderr
    badly_named = run_invorder("keys", "create", "--client", "Shop A", "--scope", "ops", env=env)
    assert badly_named.returncode == 2 and "client name" in badly_named.stderr, badly_named.stderr
    bad = run_invorder("keys", "create", "--client", "x", "--scope", "ops", "--expires-in", "soon", env=env)
    assert bad.returncode == 2 and "not a duration" in bad.stderr


def test_changes_record_the_key_that_made_them(client: Any, sql: Any) -> None:
    pid = client.post("/api/v1/products", json={"name": "Audited", "price_cents": 100}).json()["data"]["id"]
    clerk = make_key(client, "warehouse", "inventory:read", "inventory:write")
    shop = make_key(client, "shop-a", "orders:read", "orders:write")
    assert client.post("/api/v1/inventory", json={"product_id": pid, "on_hand": 10}).status_code == 201
    adjusted = client.post(
        f"/api/v1/inventory/{pid}/adjustments", json={"delta": 5, "reason": "delivery"}, headers=bearer(clerk)
    )
    assert adjusted.status_code == 201
    assert client.patch(f"/api/v1/inventory/{pid}", json={"on_hand": 12}, headers=bearer(clerk)).status_code == 200
    movements = client.get(f"/api/v1/inventory/{pid}/movements", headers=bearer(clerk)).json()["data"]
    assert [(m["kind"], m["actor"]) for m in movements] == [
        ("initial", "admin"),  # the test client's INVORDER_ADMIN_TOKEN
        ("adjustment", f"key:{clerk['id']}"),
        ("set", f"key:{clerk['id']}"),
    ]

    order = client.post("/api/v1/orders", json={"product_id": pid, "quantity": 1}, headers=bearer(shop)).json()
    oid = order["data"]["id"]
    assert client.post(f"/api/v1/orders/{oid}/cancel", headers=bearer(shop)).status_code == 200
    logs = client.get(f"/api/v1/orders/{oid}/logs", headers=bearer(shop)).json()["data"]
    assert [(g["status"], g["actor"]) for g in logs] == [
        ("placed", f"key:{shop['id']}"),
        ("cancelled", f"key:{shop['id']}"),
    ]
    ops = make_key(client, "operator", "ops", "orders:write", "orders:read")
    other = client.post("/api/v1/orders", json={"product_id": pid, "quantity": 1}, headers=bearer(shop)).json()
    assert client.post(f"/api/v1/orders/{other['data']['id']}/cancel", headers=bearer(ops)).status_code == 200
    logs = client.get(f"/api/v1/orders/{other['data']['id']}/logs", headers=bearer(shop)).json()["data"]
    assert logs[-1]["status"] == "cancelled" and logs[-1]["actor"] == f"key:{ops['id']}"
    # Rows written before the audit columns existed have none, and read back as null.
    sql.execute("update stock_movements set actor = null where product_id = %s and kind = 'initial'", (pid,))
    first = client.get(f"/api/v1/inventory/{pid}/movements", headers=bearer(clerk)).json()["data"][0]
    assert first["kind"] == "initial" and first["actor"] is None
    assert client.delete(f"/api/v1/inventory/{pid}", headers=bearer(clerk)).status_code == 200
    removed = sql.execute("select actor from stock_movements where product_id = %s and kind = 'removed'", (pid,))
    assert removed.fetchall() == [(f"key:{clerk['id']}",)]
