"""The connection pool, the one transaction helper, and the calls that run named queries."""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import msgspec
import psycopg
from psycopg import AsyncConnection, AsyncCopy
from psycopg.rows import class_row, tuple_row
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from invorder.db.queries import Query
from invorder.errors import BadRequest, Conflict, FieldError, InvalidInput, InvorderError, NotFound, Unavailable
from invorder.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# json/jsonb columns (job payloads, log details) are read and written with msgspec: faster than
# the stdlib json module psycopg uses by default, and the claim reads a payload per job (its gain
# on a drain is within the noise: docs/benchmarks.md, "What bounds the drain").
set_json_loads(msgspec.json.decode)
set_json_dumps(msgspec.json.encode)
Conn = AsyncConnection[Any]

# Constraint name -> the error a client sees. The database holds the rule; this says it in words.
_CONSTRAINT_ERRORS: dict[str, tuple[type[InvorderError], str, str | None]] = {
    "products_name_key": (Conflict, "a product with this name already exists", "name"),
    "products_sku_key": (Conflict, "a product with this sku already exists", "sku"),
    "inventory_pkey": (Conflict, "inventory for this product already exists", "product_id"),
    "inventory_product_id_fkey": (NotFound, "no such product", "product_id"),
    "inventory_on_hand_check": (Conflict, "on_hand cannot go below zero", "on_hand"),
    "inventory_reserved_check": (Conflict, "reserved cannot go below zero", "reserved"),
    "inventory_reserved_le_on_hand": (
        Conflict,
        "on_hand cannot go below what is reserved for orders",
        "on_hand",
    ),
    "categories_name_key": (Conflict, "a category with this name already exists", "name"),
    "clients_name_check": (
        InvalidInput,
        "a client name is lower case letters, digits, '.', '_' and '-', starting with a letter or digit",
        "client",
    ),
    "product_categories_category_id_fkey": (NotFound, "no such category", "category_ids"),
    "product_categories_product_id_fkey": (NotFound, "no such product", "product_id"),
}


def translate_error(exc: psycopg.Error) -> InvorderError | None:
    """The domain error for a constraint violation, or None when it is not one we expect."""
    diag = exc.diag
    name = diag.constraint_name
    if name and name in _CONSTRAINT_ERRORS:
        cls, detail, field = _CONSTRAINT_ERRORS[name]
        return cls(detail, [FieldError(field, detail)] if field else [])
    return None


def with_database(url: str, database: str) -> str:
    """`url` (a postgresql:// URL) pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def connect_options(settings: Settings) -> dict[str, Any]:
    """What every connection of invorder's is opened with, pooled or direct: libpq's
    `connect_timeout` (per host of a multi-host URL, so a dead host is passed by in bounded
    time), TCP keepalives, and no server-side prepared statements when a transaction-mode pooler is in front
    (the next transaction may land on another server connection, where they do not exist)."""
    options: dict[str, Any] = {
        "connect_timeout": max(1, math.ceil(settings.db_connect_timeout_s)),
        # A host that vanishes (a crash, a partition) sends no FIN: TCP keepalives find an idle
        # connection dead in about 20 s, and tcp_user_timeout a statement whose bytes go
        # unacknowledged for 15 s, instead of the kernel's defaults of hours and ~15 minutes.
        # A long statement is not cut by them: its bytes were acknowledged.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 3,
        "keepalives_count": 3,
        "tcp_user_timeout": 15_000,
    }
    if settings.db_pooler == "transaction":
        options["prepare_threshold"] = None
    return options


def open_pool(
    url: str,
    *,
    options: Mapping[str, Any] | None = None,
    min_size: int = 2,
    max_size: int = 10,
    name: str = "invorder",
    wait_s: float = 30.0,
    lock_timeout_s: float | None = None,
    statement_timeout_s: float | None = None,
) -> AsyncConnectionPool[Conn]:
    """A pool that is not open yet; the caller opens it (`await pool.open(wait=True)`) and closes it.

    `options` are `connect_options(settings)` (every process passes them). `wait_s` is the longest wait for a connection
    (then `PoolTimeout`). With `lock_timeout_s`/`statement_timeout_s`, each `transaction()` on
    this pool sets its own `lock_timeout` and `statement_timeout`, in the round trip of its
    BEGIN: `set local`, which holds through a transaction-mode pooler too."""
    pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        name=name,
        timeout=wait_s,
        check=check_connection_unbroken,
        # transactions are explicit: see transaction()
        kwargs={"application_name": name, "autocommit": True, **(options or {})},
    )
    begin = "begin"
    if lock_timeout_s is not None:
        begin += f"; set local lock_timeout = '{_ms(lock_timeout_s)}ms'"
    if statement_timeout_s is not None:
        begin += f"; set local statement_timeout = '{_ms(statement_timeout_s)}ms'"
    if begin != "begin":
        _BEGIN[pool] = begin
    return pool


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


# The statement that opens a transaction on a pool, when it is more than "begin".
_BEGIN: weakref.WeakKeyDictionary[AsyncConnectionPool[Conn], str] = weakref.WeakKeyDictionary()


async def check_connection_unbroken(conn: Conn) -> None:
    """The pool's check on every checkout, without a round trip: raise when the server has
    already closed this connection (a restart, a crash, `pg_terminate_backend`).

    A server that goes away sends a FATAL message and closes the socket; by the time a pooled
    connection is wanted both have arrived. Two non-blocking reads see them: the first takes
    the message, the second finds the end of the stream and marks the connection bad, so the
    pool throws it away and hands out another. psycopg_pool's `check_connection` sends an empty
    query instead, a round trip per checkout that showed in a worker's profile under load (figures:
    docs/benchmarks.md, "The pool's checkout check")."""
    pgconn = conn.pgconn
    for _ in range(2):
        pgconn.consume_input()  # OperationalError once the server has closed the connection


@asynccontextmanager
async def transaction(pool: AsyncConnectionPool[Conn]) -> AsyncIterator[Conn]:
    """One transaction on a pooled connection: commits on success, rolls back on error, and
    turns constraint violations into the domain's errors.

    Pooled connections are in autocommit mode and the transaction is explicit. Its BEGIN is a
    round trip every transaction makes anyway, and it doubles as the health check the pool's
    own check leaves out: when the server has just closed the connection (its FATAL message
    still on the way when the connection was handed out), BEGIN fails before anything of the
    caller's has run, so another connection is taken (the pool throws the closed one away)."""
    with _domain_errors():
        begin = _BEGIN.get(pool, "begin")
        for attempt in range(1, _BEGIN_ATTEMPTS + 1):
            async with pool.connection() as conn:
                try:
                    await conn.execute(begin)
                except psycopg.OperationalError:
                    if conn.closed and attempt < _BEGIN_ATTEMPTS:
                        log.info("a pooled connection had been closed by the server; taking another")
                        continue
                    raise
                try:
                    yield conn
                except BaseException:
                    if not conn.closed:
                        with suppress(psycopg.Error):  # the pool rolls back or discards what is left
                            await conn.execute("rollback")
                    raise
                await conn.execute("commit")
                return


_BEGIN_ATTEMPTS = 3  # connections tried per transaction: the check misses only those closed a moment ago


@asynccontextmanager
async def single_statement(pool: AsyncConnectionPool[Conn]) -> AsyncIterator[Conn]:
    """A pooled connection (in autocommit mode) for work that is one statement and so its own
    transaction: one round trip where `transaction` takes three (BEGIN, the statement,
    COMMIT). Errors are turned into the domain's as in `transaction`. A statement cut by a
    lost connection is not retried: it may have committed."""
    with _domain_errors():
        async with pool.connection() as conn:
            yield conn


@contextmanager
def _domain_errors() -> Iterator[None]:
    try:
        yield
    except psycopg.errors.IntegrityError as exc:
        translated = translate_error(exc)
        if translated is None:
            raise
        raise translated from exc
    except psycopg.errors.NumericValueOutOfRange as exc:
        # A sum past bigint, such as an order total of many costly lines: the request's fault.
        raise InvalidInput(f"a number is out of range: {exc.diag.message_primary}") from exc
    except psycopg.DataError as exc:
        # NUL in text: psycopg refuses it before sending a text parameter, and PostgreSQL's jsonb
        # refuses it inside a JSON one (a batch of rows sent as one document)
        if "NUL" not in str(exc) and not isinstance(exc, psycopg.errors.UntranslatableCharacter):
            raise
        raise BadRequest("text may not contain NUL (\\u0000)") from exc
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
        # This version of the code is running on a database that lacks one of its migrations
        # (a deploy in progress): refuse what needs it, and say what is missing.
        log.warning("database schema is behind the code: %s", exc.diag.message_primary)
        raise Unavailable(
            "this feature needs a database migration that has not been applied yet (invorder migrate up)"
        ) from exc


def unavailable_from(exc: psycopg.Error) -> Unavailable | None:
    """The 503 for a database failure that a later try may not meet: the database unreachable,
    restarting or failing over, no pooled connection free in time, a lock or a statement past
    its timeout. None for any other error (a bug, which stays a 500).

    When a connection is lost during a transaction, its outcome is unknown; the detail says
    how to find out without doing it twice."""
    if isinstance(exc, PoolTimeout):
        return Unavailable("no database connection came free in time: the service is overloaded", retry_after_s=1)
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return Unavailable(
            "the data this request needs is locked by other work past the lock timeout; nothing was changed",
            retry_after_s=1,
        )
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return Unavailable("the database took longer than the statement timeout; nothing was changed", retry_after_s=2)
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return Unavailable("the database is read-only (a failover in progress)", retry_after_s=2)
    if isinstance(exc, psycopg.errors.TransactionRollback):  # deadlock, serialization failure
        return Unavailable("the request ran into concurrent work; nothing was changed", retry_after_s=1)
    if isinstance(exc, psycopg.OperationalError):
        return Unavailable(LOST_CONNECTION, retry_after_s=2)
    return None


LOST_CONNECTION = (
    "the database is unreachable, restarting or failing over. If this request changed something, its"
    " outcome is unknown: send it again with the same Idempotency-Key to get the order it placed, or have"
    " it placed"
)


async def one(conn: Conn, query: Query, row: type[T], **params: Any) -> T | None:
    """The first row of `query` as a `row`, or None."""
    async with conn.cursor(row_factory=class_row(row)) as cur:
        await cur.execute(query.sql, params)
        return await cur.fetchone()


async def many(conn: Conn, query: Query, row: type[T], **params: Any) -> list[T]:
    """Every row of `query`, each as a `row`."""
    async with conn.cursor(row_factory=class_row(row)) as cur:
        await cur.execute(query.sql, params)
        return await cur.fetchall()


async def scalar(conn: Conn, query: Query, **params: Any) -> Any:
    """The first column of the first row of `query`, or None when no row comes back."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(query.sql, params)
        found = await cur.fetchone()
        return None if found is None else found[0]


async def execute(conn: Conn, query: Query, **params: Any) -> int:
    """Run `query`; the number of rows it touched."""
    async with conn.cursor() as cur:
        await cur.execute(query.sql, params)
        return cur.rowcount


@asynccontextmanager
async def copy_in(conn: Conn, query: Query) -> AsyncIterator[AsyncCopy]:
    """A `copy ... from stdin` of `query`: write rows with `await copy.write_row(...)` as they come."""
    async with conn.cursor() as cur, cur.copy(query.sql) as copy:
        yield copy
