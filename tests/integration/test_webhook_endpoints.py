"""Webhook endpoints against a real PostgreSQL: made, read, listed, changed and deleted through
the API by keys of two clients kept apart, the `webhooks:write` scope, the SSRF guard at save
time (IP literals and `localhost` only: nothing is looked up or connected to), signing secrets
and their rotation, the deliveries record, and the `invorder webhooks` CLI."""

from __future__ import annotations

import base64
import getpass
import re
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from invorder.api.app import create_app
from invorder.events import EVENT_TYPES
from invorder.settings import Settings
from tests.integration.test_access import bearer, make_key
from tests.support.processes import authed, run_invorder

BASE = "/api/v1/webhook-endpoints"
PROBLEM = "application/problem+json"
SECRET_SHAPE = re.compile(r"whsec_[A-Za-z0-9+/]+={0,2}")
OUT_FIELDS = {"id", "url", "events", "description", "enabled", "disabled_reason", "created_at", "updated_at"}
# Nothing is delivered in these tests (no worker runs): the URLs are only stored.
LOOPBACK_URL = "http://127.0.0.1:9/hooks"
PUBLIC_URL = "http://93.184.216.34/hooks"  # an IP literal: accepted without a lookup


def app_client(settings: Settings, *, allow_private: bool) -> TestClient[Any]:
    app = create_app(msgspec.structs.replace(settings, webhook_allow_private=allow_private))
    return authed(TestClient(app=app, base_url="http://testserver.local"))


@pytest.fixture
def hooks(settings: Settings) -> Iterator[TestClient[Any]]:
    """The API with INVORDER_WEBHOOK_ALLOW_PRIVATE on (as in dev), the admin key by default."""
    with app_client(settings, allow_private=True) as client:
        yield client


@pytest.fixture
def guarded(settings: Settings) -> Iterator[TestClient[Any]]:
    """The API as in production: private addresses refused."""
    with app_client(settings, allow_private=False) as client:
        yield client


def create(client: Any, headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
    response = client.post(BASE, json={"url": LOOPBACK_URL, "events": ["order.processed"], **body}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def client_id(sql: Any, name: str) -> int:
    return int(sql.execute("select id from clients where name = %s", (name,)).fetchone()[0])


def test_an_endpoint_is_made_with_its_secret_once_then_read_listed_changed_and_deleted(hooks: Any, sql: Any) -> None:
    key = make_key(hooks, "shop-a", "webhooks:write")
    made = hooks.post(
        BASE,
        json={"url": LOOPBACK_URL, "events": ["order.processed", "order.placed", "order.placed"], "description": "ERP"},
        headers=bearer(key),
    )
    assert made.status_code == 201, made.text
    body = made.json()
    data = body["data"]
    assert made.headers["location"] == f"{BASE}/{data['id']}"
    assert set(data) == OUT_FIELDS | {"secret"} and body["message"]
    assert data["url"] == LOOPBACK_URL and data["description"] == "ERP"
    assert data["events"] == ["order.placed", "order.processed"]  # each once, in the canonical order
    assert data["enabled"] is True and data["disabled_reason"] is None
    row = sql.execute(
        "select client_id, all_clients, created_by, secret, previous_secret from webhook_endpoints where id = %s",
        (data["id"],),
    ).fetchone()
    assert row == (client_id(sql, "shop-a"), False, f"key:{key['id']}", data["secret"], None)

    one = hooks.get(f"{BASE}/{data['id']}", headers=bearer(key))
    assert one.status_code == 200 and set(one.json()) == OUT_FIELDS
    assert one.json() == {k: v for k, v in data.items() if k != "secret"}
    listed = hooks.get(BASE, headers=bearer(key))
    assert listed.status_code == 200 and [e["id"] for e in listed.json()["data"]] == [data["id"]]
    assert listed.json()["next_cursor"] is None and data["secret"] not in listed.text

    changed = hooks.patch(
        f"{BASE}/{data['id']}",
        json={"url": "http://localhost:8080/in", "events": ["*"], "description": None},
        headers=bearer(key),
    )
    assert changed.status_code == 200, changed.text
    assert set(changed.json()["data"]) == OUT_FIELDS
    assert changed.json()["data"]["events"] == ["*"] and changed.json()["data"]["description"] is None
    assert changed.json()["data"]["url"] == "http://localhost:8080/in"
    assert changed.json()["data"]["updated_at"] >= data["updated_at"]
    # An empty change changes nothing but the time.
    same = hooks.patch(f"{BASE}/{data['id']}", json={}, headers=bearer(key))
    assert same.status_code == 200 and same.json()["data"]["events"] == ["*"]

    deleted = hooks.delete(f"{BASE}/{data['id']}", headers=bearer(key))
    assert deleted.status_code == 200 and deleted.json()["message"] and deleted.json()["data"]["id"] == data["id"]
    assert "secret" not in deleted.json()["data"]
    assert hooks.get(f"{BASE}/{data['id']}", headers=bearer(key)).status_code == 404
    assert hooks.delete(f"{BASE}/{data['id']}", headers=bearer(key)).status_code == 404
    assert sql.execute("select count(*) from webhook_endpoints").fetchone() == (0,)


def test_another_clients_endpoint_is_404_and_each_client_lists_only_its_own(hooks: Any, sql: Any) -> None:
    a = bearer(make_key(hooks, "shop-a", "webhooks:write"))
    b = bearer(make_key(hooks, "shop-b", "webhooks:write"))
    ops = bearer(make_key(hooks, "operator", "webhooks:write", "ops"))
    a_hook, b_hook = create(hooks, a), create(hooks, b)
    ops_hook = create(hooks, ops)
    admin_hook = create(hooks)  # INVORDER_ADMIN_TOKEN: every scope, ops among them

    path = f"{BASE}/{a_hook['id']}"
    for method, url, body in (
        ("GET", path, None),
        ("PATCH", path, {"enabled": False}),
        ("DELETE", path, None),
        ("POST", f"{path}/rotate-secret", None),
        ("GET", f"{path}/deliveries", None),
    ):
        refused = hooks.request(method, url, json=body, headers=b)
        assert refused.status_code == 404, (method, url, refused.text)
        assert refused.headers["content-type"].startswith(PROBLEM)
    assert hooks.get(path, headers=a).json()["enabled"] is True  # nothing of b's reached it

    assert [e["id"] for e in hooks.get(BASE, headers=a).json()["data"]] == [a_hook["id"]]
    assert [e["id"] for e in hooks.get(BASE, headers=b).json()["data"]] == [b_hook["id"]]
    everyone = {a_hook["id"], b_hook["id"], ops_hook["id"], admin_hook["id"]}
    assert {e["id"] for e in hooks.get(BASE, headers=ops).json()["data"]} == everyone
    assert hooks.get(path, headers=ops).status_code == 200
    assert hooks.patch(path, json={"description": "checked by ops"}, headers=ops).status_code == 200

    # An endpoint made with `ops` receives every client's order events; the others their own.
    owners = dict(sql.execute("select id, all_clients from webhook_endpoints").fetchall())
    assert owners == {a_hook["id"]: False, b_hook["id"]: False, ops_hook["id"]: True, admin_hook["id"]: True}


def test_lists_are_paged_by_id_with_a_cursor(hooks: Any) -> None:
    key = bearer(make_key(hooks, "shop-a", "webhooks:write"))
    ids = [create(hooks, key)["id"] for _ in range(5)]
    first = hooks.get(BASE, params={"limit": 2}, headers=key).json()
    second = hooks.get(BASE, params={"limit": 2, "cursor": first["next_cursor"]}, headers=key).json()
    third = hooks.get(BASE, params={"limit": 2, "cursor": second["next_cursor"]}, headers=key).json()
    assert [e["id"] for page in (first, second, third) for e in page["data"]] == ids
    assert third["next_cursor"] is None
    assert hooks.get(BASE, params={"limit": 501}, headers=key).status_code == 400


def test_every_webhook_route_needs_the_webhooks_write_scope(hooks: Any) -> None:
    hook = create(hooks)
    reader = bearer(make_key(hooks, "shop-a", "events:read", "orders:write", "catalog:read"))
    path = f"{BASE}/{hook['id']}"
    routes = [
        ("POST", BASE, {"url": LOOPBACK_URL, "events": ["*"]}),
        ("GET", BASE, None),
        ("GET", path, None),
        ("PATCH", path, {"enabled": False}),
        ("DELETE", path, None),
        ("POST", f"{path}/rotate-secret", None),
        ("GET", f"{path}/deliveries", None),
    ]
    for method, url, body in routes:
        refused = hooks.request(method, url, json=body, headers=reader)
        assert refused.status_code == 403, (method, url, refused.text)
        assert "webhooks:write" in refused.json()["detail"]
        anonymous = hooks.request(method, url, json=body, headers={"Authorization": ""})
        assert anonymous.status_code == 401, (method, url)
    assert hooks.get(path).json()["enabled"] is True


REFUSED_URLS = [
    "http://10.0.0.1/hooks",
    "http://192.168.1.5/hooks",
    "http://127.0.0.1:9/hooks",
    "http://[::1]/hooks",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/",
    "http://localhost/hooks",
    "http://hooks.localhost/",
    "http://[::ffff:10.0.0.1]/hooks",
    "http://[fe80::1]/hooks",
    "ftp://93.184.216.34/hooks",
    "http://user:password@93.184.216.34/hooks",
    "http://2130706433/",  # 127.0.0.1 as one number
]


def test_private_loopback_link_local_and_metadata_urls_are_422_and_store_nothing(guarded: Any, sql: Any) -> None:
    key = bearer(make_key(guarded, "shop-a", "webhooks:write"))
    for url in REFUSED_URLS:
        refused = guarded.post(BASE, json={"url": url, "events": ["order.processed"]}, headers=key)
        assert refused.status_code == 422, (url, refused.text)
        assert refused.headers["content-type"].startswith(PROBLEM)
        assert [e["field"] for e in refused.json()["errors"]] == ["url"], url
    assert sql.execute("select count(*) from webhook_endpoints").fetchone() == (0,)

    # A public address is taken, and a change of it to a refused one is refused too.
    hook = create(guarded, key, url=PUBLIC_URL)
    for url in ("http://127.0.0.1:9/hooks", "http://169.254.169.254/", "http://localhost/"):
        refused = guarded.patch(f"{BASE}/{hook['id']}", json={"url": url}, headers=key)
        assert refused.status_code == 422, (url, refused.text)
    assert sql.execute("select url from webhook_endpoints").fetchall() == [(PUBLIC_URL,)]


def test_a_loopback_url_is_taken_when_private_addresses_are_allowed(hooks: Any) -> None:
    key = bearer(make_key(hooks, "shop-a", "webhooks:write"))
    for url in (LOOPBACK_URL, "http://localhost:8080/in", "http://[::1]:9/x", "http://10.0.0.1/x"):
        assert create(hooks, key, url=url)["url"] == url
    # The form is still checked.
    for url in ("ftp://127.0.0.1/", "http://user:pw@127.0.0.1/", "http://127.1/", "not a url"):
        assert hooks.post(BASE, json={"url": url, "events": ["*"]}, headers=key).status_code == 422, url


def test_bad_subscriptions_are_refused_and_store_nothing(hooks: Any, sql: Any) -> None:
    key = bearer(make_key(hooks, "shop-a", "webhooks:write"))
    unknown = hooks.post(BASE, json={"url": LOOPBACK_URL, "events": ["order.placed", "order.shipped"]}, headers=key)
    assert unknown.status_code == 422 and "order.shipped" in unknown.json()["detail"]
    assert unknown.json()["errors"][0]["field"] == "events"
    star = hooks.post(BASE, json={"url": LOOPBACK_URL, "events": ["*", "order.placed"]}, headers=key)
    assert star.status_code == 422 and '"*"' in star.json()["detail"]
    for body in (
        {"url": LOOPBACK_URL, "events": []},
        {"url": LOOPBACK_URL},
        {"events": ["*"]},
        {"url": LOOPBACK_URL, "events": ["*"], "description": "x" * 501},
        {"url": LOOPBACK_URL, "events": ["*"], "secret": "whsec_mine"},
        {"url": LOOPBACK_URL, "events": "order.placed"},
        {"url": "http://127.0.0.1/" + "a" * 2000, "events": ["*"]},
    ):
        response = hooks.post(BASE, json=body, headers=key)
        assert response.status_code == 400, (body, response.text)
    assert sql.execute("select count(*) from webhook_endpoints").fetchone() == (0,)

    hook = create(hooks, key)
    for body in ({"secret": "whsec_mine"}, {"enabled": "yes"}, {"events": []}, {"client_id": 1}):
        response = hooks.patch(f"{BASE}/{hook['id']}", json=body, headers=key)
        assert response.status_code == 400, (body, response.text)
    wrong = hooks.patch(f"{BASE}/{hook['id']}", json={"events": ["order.lost"]}, headers=key)
    assert wrong.status_code == 422 and "order.lost" in wrong.json()["detail"]
    assert hooks.get(f"{BASE}/{hook['id']}", headers=key).json()["events"] == ["order.processed"]
    every = hooks.patch(f"{BASE}/{hook['id']}", json={"events": list(EVENT_TYPES)}, headers=key)
    assert every.status_code == 200 and every.json()["data"]["events"] == list(EVENT_TYPES)


def test_secrets_are_whsec_base64_and_a_rotation_keeps_the_old_one_for_24_hours(hooks: Any, sql: Any) -> None:
    key = bearer(make_key(hooks, "shop-a", "webhooks:write"))
    hook = create(hooks, key)
    first = hook["secret"]
    assert SECRET_SHAPE.fullmatch(first), first
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) >= 24
    assert create(hooks, key)["secret"] != first

    rotated = hooks.post(f"{BASE}/{hook['id']}/rotate-secret", headers=key)
    assert rotated.status_code == 200, rotated.text
    assert set(rotated.json()["data"]) == OUT_FIELDS | {"secret"} and rotated.json()["message"]
    second = rotated.json()["data"]["secret"]
    assert SECRET_SHAPE.fullmatch(second) and second != first
    assert len(base64.b64decode(second.removeprefix("whsec_"), validate=True)) >= 24
    secret, previous, keeps_for = sql.execute(
        "select secret, previous_secret, previous_secret_expires_at - now() from webhook_endpoints where id = %s",
        (hook["id"],),
    ).fetchone()
    assert (secret, previous) == (second, first)
    assert timedelta(hours=24) - timedelta(minutes=1) < keeps_for <= timedelta(hours=24)
    # No answer but these two shows a secret.
    for response in (hooks.get(f"{BASE}/{hook['id']}", headers=key), hooks.get(BASE, headers=key)):
        assert first not in response.text and second not in response.text and "secret" not in response.text

    third = hooks.post(f"{BASE}/{hook['id']}/rotate-secret", headers=key).json()["data"]["secret"]
    now = sql.execute("select secret, previous_secret from webhook_endpoints where id = %s", (hook["id"],))
    assert now.fetchone() == (third, second)
    assert hooks.post(f"{BASE}/999999/rotate-secret", headers=key).status_code == 404


def test_enabling_an_endpoint_clears_why_it_was_disabled(hooks: Any, sql: Any) -> None:
    key = make_key(hooks, "shop-a", "webhooks:write")
    hook = create(hooks, bearer(key))
    path = f"{BASE}/{hook['id']}"
    sql.execute(
        "update webhook_endpoints set enabled = false, disabled_reason = 'the endpoint answered 410 Gone'"
        " where id = %s",
        (hook["id"],),
    )
    shown = hooks.get(path, headers=bearer(key)).json()
    assert (shown["enabled"], shown["disabled_reason"]) == (False, "the endpoint answered 410 Gone")
    # A change that does not enable it keeps the reason.
    kept = hooks.patch(path, json={"description": "still off"}, headers=bearer(key)).json()["data"]
    assert kept["disabled_reason"] == "the endpoint answered 410 Gone"
    again = hooks.patch(path, json={"enabled": False}, headers=bearer(key)).json()["data"]
    assert again["disabled_reason"] == "the endpoint answered 410 Gone"  # the first reason stays

    enabled = hooks.patch(path, json={"enabled": True}, headers=bearer(key))
    assert enabled.status_code == 200
    assert (enabled.json()["data"]["enabled"], enabled.json()["data"]["disabled_reason"]) == (True, None)
    disabled = hooks.patch(path, json={"enabled": False}, headers=bearer(key)).json()["data"]
    assert (disabled["enabled"], disabled["disabled_reason"]) == (False, f"disabled by key:{key['id']}")
    assert sql.execute("select enabled, disabled_reason from webhook_endpoints").fetchone() == (
        False,
        f"disabled by key:{key['id']}",
    )


def test_deliveries_are_listed_newest_first_with_a_cursor(hooks: Any, sql: Any) -> None:
    a = bearer(make_key(hooks, "shop-a", "webhooks:write"))
    b = bearer(make_key(hooks, "shop-b", "webhooks:write"))
    hook, other = create(hooks, a), create(hooks, a)
    path = f"{BASE}/{hook['id']}/deliveries"
    assert hooks.get(path, headers=a).json() == {"data": [], "next_cursor": None}
    inserted = [
        sql.execute(
            "insert into webhook_deliveries (endpoint_id, event_id, attempt, status_code, error, latency_ms)"
            " values (%s, %s, %s, %s, %s, %s) returning id",
            (endpoint, event, attempt, status, error, latency),
        ).fetchone()[0]
        for endpoint, event, attempt, status, error, latency in (
            (hook["id"], 7, 1, None, "timed out after 10 s", None),
            (hook["id"], 7, 2, 500, "answered 500", 41),
            (other["id"], 7, 1, 204, None, 12),
            (hook["id"], 7, 3, 204, None, 9),
            (hook["id"], 8, 1, 200, None, 15),
        )
    ]
    first = hooks.get(path, params={"limit": 3}, headers=a)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [d["id"] for d in page["data"]] == [inserted[4], inserted[3], inserted[1]]
    newest = page["data"][0]
    assert set(newest) == {"id", "event_id", "attempt", "status_code", "error", "latency_ms", "created_at"}
    assert (newest["event_id"], newest["attempt"], newest["status_code"], newest["error"]) == (8, 1, 200, None)
    rest = hooks.get(path, params={"limit": 3, "cursor": page["next_cursor"]}, headers=a).json()
    assert [d["id"] for d in rest["data"]] == [inserted[0]] and rest["next_cursor"] is None
    oldest = rest["data"][0]
    assert (oldest["status_code"], oldest["error"], oldest["latency_ms"]) == (None, "timed out after 10 s", None)

    assert hooks.get(path, headers=b).status_code == 404
    assert hooks.get(f"{BASE}/999999/deliveries", headers=a).status_code == 404
    # Deleting an endpoint deletes the record of its deliveries.
    assert hooks.delete(f"{BASE}/{hook['id']}", headers=a).status_code == 200
    assert sql.execute("select endpoint_id from webhook_deliveries").fetchall() == [(other["id"],)]


def test_webhooks_cli_creates_lists_updates_rotates_and_deletes(database_url: str, sql: Any) -> None:
    env = {"DATABASE_URL": database_url, "INVORDER_WEBHOOK_ALLOW_PRIVATE": "1"}
    sql.execute("insert into clients (name) values ('shop-cli')")
    made = run_invorder(
        *("webhooks", "create", "--client", "shop-cli", "--url", LOOPBACK_URL),
        *("--event", "order.processed", "--event", "order.failed", "--json"),
        env=env,
    )
    assert made.returncode == 0, made.stderr
    hook = msgspec.json.decode(made.stdout)
    assert hook["client"] == "shop-cli" and hook["events"] == ["order.processed", "order.failed"]
    assert SECRET_SHAPE.fullmatch(hook["secret"]) and hook["all_clients"] is False
    row = sql.execute("select client_id, created_by, secret from webhook_endpoints").fetchone()
    # Every CLI command records its actor the same way: --actor, or the operator's user@host.
    operator = f"{getpass.getuser()}@{socket.gethostname()}"
    assert row == (client_id(sql, "shop-cli"), operator, hook["secret"])
    everyone = run_invorder(
        "webhooks", "create", "--client", "shop-cli", "--url", LOOPBACK_URL, "--event", "*", "--all-clients", env=env
    )
    assert everyone.returncode == 0, everyone.stderr
    assert sql.execute("select count(*) from webhook_endpoints where all_clients").fetchone() == (1,)

    listed = run_invorder("webhooks", "list", env=env)
    assert listed.returncode == 0 and LOOPBACK_URL in listed.stdout and hook["secret"] not in listed.stdout
    off = run_invorder("webhooks", "update", str(hook["id"]), "--disable", "--event", "*", env=env)
    assert off.returncode == 0, off.stderr
    state = sql.execute("select enabled, disabled_reason, events from webhook_endpoints where id = %s", (hook["id"],))
    assert state.fetchone() == (False, f"disabled by {operator}", ["*"])
    on = run_invorder("webhooks", "update", str(hook["id"]), "--enable", env=env)
    assert on.returncode == 0 and "enabled" in on.stdout
    rotated = run_invorder("webhooks", "rotate-secret", str(hook["id"]), "--json", env=env)
    assert rotated.returncode == 0, rotated.stderr
    new_secret = msgspec.json.decode(rotated.stdout)["secret"]
    secrets = sql.execute("select secret, previous_secret from webhook_endpoints where id = %s", (hook["id"],))
    assert secrets.fetchone() == (new_secret, hook["secret"])
    sql.execute(
        "insert into webhook_deliveries (endpoint_id, event_id, attempt, status_code, error)"
        " values (%s, 42, 1, null, 'connection refused')",
        (hook["id"],),
    )
    deliveries = run_invorder("webhooks", "deliveries", str(hook["id"]), "--json", env=env)
    assert deliveries.returncode == 0, deliveries.stderr
    assert [(d["event_id"], d["error"]) for d in msgspec.json.decode(deliveries.stdout)] == [(42, "connection refused")]
    deleted = run_invorder("webhooks", "delete", str(hook["id"]), env=env)
    assert deleted.returncode == 0 and "deleted" in deleted.stdout
    assert sql.execute("select count(*) from webhook_endpoints where id = %s", (hook["id"],)).fetchone() == (0,)

    missing = run_invorder("webhooks", "delete", str(hook["id"]), env=env)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    nobody = run_invorder("webhooks", "create", "--client", "nobody", "--url", LOOPBACK_URL, "--event", "*", env=env)
    assert nobody.returncode == 1 and "no client" in nobody.stderr
    guarded = {"DATABASE_URL": database_url}
    private = run_invorder(
        "webhooks", "create", "--client", "shop-cli", "--url", LOOPBACK_URL, "--event", "*", env=guarded
    )
    assert private.returncode == 2 and "loopback" in private.stderr, private.stderr
    no_event = run_invorder("webhooks", "create", "--client", "shop-cli", "--url", LOOPBACK_URL, env=env)
    assert no_event.returncode == 2 and "--event" in no_event.stderr


def test_an_endpoint_made_with_ops_is_out_of_reach_of_its_clients_other_keys(hooks: Any) -> None:
    everyone = create(hooks, url="http://127.0.0.1:9/all", events=["*"])  # the admin key: ops, client default
    plain = bearer(make_key(hooks, "default", "webhooks:write"))  # same client, no ops
    for method, path, body in (
        ("GET", f"/api/v1/webhook-endpoints/{everyone['id']}", None),
        ("PATCH", f"/api/v1/webhook-endpoints/{everyone['id']}", {"url": "http://127.0.0.1:9/mine"}),
        ("POST", f"/api/v1/webhook-endpoints/{everyone['id']}/rotate-secret", None),
        ("GET", f"/api/v1/webhook-endpoints/{everyone['id']}/deliveries", None),
        ("DELETE", f"/api/v1/webhook-endpoints/{everyone['id']}", None),
    ):
        response = hooks.request(method, path, json=body, headers=plain)
        assert response.status_code == 404, (method, path, response.text)
    assert everyone["id"] not in [e["id"] for e in hooks.get("/api/v1/webhook-endpoints", headers=plain).json()["data"]]
    assert hooks.get(f"/api/v1/webhook-endpoints/{everyone['id']}").json()["url"] == "http://127.0.0.1:9/all"


def test_every_cli_command_that_records_an_actor_takes_actor(database_url: str, sql: Any) -> None:
    env = {"DATABASE_URL": database_url, "INVORDER_WEBHOOK_ALLOW_PRIVATE": "1"}
    sql.execute("insert into clients (name) values ('shop-actor')")
    key = run_invorder(
        *("keys", "create", "--client", "shop-actor", "--scope", "orders:read", "--actor", "alice", "--json"), env=env
    )
    assert key.returncode == 0, key.stderr
    made = run_invorder(
        *("webhooks", "create", "--client", "shop-actor", "--url", LOOPBACK_URL, "--event", "*"),
        *("--actor", "bob", "--json"),
        env=env,
    )
    assert made.returncode == 0, made.stderr
    hook = msgspec.json.decode(made.stdout)
    off = run_invorder("webhooks", "update", str(hook["id"]), "--disable", "--actor", "carol", env=env)
    assert off.returncode == 0, off.stderr
    paused = run_invorder("jobs", "pause", "reconcile", "--actor", "dave", env=env)
    assert paused.returncode == 0, paused.stderr
    assert sql.execute("select created_by from api_keys").fetchall() == [("alice",)]
    row = sql.execute("select created_by, disabled_reason from webhook_endpoints").fetchone()
    assert row == ("bob", "disabled by carol")
    assert sql.execute("select actor from job_admin_actions").fetchall() == [("dave",)]
