"""`/webhook-endpoints`: subscribe a URL to events, read, change and delete the subscription,
rotate its signing secret, and list the deliveries made to it (scope `webhooks:write`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, delete, get, patch, post
from litestar.params import JSONBody
from msgspec import Meta

from invorder.access.keys import Principal
from invorder.api.access import needs
from invorder.api.deps import Cursor, Limit, PathId, PoolDep, PrincipalDep, SettingsDep
from invorder.api.orders import viewer
from invorder.api.pagination import DEFAULT_LIMIT, decode_cursor, next_cursor
from invorder.events import ALL_EVENTS, EVENT_TYPES
from invorder.webhooks import endpoints as webhooks
from invorder.webhooks.ssrf import MAX_URL_LENGTH

SCOPE = "webhooks:write"

# The guard (events/ssrf.py) checks the rest, a 422: http or https, printable ASCII, a host
# that is not loopback, private, link-local or a metadata service (nor a name that resolves to
# one), no user name or password.
Url = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description=(
            "http(s) URL of printable ASCII; a host that is, or resolves only to, public addresses"
            " (not loopback, private, link-local or metadata ones); no user:password (else a 422)"
        ),
    ),
]
# Each item one of the types, or "*" (every type) alone. The enum is the document's: the body
# decoder leaves an unknown type to the domain's check, a 422 that names it.
EventName = Annotated[str, Meta(max_length=100, extra_json_schema={"enum": [*EVENT_TYPES, ALL_EVENTS]})]
Events = Annotated[
    list[EventName],
    Meta(
        min_length=1,
        max_length=50,
        description='event types (repeats are ignored), or ["*"] for every type',
        extra_json_schema={"anyOf": [{"items": {"not": {"const": ALL_EVENTS}}}, {"items": {"const": ALL_EVENTS}}]},
    ),
]
Description = Annotated[str, Meta(max_length=webhooks.MAX_DESCRIPTION)]


class WebhookEndpointCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Url
    events: Events
    description: Description | None = None


class WebhookEndpointPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Fields to change; enabling an endpoint clears its disabled_reason."""

    url: Url | msgspec.UnsetType = msgspec.UNSET
    events: Events | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET


class WebhookEndpointOut(msgspec.Struct, frozen=True):
    id: int
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecretOut(WebhookEndpointOut, frozen=True):
    """An endpoint just made or given a new secret: `secret` signs its deliveries (Standard
    Webhooks), and is not shown again."""

    secret: str


class WebhookEndpointMessage(msgspec.Struct, frozen=True):
    message: str
    data: WebhookEndpointOut


class WebhookEndpointSecretMessage(msgspec.Struct, frozen=True):
    message: str
    data: WebhookEndpointWithSecretOut


class WebhookEndpointPage(msgspec.Struct, frozen=True):
    data: list[WebhookEndpointOut]
    next_cursor: str | None


class WebhookDeliveryOut(msgspec.Struct, frozen=True):
    id: int
    event_id: int
    attempt: int
    status_code: int | None
    error: str | None
    latency_ms: int | None
    created_at: datetime


class WebhookDeliveryPage(msgspec.Struct, frozen=True):
    """Delivery attempts, newest first."""

    data: list[WebhookDeliveryOut]
    next_cursor: str | None


def _fields(row: webhooks.EndpointRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": row.url,
        "events": row.events,
        "description": row.description,
        "enabled": row.enabled,
        "disabled_reason": row.disabled_reason,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def endpoint_out(row: webhooks.EndpointRow) -> WebhookEndpointOut:
    return WebhookEndpointOut(**_fields(row))


def endpoint_with_secret_out(row: webhooks.EndpointWithSecret) -> WebhookEndpointWithSecretOut:
    return WebhookEndpointWithSecretOut(**_fields(row), secret=row.secret)


def _owner(principal: Principal) -> dict[str, Any]:
    """An endpoint belongs to the key's client; one made with `ops` gets every client's events."""
    return {"client_id": principal.client_id, "all_clients": principal.allows("ops"), "created_by": principal.actor}


class WebhookEndpointController(Controller):
    path = "/webhook-endpoints"
    tags = ["webhooks"]

    @post("/", status_code=201, **needs(SCOPE, 400, 422))
    async def create_endpoint(
        self, data: JSONBody[WebhookEndpointCreate], pool: PoolDep, principal: PrincipalDep, settings: SettingsDep
    ) -> Response[WebhookEndpointSecretMessage]:
        row = await webhooks.create_endpoint(
            pool,
            url=data.url,
            events=data.events,
            description=data.description,
            allow_private=settings.webhook_allow_private,
            **_owner(principal),
        )
        return Response(
            WebhookEndpointSecretMessage(
                "Webhook endpoint created: store its secret now, it is not shown again",
                endpoint_with_secret_out(row),
            ),
            status_code=201,
            headers={"Location": f"/api/v1/webhook-endpoints/{row.id}"},
        )

    @get("/", **needs(SCOPE, 400))
    async def list_endpoints(
        self, pool: PoolDep, principal: PrincipalDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> WebhookEndpointPage:
        rows = await webhooks.list_endpoints(
            pool, viewer=viewer(principal), after_id=decode_cursor(cursor), limit=limit
        )
        return WebhookEndpointPage([endpoint_out(r) for r in rows], next_cursor([r.id for r in rows], limit))

    @get("/{endpoint_id:int}", **needs(SCOPE, 400, 404))
    async def get_endpoint(self, endpoint_id: PathId, pool: PoolDep, principal: PrincipalDep) -> WebhookEndpointOut:
        return endpoint_out(await webhooks.get_endpoint(pool, endpoint_id, viewer=viewer(principal)))

    @patch("/{endpoint_id:int}", **needs(SCOPE, 400, 404, 422))
    async def update_endpoint(
        self,
        endpoint_id: PathId,
        data: JSONBody[WebhookEndpointPatch],
        pool: PoolDep,
        principal: PrincipalDep,
        settings: SettingsDep,
    ) -> WebhookEndpointMessage:
        changes = webhooks.EndpointChanges(
            url=data.url, events=data.events, enabled=data.enabled, description=data.description
        )
        row = await webhooks.update_endpoint(
            pool,
            endpoint_id,
            changes,
            viewer=viewer(principal),
            actor=principal.actor,
            allow_private=settings.webhook_allow_private,
        )
        return WebhookEndpointMessage("Webhook endpoint updated", endpoint_out(row))

    @delete("/{endpoint_id:int}", status_code=200, **needs(SCOPE, 400, 404))
    async def delete_endpoint(
        self, endpoint_id: PathId, pool: PoolDep, principal: PrincipalDep
    ) -> WebhookEndpointMessage:
        row = await webhooks.delete_endpoint(pool, endpoint_id, viewer=viewer(principal))
        return WebhookEndpointMessage("Webhook endpoint deleted", endpoint_out(row))

    @post("/{endpoint_id:int}/rotate-secret", status_code=200, **needs(SCOPE, 400, 404))
    async def rotate_secret(
        self, endpoint_id: PathId, pool: PoolDep, principal: PrincipalDep
    ) -> WebhookEndpointSecretMessage:
        row = await webhooks.rotate_secret(pool, endpoint_id, viewer=viewer(principal))
        return WebhookEndpointSecretMessage(
            "Secret rotated: deliveries are signed with the old one too for 24 hours; store the new one now",
            endpoint_with_secret_out(row),
        )

    @get("/{endpoint_id:int}/deliveries", **needs(SCOPE, 400, 404))
    async def list_deliveries(
        self,
        endpoint_id: PathId,
        pool: PoolDep,
        principal: PrincipalDep,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> WebhookDeliveryPage:
        rows = await webhooks.list_deliveries(
            pool, endpoint_id, viewer=viewer(principal), after_id=decode_cursor(cursor), limit=limit
        )
        return WebhookDeliveryPage(
            [WebhookDeliveryOut(**msgspec.structs.asdict(r)) for r in rows], next_cursor([r.id for r in rows], limit)
        )
