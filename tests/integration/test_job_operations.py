"""Job operations on a real PostgreSQL: the ops API and its token, the `invorder jobs` CLI,
the DBA views, the action log and `/metrics`."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import psycopg.sql
import pytest
from litestar.testing import TestClient

from invorder.api.app import create_app
from invorder.settings import Settings
from tests.support.processes import run_invorder

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def ops(settings: Settings) -> Any:
    with TestClient(
        app=create_app(msgspec.structs.replace(settings, admin_token=TOKEN)), base_url="http://testserver.local"
    ) as client:
        yield client


def add_job(sql: Any, kind: str = "demo", status: str = "ready", **columns: Any) -> int:
    """A job row written directly, as any state the queue can be in."""
    values = {"kind": kind, "status": status, "payload": json.dumps({"n": 1}), **columns}
    if status == "running":
        values.setdefault("lease_owner", "host:1:dead")
        values.setdefault("lease_expires_at", "now() + interval '1 minute'")
    # A value starting with now() is an SQL expression (test-written constants only).
    exprs = [
        psycopg.sql.SQL(v) if isinstance(v, str) and v.startswith("now()") else psycopg.sql.Literal(v)
        for v in values.values()
    ]
    statement = psycopg.sql.SQL("insert into jobs ({}) values ({}) returning id").format(
        psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, values)), psycopg.sql.SQL(", ").join(exprs)
    )
    return int(sql.execute(statement).fetchone()[0])


def test_ops_api_without_a_token_is_401(ops: Any) -> None:
    response = ops.get("/api/v1/ops/stats")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert ops.get("/api/v1/ops/stats", headers={"Authorization": "Basic abc"}).status_code == 401


def test_ops_api_with_a_wrong_token_is_401(ops: Any) -> None:
    response = ops.get("/api/v1/ops/jobs", headers={"Authorization": "Bearer not-the-token"})
    assert response.status_code == 401
    assert response.json()["detail"] == "this API key is unknown, revoked or expired"
    assert (
        ops.post("/api/v1/ops/jobs/retry", json={"ids": [1]}, headers={"Authorization": "Bearer x"}).status_code == 401
    )


def test_the_admin_token_is_refused_once_it_is_no_longer_configured(settings: Settings) -> None:
    unset = msgspec.structs.replace(settings, admin_token=None)
    with TestClient(app=create_app(unset), base_url="http://testserver.local") as client:
        assert client.get("/api/v1/ops/stats").status_code == 401
        assert client.get("/api/v1/ops/stats", headers=AUTH).status_code == 401


def test_stats_show_depth_lag_and_failures_per_kind(ops: Any, sql: Any) -> None:
    add_job(sql, "mail", run_after="now() - interval '90 seconds'")
    add_job(sql, "mail", run_after="now() + interval '1 hour'")
    add_job(sql, "mail", "dead", attempts=10, last_error="SMTPError: mailbox full")
    add_job(sql, "report", "running")
    stats = ops.get("/api/v1/ops/stats", headers=AUTH).json()
    queues = {q["kind"]: q for q in stats["queues"]}
    assert queues["mail"]["ready"] == 1
    assert queues["mail"]["scheduled"] == 1
    assert queues["mail"]["dead"] == 1
    assert 85 <= queues["mail"]["oldest_ready_age_s"] < 200
    assert queues["report"]["running"] == 1
    assert [f["last_error"] for f in stats["recent_failures"]] == ["SMTPError: mailbox full"]
    assert [s["kind"] for s in stats["stuck"]] == ["mail"]  # ready 90 s and unclaimed


def test_list_filters_by_kind_and_status_and_pages(ops: Any, sql: Any) -> None:
    ids = [add_job(sql, "mail", "dead", attempts=3, last_error=f"boom {n}") for n in range(3)]
    add_job(sql, "mail")
    add_job(sql, "report", "dead", attempts=1, last_error="other")
    page = ops.get("/api/v1/ops/jobs", params={"kind": "mail", "status": "dead", "limit": 2}, headers=AUTH).json()
    assert [j["id"] for j in page["data"]] == ids[:2]
    assert page["data"][0]["last_error"] == "boom 0"
    rest = ops.get(
        "/api/v1/ops/jobs", params={"kind": "mail", "status": "dead", "cursor": page["next_cursor"]}, headers=AUTH
    ).json()
    assert [j["id"] for j in rest["data"]] == ids[2:]
    assert rest["next_cursor"] is None
    bad = ops.get("/api/v1/ops/jobs", params={"status": "finished"}, headers=AUTH)
    assert bad.status_code == 400  # the document lists the statuses: a schema violation
    assert bad.json()["errors"][0]["field"] == "status"


def test_show_one_job_and_404_for_a_finished_one(ops: Any, sql: Any) -> None:
    job_id = add_job(sql, "mail", "dead", attempts=2, last_error="boom")
    job = ops.get(f"/api/v1/ops/jobs/{job_id}", headers=AUTH).json()
    assert (job["id"], job["kind"], job["status"], job["payload"]) == (job_id, "mail", "dead", {"n": 1})
    assert ops.get("/api/v1/ops/jobs/999999", headers=AUTH).status_code == 404


def test_retry_runs_dead_jobs_again_and_leaves_running_ones_alone(ops: Any, sql: Any) -> None:
    dead = add_job(sql, "mail", "dead", attempts=10, last_error="boom")
    running = add_job(sql, "mail", "running", attempts=1)
    response = ops.post("/api/v1/ops/jobs/retry", json={"ids": [dead, running]}, headers={**AUTH, "X-Actor": "alice"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] == {"action": "retry", "affected": [dead], "skipped": [running]}
    assert body["message"].startswith("1 job retried")
    status, attempts, due = sql.execute(
        "select status, attempts, run_after <= now() from jobs where id = %s", [dead]
    ).fetchone()
    assert (status, attempts, due) == ("ready", 0, True)
    assert sql.execute("select status from jobs where id = %s", [running]).fetchone()[0] == "running"
    actor, action, job_ids, affected = sql.execute(
        "select actor, action, job_ids, affected from job_admin_actions"
    ).fetchone()
    assert actor == "admin (alice)"  # the admin token, and the name the caller gave
    assert (action, job_ids, affected) == ("retry", sorted([dead, running]), 1)


def test_cancel_keeps_cancelled_jobs_until_purged(ops: Any, sql: Any) -> None:
    ready = add_job(sql, "mail")
    response = ops.post("/api/v1/ops/jobs/cancel", json={"ids": [ready]}, headers=AUTH)
    assert response.json()["data"]["affected"] == [ready]
    assert sql.execute("select status from jobs where id = %s", [ready]).fetchone()[0] == "cancelled"
    # recent: a purge of jobs older than a day leaves it
    kept = ops.post("/api/v1/ops/jobs/purge", json={"older_than": "1d"}, headers=AUTH).json()
    assert kept["data"]["purged"] == 0
    sql.execute("update jobs set updated_at = now() - interval '2 days' where id = %s", [ready])
    old_dead = add_job(sql, "mail", "dead", attempts=3, updated_at="now() - interval '3 days'")
    fresh_dead = add_job(sql, "mail", "dead", attempts=3)
    ready_old = add_job(sql, "mail", updated_at="now() - interval '9 days'")
    purged = ops.post("/api/v1/ops/jobs/purge", json={"older_than": "1d"}, headers=AUTH)
    assert purged.status_code == 200, purged.text
    assert purged.json()["data"] == {"purged": 2, "older_than_s": 86400.0, "statuses": ["dead", "cancelled"]}
    left = {r[0] for r in sql.execute("select id from jobs").fetchall()}
    assert left == {fresh_dead, ready_old}
    assert old_dead not in left
    actions = ops.get("/api/v1/ops/actions", headers=AUTH).json()["data"]
    assert [a["action"] for a in actions] == ["purge", "purge", "cancel"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"older_than": "soon"}, "older_than"),
        ({"older_than": "inf"}, "older_than"),
        ({"older_than": "nan"}, "older_than"),
        ({"older_than": "100000w"}, "older_than"),
        ({"older_than": "-1d"}, "older_than"),
        ({"older_than": "7d\n"}, "older_than"),  # Python's `$` alone would let it through
        ({"older_than": "1d", "statuses": ["ready"]}, "statuses[0]"),
        ({"older_than": "1d", "statuses": ["dead", "dead"]}, "statuses"),
    ],
)
def test_purge_refuses_bad_input_and_deletes_nothing(ops: Any, sql: Any, body: dict[str, Any], field: str) -> None:
    add_job(sql, "mail", "dead", attempts=3, updated_at="now() - interval '3 days'")
    response = ops.post("/api/v1/ops/jobs/purge", json=body, headers=AUTH)
    assert response.status_code == 400, response.text  # each breaks the document's schema of the body
    assert response.json()["errors"][0]["field"] == field
    assert sql.execute("select count(*) from jobs").fetchone()[0] == 1


def test_retry_with_no_ids_or_bad_ids_is_400(ops: Any) -> None:
    assert ops.post("/api/v1/ops/jobs/retry", json={"ids": []}, headers=AUTH).status_code == 400
    assert ops.post("/api/v1/ops/jobs/retry", json={"ids": ["1"]}, headers=AUTH).status_code == 400
    assert ops.post("/api/v1/ops/jobs/cancel", json={"ids": [0]}, headers=AUTH).status_code == 400


def test_dba_views_answer_what_is_stuck_dead_and_how_deep(sql: Any) -> None:
    add_job(sql, "mail", "running", lease_expires_at="now() - interval '10 seconds'")
    add_job(sql, "mail", "running", updated_at="now() - interval '6 minutes'")
    add_job(sql, "mail", "running")  # healthy
    add_job(sql, "mail", "dead", attempts=10, last_error="boom")
    reasons = sorted(r[0] for r in sql.execute("select reason from stuck_jobs").fetchall())
    assert reasons == ["lease expired: its worker stopped renewing it", "running for over 5 minutes"]
    assert sql.execute("select kind, last_error from dead_jobs").fetchall() == [("mail", "boom")]
    assert sql.execute("select kind, running, dead from queue_depth").fetchall() == [("mail", 3, 1)]
    for view in ("queue_depth", "stuck_jobs", "dead_jobs", "order_pipeline"):
        comment = sql.execute("select obj_description(%s::regclass, 'pg_class')", [view]).fetchone()[0]
        assert comment, f"view {view} has no comment"


def test_metrics_show_requests_by_route_and_the_queue(ops: Any, sql: Any) -> None:
    add_job(sql, "mail", "dead", attempts=3)
    assert ops.get("/api/v1/products/12345", headers=AUTH).status_code == 404  # counted under its route template
    assert ops.get("/metrics").status_code == 401  # the `metrics` scope is needed
    text = ops.get("/metrics", headers=AUTH).text
    assert 'invorder_queue_jobs{kind="mail",status="dead"} 1.0' in text
    assert 'invorder_queue_oldest_ready_age_seconds{kind="mail"} 0.0' in text
    assert "invorder_database_up 1.0" in text
    lines = [line for line in text.splitlines() if line.startswith("invorder_http_requests_total{")]
    assert any('path="/api/v1/products/{product_id}"' in line and 'status_code="404"' in line for line in lines)
    assert any(line.startswith("invorder_http_request_duration_seconds_bucket{") for line in text.splitlines())
    assert "invorder_cache_requests" in text  # defined even before the first lookup


def cli(database_url: str, *args: str) -> Any:
    return run_invorder("jobs", *args, env={"DATABASE_URL": database_url, "USER": "carol"})


def test_jobs_cli_stats_list_show_retry_cancel_purge(database_url: str, sql: Any) -> None:
    dead = add_job(sql, "mail", "dead", attempts=10, last_error="SMTPError: mailbox full")
    ready = add_job(sql, "report")
    stats = cli(database_url, "stats")
    assert stats.returncode == 0, stats.stderr
    assert "mail" in stats.stdout and "SMTPError: mailbox full" in stats.stdout
    as_json = json.loads(cli(database_url, "stats", "--json").stdout)
    assert {q["kind"]: q["dead"] for q in as_json["queues"]} == {"mail": 1, "report": 0}

    listed = json.loads(cli(database_url, "list", "--status", "dead", "--json").stdout)
    assert [j["id"] for j in listed] == [dead]
    assert str(dead) in cli(database_url, "list", "--kind", "mail").stdout
    shown = cli(database_url, "show", str(dead))
    assert "SMTPError: mailbox full" in shown.stdout
    missing = cli(database_url, "show", "999999")
    assert missing.returncode == 1 and "no job 999999" in missing.stderr

    retried = cli(database_url, "retry", str(dead), "--actor", "carol@ops")
    assert retried.returncode == 0, retried.stderr
    assert f"retried: {dead}" in retried.stdout
    cancelled = json.loads(cli(database_url, "cancel", str(ready), "--json").stdout)
    assert cancelled == {"action": "cancel", "affected": [ready], "skipped": []}
    nothing = cli(database_url, "cancel", "999999")
    assert nothing.returncode == 1 and "left alone" in nothing.stdout

    sql.execute("update jobs set updated_at = now() - interval '8 days' where id = %s", [ready])
    bad = cli(database_url, "purge", "--older-than", "a while")
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    purged = cli(database_url, "purge", "--older-than", "7d")
    assert purged.returncode == 0, purged.stderr
    assert purged.stdout.startswith("purged 1 ")
    assert sql.execute("select id from jobs").fetchall() == [(dead,)]
    actors = sql.execute("select actor, action from job_admin_actions order by id").fetchall()
    assert actors[0] == ("carol@ops", "retry")
    assert [a for _, a in actors] == ["retry", "cancel", "cancel", "purge"]
    assert actors[1][0].startswith("carol@")
    log = cli(database_url, "actions")
    assert "carol@ops" in log.stdout and "purge" in log.stdout
