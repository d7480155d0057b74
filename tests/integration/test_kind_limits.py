"""A limit on a job kind's jobs running at once, against a real PostgreSQL: in-process workers
racing on a limited kind never run more than the limit together (counted by the handlers and
in SQL), a kind beside it is unaffected, lifting the limit lets them all run; the claim
queries on their own; and the ops API, the CLI, the action log, stats and metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from invorder import db
from invorder.db.queries import queries
from invorder.queue import Complete, Job, JobContext, Outcome, Registry, admin, enqueue_many
from invorder.queue.worker import Worker
from tests.integration.test_queue import FAST, claim, run
from tests.support.processes import run_invorder

Q = queries()
KINDS = ("slow", "free")
# A heartbeat far longer than a test: a worker learns of a limit set while it runs from the
# notification alone.
RACER = dataclasses.replace(FAST, concurrency=6, poll_interval_s=0.1, heartbeat_s=600)


class Running:
    """How many handlers of a kind run at this moment, and the most there ever were."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.done = 0

    def handler(self, seconds: float) -> Callable[[Job, JobContext], Awaitable[Outcome]]:
        async def handle(job: Job, ctx: JobContext) -> Outcome:
            self.now += 1
            self.most = max(self.most, self.now)
            try:
                await asyncio.sleep(seconds)
            finally:
                self.now -= 1
            self.done += 1
            return Complete()

        return handle


def registry(slow: Running, free: Running, seconds: float) -> Registry:
    r = Registry()
    r.register("slow", slow.handler(seconds))
    r.register("free", free.handler(seconds))
    return r


async def set_limit(pool: Any, kind: str, max_running: int | None) -> admin.KindLimit:
    return await admin.set_kind_limit(pool, kind, max_running, actor="test", known_kinds=KINDS)


async def running_in_sql(pool: Any, kind: str) -> int:
    async with db.transaction(pool) as conn:
        cur = await conn.execute("select count(*) from jobs where kind = %s and status = 'running'", (kind,))
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def left(pool: Any) -> int:
    async with db.transaction(pool) as conn:
        cur = await conn.execute("select count(*) from jobs")
        row = await cur.fetchone()
    return int(row[0]) if row else 0


def test_racing_workers_never_run_more_of_a_limited_kind_than_its_limit_and_other_kinds_are_unaffected(
    database_url: str,
) -> None:
    slow, free = Running(), Running()
    in_sql: list[int] = []

    async def body(pool: Any) -> None:
        workers = [Worker(pool, registry(slow, free, 0.15), database_url=database_url, config=RACER) for _ in range(4)]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        # Every worker is up, listening, and has read the (no) limits; with no heartbeat within
        # the test, the limit reaches them by its notification only (else no slow job would run).
        await asyncio.sleep(0.5)
        assert (await set_limit(pool, "slow", 3)).max_running == 3
        async with db.transaction(pool) as conn:
            await enqueue_many(conn, "slow", [{"n": n} for n in range(40)])
            await enqueue_many(conn, "free", [{"n": n} for n in range(40)])
        deadline = time.monotonic() + 60
        while await left(pool) and time.monotonic() < deadline:
            in_sql.append(await running_in_sql(pool, "slow"))
            await asyncio.sleep(0.01)
        for w in workers:
            w.stop()
        await asyncio.gather(*tasks)

    run(body, database_url)
    assert (slow.done, free.done) == (40, 40)
    assert slow.most == 3, slow.most  # the limit, reached and never passed
    assert max(in_sql) <= 3, max(in_sql)
    assert free.most > 6, free.most  # 4 workers with 6 slots each: far more than the limit ran at once


def test_lifting_a_limit_lets_every_waiting_job_run_at_once(database_url: str) -> None:
    slow, free = Running(), Running()

    async def body(pool: Any) -> tuple[int, int]:
        await set_limit(pool, "slow", 1)
        async with db.transaction(pool) as conn:
            await enqueue_many(conn, "slow", [{"n": n} for n in range(8)])
        workers = [Worker(pool, registry(slow, free, 1.0), database_url=database_url, config=RACER) for _ in range(2)]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        await asyncio.sleep(1.5)
        most_while_limited = slow.most
        await set_limit(pool, "slow", None)
        started = time.monotonic()
        while slow.done < 8 and time.monotonic() - started < 20:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        for w in workers:
            w.stop()
        await asyncio.gather(*tasks)
        return most_while_limited, slow.most

    most_while_limited, most = run(body, database_url)
    assert most_while_limited == 1
    assert slow.done == 8
    assert most >= 6  # the 6 or 7 left started together once the limit was lifted


def test_the_limited_claim_counts_running_jobs_and_leaves_out_paused_kinds(database_url: str, sql: Any) -> None:
    async def limited_claim(pool: Any, owner: str, limit: int, kinds: list[str]) -> list[Job]:
        async with db.transaction(pool) as conn:
            await db.execute(conn, Q.lock_job_kind_limits, kinds=kinds)
            return await db.many(conn, Q.claim_limited_jobs, Job, kinds=kinds, limit=limit, owner=owner, lease_s=30)

    async def body(pool: Any) -> dict[str, Any]:
        async with db.transaction(pool) as conn:
            await enqueue_many(conn, "slow", [{"n": n} for n in range(10)])
            await enqueue_many(conn, "free", [{"n": n} for n in range(3)])
        await set_limit(pool, "slow", 4)
        seen: dict[str, Any] = {}
        seen["main claim"] = sorted({j.kind for j in await claim(pool, "w1", 50, ["slow", "free"])})
        seen["one free slot"] = len(await limited_claim(pool, "w1", 1, ["slow"]))
        seen["room left"] = len(await limited_claim(pool, "w2", 50, ["slow"]))
        seen["at the limit"] = len(await limited_claim(pool, "w2", 50, ["slow"]))
        sql.execute(
            "update jobs set status = 'ready', lease_owner = null, lease_expires_at = null where id in"
            " (select id from jobs where kind = 'slow' and status = 'running' limit 2)"
        )  # two finish
        await admin.set_kind_paused(pool, "slow", paused=True, actor="test", known_kinds=KINDS)
        seen["paused"] = len(await limited_claim(pool, "w2", 50, ["slow"]))
        await admin.set_kind_paused(pool, "slow", paused=False, actor="test", known_kinds=KINDS)
        seen["resumed"] = len(await limited_claim(pool, "w2", 50, ["slow"]))
        await set_limit(pool, "slow", None)
        seen["lifted: limited claim"] = len(await limited_claim(pool, "w2", 50, ["slow"]))
        seen["lifted: main claim"] = len(await claim(pool, "w3", 50, ["slow"]))
        return seen

    assert run(body, database_url) == {
        "main claim": ["free"],  # the limited kind is left to the limited claim
        "one free slot": 1,  # never more than the worker's free slots
        "room left": 3,
        "at the limit": 0,
        "paused": 0,
        "resumed": 2,
        "lifted: limited claim": 0,
        "lifted: main claim": 6,
    }


def test_a_second_limited_claim_waits_for_the_first_to_commit_and_counts_what_it_claimed(
    database_url: str,
) -> None:
    async def body(pool: Any) -> tuple[int, bool, int]:
        async with db.transaction(pool) as conn:
            await enqueue_many(conn, "slow", [{"n": n} for n in range(10)])
        await set_limit(pool, "slow", 2)
        first_committed = asyncio.Event()

        async def second() -> int:
            async with db.transaction(pool) as conn:
                await db.execute(conn, Q.lock_job_kind_limits, kinds=["slow"])
                assert first_committed.is_set()  # the lock waited for the first transaction
                jobs = await db.many(conn, Q.claim_limited_jobs, Job, kinds=["slow"], limit=10, owner="b", lease_s=30)
                return len(jobs)

        async with db.transaction(pool) as conn:
            await db.execute(conn, Q.lock_job_kind_limits, kinds=["slow"])
            first = await db.many(conn, Q.claim_limited_jobs, Job, kinds=["slow"], limit=10, owner="a", lease_s=30)
            waiting = asyncio.create_task(second())
            await asyncio.sleep(0.3)
            blocked = not waiting.done()
            first_committed.set()
        return len(first), blocked, await waiting

    assert run(body, database_url) == (2, True, 0)


# -- the ops API, the CLI, stats and metrics --------------------------------------------


def test_limit_and_lift_over_the_ops_api_are_recorded_and_shown(client: Any, sql: Any) -> None:
    path = "/api/v1/ops/kinds/process_order/limit"
    limited = client.put(path, json={"max_running": 2}, headers={"X-Actor": "dana"})
    assert limited.status_code == 200, limited.text
    assert limited.json() == {
        "message": "Job kind process_order limited to 2 running at once",
        "data": {"kind": "process_order", "max_running": 2},
    }
    assert client.put(path, json={"max_running": 2}).json()["data"]["max_running"] == 2  # the same: no change
    assert sql.execute("select kind, max_running, set_by from job_kind_limits").fetchall() == [
        ("process_order", 2, "admin (dana)")
    ]
    assert client.put(path, json={"max_running": 5.0}).json()["data"]["max_running"] == 5  # 5.0 is the integer 5

    stats = client.get("/api/v1/ops/stats").json()
    assert [(x["kind"], x["max_running"], x["set_by"]) for x in stats["limits"]] == [("process_order", 5, "admin")]
    assert 'invorder_queue_kind_max_running{kind="process_order"} 5.0' in client.get("/metrics").text

    lifted = client.delete(path)
    assert lifted.status_code == 200, lifted.text
    assert lifted.json() == {
        "message": "Job kind process_order has no limit",
        "data": {"kind": "process_order", "max_running": None},
    }
    assert client.delete(path).status_code == 200  # twice: no change
    assert sql.execute("select count(*) from job_kind_limits").fetchone() == (0,)
    assert client.get("/api/v1/ops/stats").json()["limits"] == []
    assert "invorder_queue_kind_max_running{" not in client.get("/metrics").text

    actions = client.get("/api/v1/ops/actions").json()["data"]
    assert [(a["action"], a["affected"], a["details"]) for a in actions] == [
        ("unlimit", 0, {"kind": "process_order", "max_running": None}),
        ("unlimit", 1, {"kind": "process_order", "max_running": None}),
        ("limit", 1, {"kind": "process_order", "max_running": 5}),
        ("limit", 0, {"kind": "process_order", "max_running": 2}),
        ("limit", 1, {"kind": "process_order", "max_running": 2}),
    ]
    assert actions[-1]["actor"] == "admin (dana)"


def test_a_limit_on_an_unknown_kind_is_404_and_changes_nothing(client: Any, sql: Any) -> None:
    for response in (
        client.put("/api/v1/ops/kinds/no_such_kind/limit", json={"max_running": 2}),
        client.delete("/api/v1/ops/kinds/no_such_kind/limit"),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"] == [{"field": "kind", "message": "no such job kind"}]
    assert sql.execute("select count(*) from job_kind_limits").fetchone() == (0,)
    assert sql.execute("select count(*) from job_admin_actions").fetchone() == (0,)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_running": 0}, "max_running"),
        ({"max_running": -1}, "max_running"),
        ({"max_running": 10_001}, "max_running"),
        ({"max_running": 2.5}, "max_running"),
        ({"max_running": "2"}, "max_running"),
        ({"max_running": None}, "max_running"),
        ({}, "body"),
        ({"max_running": 2, "kind": "reconcile"}, "body"),
    ],
)
def test_a_bad_limit_is_400_and_changes_nothing(client: Any, sql: Any, body: dict[str, Any], field: str) -> None:
    client.put("/api/v1/ops/kinds/reconcile/limit", json={"max_running": 7})
    response = client.put("/api/v1/ops/kinds/reconcile/limit", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] in (field, "max_running" if field == "body" else field)
    assert sql.execute("select kind, max_running from job_kind_limits").fetchall() == [("reconcile", 7)]
    assert sql.execute("select count(*) from job_admin_actions").fetchone() == (1,)


def test_the_openapi_document_states_the_limit_operations(client: Any) -> None:
    doc = client.get("/schema/openapi.json").json()
    operations = doc["paths"]["/api/v1/ops/kinds/{kind}/limit"]
    assert sorted(operations) == ["delete", "put"]
    for operation in operations.values():
        assert operation["security"] == [{"bearer": ["ops"]}]
        assert sorted(operation["responses"]) == ["200", "400", "401", "403", "404", "503"]
    body = doc["components"]["schemas"]["KindLimitRequest"]
    assert body["additionalProperties"] is False
    assert body["required"] == ["max_running"]
    assert body["properties"]["max_running"] == {"type": "integer", "minimum": 1, "maximum": 10_000}


def cli(database_url: str, *args: str) -> Any:
    return run_invorder("jobs", *args, env={"DATABASE_URL": database_url, "USER": "carol"})


def test_jobs_limit_cli_sets_shows_and_lifts_a_limit(database_url: str, sql: Any) -> None:
    limited = cli(database_url, "limit", "process_order", "3", "--actor", "carol@ops")
    assert limited.returncode == 0, limited.stderr
    assert limited.stdout == "job kind process_order: at most 3 running at once\n"
    as_json = json.loads(cli(database_url, "limit", "process_order", "4", "--json").stdout)
    assert as_json == {"data": {"kind": "process_order", "max_running": 4}}
    stats = cli(database_url, "stats")
    assert "Limited kinds (most running at once, all workers together): process_order 4 (0 running; by carol@" in (
        stats.stdout
    )
    assert json.loads(cli(database_url, "stats", "--json").stdout)["limits"][0]["max_running"] == 4

    for bad in (("limit", "process_order"), ("limit", "process_order", "3", "--off"), ("limit", "process_order", "0")):
        refused = cli(database_url, *bad)
        assert refused.returncode == 2, (bad, refused.stdout, refused.stderr)
    unknown = cli(database_url, "limit", "no_such_kind", "3")
    assert unknown.returncode == 1 and "no job kind 'no_such_kind'" in unknown.stderr
    assert sql.execute("select max_running from job_kind_limits").fetchall() == [(4,)]

    lifted = cli(database_url, "limit", "process_order", "--off")
    assert lifted.returncode == 0, lifted.stderr
    assert lifted.stdout == "job kind process_order has no limit\n"
    assert sql.execute("select count(*) from job_kind_limits").fetchone() == (0,)
    actions = sql.execute("select actor, action, affected from job_admin_actions order by id").fetchall()
    assert [(a, n) for _, a, n in actions] == [("limit", 1), ("limit", 1), ("unlimit", 1)]
    assert actions[0][0] == "carol@ops"
    assert "unlimit" in cli(database_url, "actions").stdout
