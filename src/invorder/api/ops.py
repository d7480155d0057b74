"""`/ops`: the job administration API for operators (stats, jobs, retry, cancel, purge, the
action log), behind `Authorization: Bearer $INVORDER_ADMIN_TOKEN`."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.params import HeaderParameter, JSONBody, QueryParameter
from msgspec import Meta

from invorder.api.deps import BodyId, PathId, PoolDep
from invorder.errors import FieldError, Forbidden, InvalidInput, Unauthorized
from invorder.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, next_cursor
from invorder.queue import admin
from invorder.settings import Settings

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="page size")]
Cursor = Annotated[str | None, QueryParameter(max_length=200)]
Actor = Annotated[str | None, HeaderParameter(name="X-Actor", max_length=100, required=False)]


def require_admin_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """401 without a bearer token, 403 with a wrong one (or when no token is configured, since
    then no token can be right)."""
    header = connection.headers.get("authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the ops API needs Authorization: Bearer <INVORDER_ADMIN_TOKEN>")
    settings: Settings = connection.app.state.settings
    expected = settings.admin_token
    if not expected:
        raise Forbidden("the ops API is disabled: INVORDER_ADMIN_TOKEN is not set on this server")
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Forbidden("wrong admin token")


def actor_of(request: Request[Any, Any, Any], declared: str | None) -> str:
    """Who is acting, for the action log: the client's address, and the name it gives (X-Actor)."""
    host = request.client.host if request.client else "unknown"
    return f"api:{host}" + (f" ({declared})" if declared else "")


class JobIds(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ids: Annotated[list[BodyId], Meta(min_length=1, max_length=admin.MAX_IDS)]


class PurgeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Dead and/or cancelled jobs last changed more than `older_than` ago (e.g. "7d", "12h", "90s")."""

    older_than: Annotated[str, Meta(min_length=1, max_length=20)]
    statuses: Annotated[list[str], Meta(min_length=1, max_length=2)] = msgspec.field(
        default_factory=lambda: list(admin.PURGEABLE_STATUSES)
    )


class JobPage(msgspec.Struct, frozen=True):
    data: list[admin.JobRow]
    next_cursor: str | None


class ActionMessage(msgspec.Struct, frozen=True):
    message: str
    data: admin.ActionResult


class PurgeOut(msgspec.Struct, frozen=True):
    purged: int
    older_than_s: float
    statuses: list[str]


class PurgeMessage(msgspec.Struct, frozen=True):
    message: str
    data: PurgeOut


class ActionLog(msgspec.Struct, frozen=True):
    data: list[admin.AdminActionRow]


class OpsController(Controller):
    path = "/ops"
    tags = ["operations"]
    guards = [require_admin_token]

    @get("/stats")
    async def stats(self, pool: PoolDep) -> admin.QueueStats:
        return await admin.queue_stats(pool)

    @get("/jobs")
    async def list_jobs(
        self,
        pool: PoolDep,
        kind: Annotated[str | None, QueryParameter(max_length=100)] = None,
        status: Annotated[
            str | None, QueryParameter(max_length=20, description="ready, running, dead, cancelled")
        ] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> JobPage:
        jobs = await admin.list_jobs(pool, kind=kind, status=status, after_id=decode_cursor(cursor), limit=limit)
        return JobPage(jobs, next_cursor([j.id for j in jobs], limit))

    @get("/jobs/{job_id:int}")
    async def get_job(self, job_id: PathId, pool: PoolDep) -> admin.JobRow:
        return await admin.get_job(pool, job_id)

    @post("/jobs/retry", status_code=200)
    async def retry_jobs(
        self, data: JSONBody[JobIds], pool: PoolDep, request: Request[Any, Any, Any], x_actor: Actor = None
    ) -> ActionMessage:
        result = await admin.retry_jobs(pool, list(data.ids), actor=actor_of(request, x_actor))
        return ActionMessage(_summary("retried", result), result)

    @post("/jobs/cancel", status_code=200)
    async def cancel_jobs(
        self, data: JSONBody[JobIds], pool: PoolDep, request: Request[Any, Any, Any], x_actor: Actor = None
    ) -> ActionMessage:
        result = await admin.cancel_jobs(pool, list(data.ids), actor=actor_of(request, x_actor))
        return ActionMessage(_summary("cancelled", result), result)

    @post("/jobs/purge", status_code=200)
    async def purge_jobs(
        self, data: JSONBody[PurgeRequest], pool: PoolDep, request: Request[Any, Any, Any], x_actor: Actor = None
    ) -> PurgeMessage:
        older_than_s = admin.parse_duration(data.older_than)
        if len(set(data.statuses)) != len(data.statuses):
            raise InvalidInput("a status is named twice", [FieldError("statuses", "duplicate")])
        purged = await admin.purge_jobs(
            pool, older_than_s=older_than_s, statuses=tuple(data.statuses), actor=actor_of(request, x_actor)
        )
        return PurgeMessage(
            f"{purged} job{'s' if purged != 1 else ''} purged", PurgeOut(purged, older_than_s, list(data.statuses))
        )

    @get("/actions")
    async def list_actions(
        self, pool: PoolDep, limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    ) -> ActionLog:
        return ActionLog(await admin.list_admin_actions(pool, limit=limit))


def _summary(verb: str, result: admin.ActionResult) -> str:
    done = len(result.affected)
    text = f"{done} job{'s' if done != 1 else ''} {verb}"
    if result.skipped:
        text += f"; {len(result.skipped)} left alone (running, finished or in another state): {result.skipped}"
    return text
