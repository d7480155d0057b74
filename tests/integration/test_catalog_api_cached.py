"""The products and categories API tests again, with the Redis cache on: every answer the same."""

from __future__ import annotations

import pytest

from invorder.settings import Settings, load_settings
from tests.conftest import TEST_ENV
from tests.integration.test_categories_api import *  # noqa: F403
from tests.integration.test_products_api import *  # noqa: F403
from tests.support.redis_server import RedisServer


@pytest.fixture
def settings(database_url: str, redis_server: RedisServer) -> Settings:
    return load_settings(environ={**TEST_ENV, "DATABASE_URL": database_url, "REDIS_URL": redis_server.url})
