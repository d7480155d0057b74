"""`GET /dashboard`: the operators' page, HTML rendered on the server that reloads itself; it needs
a key with `ops`, as a bearer header or as HTTP Basic (docs/security.md)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

import psycopg
from litestar import Response, get
from litestar.enums import MediaType
from litestar.params import QueryParameter
from psycopg_pool import PoolTimeout

from invorder.api.access import needs, require_scope_from_browser
from invorder.api.dashboard_page import render_dashboard, render_unavailable
from invorder.api.deps import PoolDep
from invorder.errors import Unavailable
from invorder.ops.dashboard import dashboard_snapshot

log = logging.getLogger(__name__)

DEFAULT_REFRESH_S = 5
Refresh = Annotated[int, QueryParameter(ge=0, le=3600, description="seconds between reloads; 0: never")]

# The page has no script and loads nothing: a policy that allows nothing but its inline CSS, so
# even a markup mistake could not run code or call out. No caching: every reload is live.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@get(
    "/dashboard",
    include_in_schema=False,
    media_type=MediaType.HTML,
    tags=["operations"],
    guards=[require_scope_from_browser],
    **needs("ops"),
)
async def dashboard(pool: PoolDep, refresh: Refresh = DEFAULT_REFRESH_S) -> Response[str]:
    now = datetime.now(UTC)
    try:
        snapshot = await dashboard_snapshot(pool)
    except (psycopg.Error, PoolTimeout, Unavailable) as exc:
        # The page still answers, and keeps reloading until the database is back.
        log.warning("dashboard: database unavailable: %s", exc)
        page = render_unavailable("The database did not answer; see the API's log.", refresh=refresh, now=now)
        return Response(page, status_code=503, media_type=MediaType.HTML, headers=HEADERS)
    return Response(render_dashboard(snapshot, refresh=refresh, now=now), media_type=MediaType.HTML, headers=HEADERS)
