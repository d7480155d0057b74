"""`/healthz` (the process answers) and `/readyz` (the database answers and is fully migrated)."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Response, get
from litestar.openapi import ResponseSpec

from invorder.api.deps import PoolDep, SettingsDep
from invorder.migrate import pending_migrations


class Health(msgspec.Struct, frozen=True):
    status: str
    detail: str = ""


@get("/healthz", tags=["health"])
async def healthz() -> Health:
    return Health("ok")


@get(
    "/readyz",
    tags=["health"],
    responses={503: ResponseSpec(Health, description="The database does not answer, or a migration is pending")},
)
async def readyz(pool: PoolDep, settings: SettingsDep) -> Response[Health]:
    try:
        async with pool.connection(timeout=2) as conn:
            await conn.execute("select 1")
        pending = await asyncio.to_thread(pending_migrations, settings.database_url or "")
    except Exception as exc:
        return Response(Health("unavailable", f"database: {exc}"), status_code=503)
    if pending:
        return Response(Health("unavailable", f"migrations not applied: {', '.join(pending)}"), status_code=503)
    return Response(Health("ok"))
