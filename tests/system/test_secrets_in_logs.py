"""No secret in any log line: a full run (API, worker, payment simulator, the keys CLI) at
DEBUG, with keys made, used, refused, revoked and mistyped, leaves no key in any process log."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ADMIN_TOKEN, AUTH, LiveProcess, run_invorder, start_api, start_worker, wait_until


@pytest.mark.slow
def test_the_logs_of_a_full_run_hold_no_key(
    system_env: dict[str, str], payments_sim: LiveProcess, tmp_path: Path
) -> None:
    env = {**system_env, "INVORDER_LOG_LEVEL": "DEBUG"}
    api, worker = start_api(env), start_worker(env, concurrency=4)
    shown: list[str] = [ADMIN_TOKEN]
    try:
        with httpx.Client(base_url=api.url, timeout=10) as http:
            made = http.post(
                "/api/v1/ops/keys", json={"client": "shop", "scopes": ["orders:write", "orders:read"]}, headers=AUTH
            ).json()["data"]
            shown.append(made["key"])
            shop = {"Authorization": f"Bearer {made['key']}"}
            pid = http.post("/api/v1/products", json={"name": "Logged", "price_cents": 100}, headers=AUTH).json()
            pid = pid["data"]["id"]
            http.post("/api/v1/inventory", json={"product_id": pid, "on_hand": 5}, headers=AUTH)
            oid = http.post("/api/v1/orders", json={"product_id": pid, "quantity": 1}, headers=shop).json()["data"][
                "id"
            ]
            wait_until(
                lambda: http.get(f"/api/v1/orders/{oid}", headers=shop).json()["status"] == "processed",
                timeout=30,
                what="the order to be processed",
            )
            assert http.get("/api/v1/products", headers=shop).status_code == 403  # a scope it lacks
            mistyped = made["key"][:-1] + ("A" if made["key"][-1] != "A" else "B")
            wrong_shape = "not-a-key-" + secrets.token_urlsafe(16)
            shown += [mistyped, wrong_shape]
            for guess in (mistyped, wrong_shape):
                assert http.get("/api/v1/orders", headers={"Authorization": f"Bearer {guess}"}).status_code == 401
                assert http.get("/dashboard", auth=("anyone", guess)).status_code == 401
            http.delete(f"/api/v1/ops/keys/{made['id']}", headers=AUTH)
        created = run_invorder("keys", "create", "--client", "cli-shop", "--scope", "orders:read", env=env)
        assert created.returncode == 0, created.stderr
        cli_key = next(word for word in created.stdout.split() if word.startswith("ik_"))
        shown.append(cli_key)
        assert cli_key not in created.stderr  # the key goes to stdout, once, never to the log
    finally:
        for process in (worker, api):
            process.stop()
    logs = {p.log_path.name: p.log() for p in (api, worker, payments_sim)}
    assert all(logs.values()), "a process wrote no log at all: the scan would prove nothing"
    assert sum(text.count("\n") for text in logs.values()) > 20
    for name, text in logs.items():
        for secret in shown:
            assert secret not in text, f"{name} holds a key"
            assert secret[:24] not in text, f"{name} holds most of a key"
