"""What the app provides to route handlers: the connection pool, the catalog cache, the settings
and the principal of the request."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import PathParameter
from msgspec import Meta
from psycopg_pool import AsyncConnectionPool

from invorder.access.keys import Principal
from invorder.catalog.cache import CatalogCache
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


def provide_cache(state: State) -> CatalogCache:
    cache: CatalogCache = state.catalog_cache
    return cache


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal: Principal = request.state.principal
    return principal


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


# A resource id in a path: a positive bigint (anything else cannot name a row: 404 is not
# reached, the request is refused as malformed).
MAX_ID = 2**63 - 1
PathId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
# The same rule for an id inside a JSON body.
BodyId = Annotated[int, Meta(ge=1, le=MAX_ID)]
