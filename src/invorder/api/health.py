"""`/healthz` (the process answers) and `/readyz` (the database answers and is fully migrated)."""

from __future__ import annotations

import msgspec
from litestar import Response, get
from litestar.openapi import ResponseSpec

from invorder.api.deps import PoolDep
from invorder.db.migrate import APPLIED_VERSIONS, MIGRATIONS_TABLE_EXISTS, not_applied


class Health(msgspec.Struct, frozen=True):
    status: str
    detail: str = ""


@get("/healthz", tags=["health"])
async def healthz() -> Health:
    return Health("ok")


@get(
    "/readyz",
    tags=["health"],
    responses={
        503: ResponseSpec(
            Health, description="No writable database answers (down, restarting, a standby), or a migration is pending"
        )
    },
)
async def readyz(pool: PoolDep) -> Response[Health]:
    """Ready when a pooled connection answers within 2 s, on a writable server (not a standby
    in recovery), whose schema has every migration of this code."""
    try:
        async with pool.connection(timeout=2) as conn:
            cur = await conn.execute("select pg_is_in_recovery(), " + MIGRATIONS_TABLE_EXISTS)
            in_recovery, migrated_once = await cur.fetchone() or (True, False)
            applied: list[str] = []
            if migrated_once:
                cur = await conn.execute(APPLIED_VERSIONS)
                applied = [str(row[0]) for row in await cur.fetchall()]
    except Exception as exc:
        return _not_ready(f"database: {str(exc).strip() or type(exc).__name__}")
    if in_recovery:
        return _not_ready("database: the server is a read-only standby")
    pending = not_applied(applied)
    if pending:
        return _not_ready(f"migrations not applied: {', '.join(pending)}")
    return Response(Health("ok"))


def _not_ready(detail: str) -> Response[Health]:
    """The 503, with the same Retry-After as the API's 503 for a database that went away."""
    return Response(Health("unavailable", detail), status_code=503, headers={"Retry-After": "2"})
