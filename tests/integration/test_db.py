"""The pool and the transaction helpers against a real PostgreSQL: the checkout check that
costs no round trip, and single statements in autocommit mode."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, LiteralString

import psycopg
import pytest

from invorder import db
from invorder.db.queries import Query


def run(url: str, body: Callable[[Any], Awaitable[Any]], *, max_size: int = 2) -> Any:
    async def main() -> Any:
        pool = db.open_pool(url, min_size=max_size, max_size=max_size)
        await pool.open(wait=True)
        try:
            return await body(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


def test_checkout_replaces_connections_the_server_closed(database_url: str, sql: Any) -> None:
    async def body(pool: Any) -> list[int]:
        async with pool.connection() as a, pool.connection() as b:  # both pooled connections
            pids = [a.pgconn.backend_pid, b.pgconn.backend_pid]
        sql.execute("select pg_terminate_backend(pid) from unnest(%s::int[]) as pid", (pids,))
        await asyncio.sleep(0.2)  # the FATAL message and the end of stream reach the client
        served = []
        for _ in range(4):  # more checkouts than the pool holds: none is handed out broken
            async with db.transaction(pool) as conn:
                served.append(await db.scalar(conn, db_query("select pg_backend_pid()")))
        assert not set(served) & set(pids)
        return served

    run(database_url, body)


def test_a_transaction_right_after_the_server_closed_its_connection_runs_on_another(
    database_url: str, sql: Any
) -> None:
    # No pause: the server's FATAL message may still be on its way when the connection is
    # handed out, and then BEGIN fails before anything ran, and another connection is taken.
    sql.execute("create table t (n int primary key)")

    async def body(pool: Any) -> None:
        for n in range(5):
            async with pool.connection() as a, pool.connection() as b:
                pids = [a.pgconn.backend_pid, b.pgconn.backend_pid]
            sql.execute("select pg_terminate_backend(pid) from unnest(%s::int[]) as pid", (pids,))
            async with db.transaction(pool) as conn:
                await db.execute(conn, db_query("insert into t values (%(n)s)"), n=n)

    run(database_url, body)
    assert sql.execute("select array_agg(n order by n) from t").fetchone() == ([0, 1, 2, 3, 4],)


def test_transactions_roll_back_whole_beside_single_statements(database_url: str, sql: Any) -> None:
    sql.execute("create table t (n int primary key)")

    async def body(pool: Any) -> None:
        with pytest.raises(psycopg.errors.DivisionByZero):
            async with db.single_statement(pool) as conn:
                await db.execute(conn, db_query("insert into t values (1)"))  # its own transaction
                await db.execute(conn, db_query("select 1 / 0"))
        with pytest.raises(RuntimeError):
            async with db.transaction(pool) as conn:
                await db.execute(conn, db_query("insert into t values (2)"))
                await db.execute(conn, db_query("insert into t values (3)"))
                raise RuntimeError("roll back")
        with pytest.raises(psycopg.errors.UniqueViolation):
            async with db.transaction(pool) as conn:
                await db.execute(conn, db_query("insert into t values (4)"))
                await db.execute(conn, db_query("insert into t values (1)"))
        async with db.transaction(pool) as conn:
            await db.execute(conn, db_query("insert into t values (5)"))

    run(database_url, body, max_size=1)
    assert sql.execute("select array_agg(n order by n) from t").fetchone() == ([1, 5],)


def db_query(text: LiteralString) -> Query:
    return Query("test", "many", text, "test")
