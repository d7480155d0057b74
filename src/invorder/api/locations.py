"""`/locations`: where stock is kept, over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, patch, post
from litestar.params import JSONBody
from msgspec import Meta

from invorder.api.access import needs
from invorder.api.deps import Cursor, Limit, PathId, PoolDep
from invorder.api.pagination import DEFAULT_LIMIT, decode_cursor, next_cursor
from invorder.catalog import locations

LocationCode = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,49}$", max_length=50)]
LocationName = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"\S")]
Priority = Annotated[int, Meta(ge=-1_000_000, le=1_000_000)]


class LocationCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: LocationCode
    name: LocationName
    priority: Priority | msgspec.UnsetType = msgspec.UNSET  # 100 when left out
    active: bool | msgspec.UnsetType = msgspec.UNSET  # true when left out


class LocationPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: LocationName | msgspec.UnsetType = msgspec.UNSET
    priority: Priority | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class LocationOut(msgspec.Struct, frozen=True):
    id: int
    code: str
    name: str
    priority: int
    active: bool
    created_at: datetime
    updated_at: datetime


class LocationMessage(msgspec.Struct, frozen=True):
    message: str
    data: LocationOut


class LocationPage(msgspec.Struct, frozen=True):
    data: list[LocationOut]
    next_cursor: str | None


def location_out(row: locations.LocationRow) -> LocationOut:
    return LocationOut(**msgspec.structs.asdict(row))


class LocationController(Controller):
    path = "/locations"
    tags = ["locations"]

    @post("/", **needs("inventory:write", 400, 409))
    async def create_location(self, data: JSONBody[LocationCreate], pool: PoolDep) -> Response[LocationMessage]:
        row = await locations.create_location(
            pool,
            code=data.code,
            name=data.name.strip(),
            priority=100 if isinstance(data.priority, msgspec.UnsetType) else data.priority,
            active=True if isinstance(data.active, msgspec.UnsetType) else data.active,
        )
        return Response(
            LocationMessage("Location created successfully", location_out(row)),
            status_code=201,
            headers={"Location": f"/api/v1/locations/{row.id}"},
        )

    @get("/", **needs("inventory:read", 400))
    async def list_locations(self, pool: PoolDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> LocationPage:
        rows = await locations.list_locations(pool, after_id=decode_cursor(cursor), limit=limit)
        return LocationPage([location_out(r) for r in rows], next_cursor([r.id for r in rows], limit))

    @get("/{location_id:int}", **needs("inventory:read", 400, 404))
    async def get_location(self, location_id: PathId, pool: PoolDep) -> LocationOut:
        return location_out(await locations.get_location(pool, location_id))

    @patch("/{location_id:int}", **needs("inventory:write", 400, 404))
    async def update_location(
        self, location_id: PathId, data: JSONBody[LocationPatch], pool: PoolDep
    ) -> LocationMessage:
        name = None if isinstance(data.name, msgspec.UnsetType) else data.name.strip()
        priority = None if isinstance(data.priority, msgspec.UnsetType) else data.priority
        active = None if isinstance(data.active, msgspec.UnsetType) else data.active
        row = await locations.update_location(pool, location_id, name=name, priority=priority, active=active)
        return LocationMessage("Location updated successfully", location_out(row))

    @delete("/{location_id:int}", status_code=200, **needs("inventory:write", 400, 404, 409))
    async def delete_location(self, location_id: PathId, pool: PoolDep) -> LocationMessage:
        row = await locations.delete_location(pool, location_id)
        return LocationMessage("Location deleted successfully", location_out(row))
