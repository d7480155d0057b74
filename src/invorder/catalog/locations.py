"""Locations: where stock is kept. Create, read, list, change and delete them; `default` (id 1)
holds every stock level made before locations and is never deleted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from invorder import db
from invorder.db.queries import queries
from invorder.errors import Conflict, FieldError, NotFound

Q = queries()
DEFAULT_LOCATION_ID = 1  # the migration's `default`, inventory.location_id's default


class LocationRow(msgspec.Struct, frozen=True):
    id: int
    code: str
    name: str
    priority: int  # lower is allocated from first
    active: bool  # an inactive location is never allocated from
    created_at: datetime
    updated_at: datetime


class _Stock(msgspec.Struct, frozen=True):
    on_hand: int
    reserved: int


def _no_location(location_id: int) -> NotFound:
    return NotFound(f"location {location_id} does not exist")


async def create_location(pool: Any, *, code: str, name: str, priority: int, active: bool) -> LocationRow:
    async with db.transaction(pool) as conn:
        row = await db.one(conn, Q.insert_location, LocationRow, code=code, name=name, priority=priority, active=active)
    if row is None:
        raise Conflict(f"a location with code {code!r} exists already", [FieldError("code", "taken")])
    return row


async def get_location(pool: Any, location_id: int) -> LocationRow:
    async with db.transaction(pool) as conn:
        row = await db.one(conn, Q.get_location, LocationRow, id=location_id)
    if row is None:
        raise _no_location(location_id)
    return row


async def list_locations(pool: Any, *, after_id: int, limit: int) -> list[LocationRow]:
    async with db.transaction(pool) as conn:
        return await db.many(conn, Q.list_locations, LocationRow, after_id=after_id, limit=limit)


async def update_location(
    pool: Any, location_id: int, *, name: str | None, priority: int | None, active: bool | None
) -> LocationRow:
    """Change what is given (None leaves a field as it is)."""
    async with db.transaction(pool) as conn:
        row = await db.one(
            conn, Q.update_location, LocationRow, id=location_id, name=name, priority=priority, active=active
        )
    if row is None:
        raise _no_location(location_id)
    return row


async def delete_location(pool: Any, location_id: int) -> LocationRow:
    """Delete a location that holds nothing (its empty stock levels go with it); 409 while it
    holds stock on hand or reserved, and for `default`."""
    if location_id == DEFAULT_LOCATION_ID:
        raise Conflict("the default location cannot be deleted")
    async with db.transaction(pool) as conn:
        if await db.one(conn, Q.get_location, LocationRow, id=location_id) is None:
            raise _no_location(location_id)
        held = await db.one(conn, Q.lock_location_stock, _Stock, id=location_id)
        if held is not None and (held.on_hand or held.reserved):
            raise Conflict(
                f"location {location_id} holds {held.on_hand} units on hand and {held.reserved} reserved:"
                " transfer or remove them first"
            )
        row = await db.one(conn, Q.delete_location, LocationRow, id=location_id)
    if row is None:
        raise _no_location(location_id)
    return row
