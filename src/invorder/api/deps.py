"""What the app provides to route handlers: the connection pool, the order placer, the catalog
cache, the settings and the principal of the request."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter
from msgspec import Meta
from psycopg_pool import AsyncConnectionPool

from invorder.access.keys import Principal
from invorder.api.pagination import CURSOR_PATTERN, MAX_LIMIT
from invorder.catalog.cache import CatalogCache
from invorder.orders.placing import OrderPlacer
from invorder.settings import Settings

Pool = AsyncConnectionPool[Any]
# What route handlers declare to receive the app's dependencies by name.
PoolDep = NamedDependency[Pool]
SettingsDep = NamedDependency[Settings]
CacheDep = NamedDependency[CatalogCache]
PrincipalDep = NamedDependency[Principal]  # who is asking (api/access.py's guard found it)


def provide_pool(state: State) -> Pool:
    pool: Pool = state.pool
    return pool


def provide_placer(state: State) -> OrderPlacer:
    placer: OrderPlacer = state.placer
    return placer


def provide_cache(state: State) -> CatalogCache:
    cache: CatalogCache = state.catalog_cache
    return cache


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal: Principal = request.state.principal
    return principal


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


# A resource id in a path: a positive integer up to 2**53 - 1, the largest every JSON parser
# keeps exact (ids are bigint identities, which never reach it). Anything else cannot name a
# row: 404 is not reached, the request is refused as malformed.
MAX_ID = 2**53 - 1
PathId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
# The same rule for an id inside a JSON body.
BodyId = Annotated[int, Meta(ge=1, le=MAX_ID)]

# The paging parameters of every list.
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="page size")]
Cursor = Annotated[
    str | None, QueryParameter(pattern=CURSOR_PATTERN, description="the next_cursor of the previous page")
]
