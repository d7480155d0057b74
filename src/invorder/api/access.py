"""Authentication and scopes for the API: the `needs(...)` each route declares, and the guard on
`/api/v1` that checks the bearer key against it (docs/security.md)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from invorder.access.keys import SCOPES, KeyVerifier, Principal
from invorder.errors import Forbidden, Unauthorized, UnauthorizedBrowser
from invorder.web.problems import problem_responses

SCOPE_KEY = "scope"
BEARER = "bearer"  # the name of the security scheme in the OpenAPI document
# What any guarded route can answer: no key or a dead one, a missing scope, no database.
GUARDED_ERRORS = (401, 403, 503)


def needs(scope: str, *errors: int) -> dict[str, Any]:
    """The keyword arguments of a route decorator for a route that needs `scope` (checked when
    the module loads) and can answer `errors` besides 401, 403 and 503: the scope for the guard
    (`opt`), and the security requirement and error answers for the OpenAPI document."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    return {
        "opt": {SCOPE_KEY: scope},
        "security": [{BEARER: [scope]}],
        "responses": problem_responses(*GUARDED_ERRORS, *errors),
    }


def presented_key(connection: ASGIConnection[Any, Any, Any, Any], *, basic: bool = False) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, or with `basic` of an HTTP Basic
    header whose password is the key (any user name), if any."""
    scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return credentials
    if basic and scheme.lower() == "basic" and credentials:
        try:
            _, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password or None
    return None


async def require_scope(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """401 without a live key, 403 when the key lacks the route's scope; else the key's
    principal is left in `connection.state.principal` for the handler."""
    await _check(connection, handler, basic=False)


async def require_scope_from_browser(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """`require_scope` for pages a person opens: HTTP Basic is accepted too (the key as the
    password), and a 401 asks the browser for it."""
    await _check(connection, handler, basic=True)


async def _check(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler, *, basic: bool) -> None:
    scope = handler.opt.get(SCOPE_KEY)
    refusal = UnauthorizedBrowser if basic else Unauthorized
    key = presented_key(connection, basic=basic)
    if key is None:
        raise refusal("an API key is needed: Authorization: Bearer <key>")
    verifier: KeyVerifier = connection.app.state.key_verifier
    principal = await verifier.verify(key)
    if principal is None:
        raise refusal("this API key is unknown, revoked or expired")
    if scope is None:  # fail closed: a route nobody gave a scope is nobody's
        raise Forbidden("this route declares no scope, so no key may call it")
    if not principal.allows(scope):
        raise Forbidden(f"this API key lacks the scope {scope}")
    connection.state.principal = principal


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal: Principal = connection.state.principal
    return principal
