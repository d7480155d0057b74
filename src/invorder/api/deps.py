"""What the app provides to route handlers: the connection pool and the settings."""

from __future__ import annotations

from typing import Any

from litestar.datastructures import State
from psycopg_pool import AsyncConnectionPool

from invorder.settings import Settings

Pool = AsyncConnectionPool[Any]


def provide_pool(state: State) -> Pool:
    pool: Pool = state.pool
    return pool


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings
