"""`/ops`: the job administration API for operators (stats, jobs, retry, cancel, purge, pausing
and limiting a kind, the action log, API keys), for keys with the `ops` scope."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import HeaderParameter, JSONBody, PathParameter, QueryParameter
from msgspec import Meta

from invorder.access import keys
from invorder.api.access import needs, principal_of
from invorder.api.deps import BodyId, Cursor, Limit, PathId, PoolDep, PrincipalDep
from invorder.api.pagination import DEFAULT_LIMIT, decode_cursor, next_cursor
from invorder.durations import DURATION_PATTERN, parse_duration
from invorder.errors import BadRequest, FieldError
from invorder.job_kinds import INVORDER_JOB_KINDS
from invorder.ops.stats import QueueStats, queue_stats
from invorder.queue import admin
from invorder.web.strict_body import whole

Actor = Annotated[str | None, HeaderParameter(name="X-Actor", max_length=100, required=False)]


def actor_of(request: Request[Any, Any, Any], declared: str | None) -> str:
    """Who is acting, for the action log: the key (`key:<id>`, or `admin` for
    INVORDER_ADMIN_TOKEN), and the name the caller gives (X-Actor)."""
    return principal_of(request).actor + (f" ({declared})" if declared else "")


class JobIds(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ids: Annotated[list[BodyId], Meta(min_length=1, max_length=admin.MAX_IDS)]


class PurgeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Dead and/or cancelled jobs last changed more than `older_than` ago (e.g. "7d", "12h", "90s")."""

    older_than: Annotated[str, Meta(pattern=DURATION_PATTERN)]
    statuses: Annotated[
        list[admin.PurgeableStatus],
        Meta(min_length=1, max_length=2, extra_json_schema={"uniqueItems": True}),
    ] = msgspec.field(default_factory=lambda: list(admin.PURGEABLE_STATUSES))


class KeyCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    client: Annotated[str, Meta(pattern=keys.CLIENT_NAME_PATTERN)]
    scopes: Annotated[list[keys.Scope], Meta(min_length=1, max_length=len(keys.SCOPES))]
    expires_in_s: Annotated[int, Meta(ge=1, le=admin.MAX_DURATION_S)] | None = None


class NewKeyMessage(msgspec.Struct, frozen=True):
    message: str
    data: keys.NewKey


class KeyMessage(msgspec.Struct, frozen=True):
    message: str
    data: keys.KeyRow


class KeyPage(msgspec.Struct, frozen=True):
    data: list[keys.KeyRow]
    next_cursor: str | None


class JobPage(msgspec.Struct, frozen=True):
    data: list[admin.JobRow]
    next_cursor: str | None


class KindPauseMessage(msgspec.Struct, frozen=True):
    message: str
    data: admin.KindPause


class KindLimitRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The most jobs of the kind running at once, all workers together."""

    max_running: Annotated[int, Meta(ge=1, le=admin.MAX_RUNNING_LIMIT)]


class KindLimitMessage(msgspec.Struct, frozen=True):
    message: str
    data: admin.KindLimit


KindPath = Annotated[str, PathParameter(pattern=r"^[a-z][a-z0-9_.:-]{0,99}$", description="a job kind")]


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

    @get("/stats", **needs("ops"))
    async def stats(self, pool: PoolDep) -> QueueStats:
        return await queue_stats(pool)

    @get("/jobs", **needs("ops", 400))
    async def list_jobs(
        self,
        pool: PoolDep,
        kind: Annotated[str | None, QueryParameter(max_length=100)] = None,
        status: Annotated[admin.JobStatus | None, QueryParameter(description="only jobs in this status")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> JobPage:
        jobs = await admin.list_jobs(pool, kind=kind, status=status, after_id=decode_cursor(cursor), limit=limit)
        return JobPage(jobs, next_cursor([j.id for j in jobs], limit))

    @get("/jobs/{job_id:int}", **needs("ops", 400, 404))
    async def get_job(self, job_id: PathId, pool: PoolDep) -> admin.JobRow:
        return await admin.get_job(pool, job_id)

    @post("/jobs/retry", status_code=200, **needs("ops", 400))
    async def retry_jobs(
        self, data: JSONBody[JobIds], pool: PoolDep, request: Request[Any, Any, Any], x_actor: Actor = None
    ) -> ActionMessage:
        result = await admin.retry_jobs(pool, list(data.ids), actor=actor_of(request, x_actor))
        return ActionMessage(_summary("retried", result), result)

    @post("/kinds/{kind:str}/pause", status_code=200, **needs("ops", 400, 404))
    async def pause_kind(
        self, kind: KindPath, pool: PoolDep, request: Request[Any, Any, Any], x_actor: Actor = None
    ) -> KindPauseMessage:
        """No worker claims jobs of `kind` from now on; those running finish. Stored in the
        database: it outlives every process. Pausing a paused kind changes nothing."""
        result = await admin.set_kind_paused(
            pool, kind, paused=True, actor=actor_of(request, x_actor), known_kinds=INVORDER_JOB_KINDS
        )
        return KindPauseMessage(f"Job kind {kind} paused", result)

    @post("/kinds/{kind:str}/resume", status_code=200, **needs("ops", 400, 404))
    async def resume_kind(
        self, kind: KindPath, pool: PoolDep, request: Request[Any, Any, Any], x_actor: Actor = None
    ) -> KindPauseMessage:
        """Workers claim jobs of `kind` again (they are woken at once)."""
        result = await admin.set_kind_paused(
            pool, kind, paused=False, actor=actor_of(request, x_actor), known_kinds=INVORDER_JOB_KINDS
        )
        return KindPauseMessage(f"Job kind {kind} resumed", result)

    @put("/kinds/{kind:str}/limit", status_code=200, **needs("ops", 400, 404))
    async def limit_kind(
        self,
        kind: KindPath,
        data: JSONBody[KindLimitRequest],
        pool: PoolDep,
        request: Request[Any, Any, Any],
        x_actor: Actor = None,
    ) -> KindLimitMessage:
        """At most `max_running` jobs of `kind` run at once across every worker from now on;
        those running beyond a lower limit finish. Stored in the database: it outlives every
        process. Setting the limit a kind has changes nothing."""
        result = await admin.set_kind_limit(
            pool, kind, data.max_running, actor=actor_of(request, x_actor), known_kinds=INVORDER_JOB_KINDS
        )
        return KindLimitMessage(f"Job kind {kind} limited to {data.max_running} running at once", result)

    @delete("/kinds/{kind:str}/limit", status_code=200, **needs("ops", 400, 404))
    async def unlimit_kind(
        self, kind: KindPath, pool: PoolDep, request: Request[Any, Any, Any], x_actor: Actor = None
    ) -> KindLimitMessage:
        """Lift the limit of `kind` (workers are woken at once). Lifting a limit the kind does
        not have changes nothing."""
        result = await admin.set_kind_limit(
            pool, kind, None, actor=actor_of(request, x_actor), known_kinds=INVORDER_JOB_KINDS
        )
        return KindLimitMessage(f"Job kind {kind} has no limit", result)

    @post("/jobs/cancel", status_code=200, **needs("ops", 400))
    async def cancel_jobs(
        self, data: JSONBody[JobIds], pool: PoolDep, request: Request[Any, Any, Any], x_actor: Actor = None
    ) -> ActionMessage:
        result = await admin.cancel_jobs(pool, list(data.ids), actor=actor_of(request, x_actor))
        return ActionMessage(_summary("cancelled", result), result)

    @post("/jobs/purge", status_code=200, **needs("ops", 400))
    async def purge_jobs(
        self, data: JSONBody[PurgeRequest], pool: PoolDep, request: Request[Any, Any, Any], x_actor: Actor = None
    ) -> PurgeMessage:
        older_than_s = parse_duration(whole(DURATION_PATTERN, data.older_than, "older_than"))
        if len(set(data.statuses)) != len(data.statuses):
            raise BadRequest("a status is named twice", [FieldError("statuses", "duplicate")])
        purged = await admin.purge_jobs(
            pool, older_than_s=older_than_s, statuses=tuple(data.statuses), actor=actor_of(request, x_actor)
        )
        return PurgeMessage(
            f"{purged} job{'s' if purged != 1 else ''} purged", PurgeOut(purged, older_than_s, list(data.statuses))
        )

    @get("/actions", **needs("ops", 400))
    async def list_actions(self, pool: PoolDep, limit: Limit = DEFAULT_LIMIT) -> ActionLog:
        return ActionLog(await admin.list_admin_actions(pool, limit=limit))

    @post("/keys", status_code=201, **needs("ops", 400))
    async def create_key(
        self, data: JSONBody[KeyCreate], pool: PoolDep, principal: PrincipalDep
    ) -> Response[NewKeyMessage]:
        made = await keys.create_key(
            pool,
            client=whole(keys.CLIENT_NAME_PATTERN, data.client, "client"),
            scopes=data.scopes,
            expires_in_s=data.expires_in_s,
            created_by=principal.actor,
        )
        return Response(
            NewKeyMessage("API key created: store it now, it is not shown again", made),
            status_code=201,
            headers={"Location": f"/api/v1/ops/keys/{made.id}", "Cache-Control": "no-store"},
        )

    @get("/keys", **needs("ops", 400))
    async def list_keys(self, pool: PoolDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> KeyPage:
        found = await keys.list_keys(pool, after_id=decode_cursor(cursor), limit=limit)
        return KeyPage(found, next_cursor([k.id for k in found], limit))

    @delete("/keys/{key_id:int}", status_code=200, **needs("ops", 400, 404))
    async def revoke_key(self, key_id: PathId, pool: PoolDep) -> KeyMessage:
        return KeyMessage("API key revoked", await keys.revoke_key(pool, key_id))


def _summary(verb: str, result: admin.ActionResult) -> str:
    done = len(result.affected)
    text = f"{done} job{'s' if done != 1 else ''} {verb}"
    if result.skipped:
        text += f"; {len(result.skipped)} left alone (running, finished or in another state): {result.skipped}"
    return text
