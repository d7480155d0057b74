"""API keys: making one (shown once), storing only its hash, listing and revoking them, and
checking a presented key through a small in-process cache (docs/security.md)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

import msgspec

from invorder import db
from invorder.db.queries import queries
from invorder.errors import FieldError, InvalidInput, NotFound
from invorder.queue.admin import MAX_DURATION_S

Q = queries()

Scope = Literal[
    "catalog:read",
    "catalog:write",
    "inventory:read",
    "inventory:write",
    "orders:read",
    "orders:write",
    "events:read",
    "webhooks:write",
    "ops",
    "metrics",
    "fulfillments:write",
    "refunds:write",
]
SCOPES: tuple[str, ...] = get_args(Scope)
# A client's name: the rule of the clients table's check constraint (migration 20261202100000),
# given to the API's schema so a bad name is refused before the database sees it.
CLIENT_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
KEY_PREFIX = "ik_"
_RANDOM_BYTES = 24  # 192 bits: 32 characters of URL-safe base64 after the prefix
_VISIBLE = len(KEY_PREFIX) + 8  # what lists show of a key
# The shape of every key: anything else is refused before it is hashed or looked up.
_KEY_SHAPE = re.compile(r"ik_[A-Za-z0-9_-]{32}")
DEFAULT_CLIENT_ID = 1  # `default`: the client of every order placed before API keys


class KeyRow(msgspec.Struct, frozen=True):
    """A key as lists show it: never the key itself."""

    id: int
    client: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewKey(msgspec.Struct, frozen=True):
    """A key just made: the only answer that holds `key`."""

    id: int
    key: str
    client: str
    scopes: list[str]
    prefix: str
    expires_at: datetime | None


class _Found(msgspec.Struct, frozen=True):
    id: int
    client_id: int
    client: str
    scopes: list[str]
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the key's id (None for INVORDER_ADMIN_TOKEN), its client and scopes."""

    key_id: int | None
    client_id: int
    client: str
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        """Who did it, as audit rows record it."""
        return "admin" if self.key_id is None else f"key:{self.key_id}"

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


ADMIN = Principal(key_id=None, client_id=DEFAULT_CLIENT_ID, client="default", scopes=frozenset(SCOPES))


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def key_hash(key: str) -> bytes:
    """SHA-256 of the key. A fast hash suffices: the key is 192 random bits, so there is no
    dictionary to try, and a password hash would cost tens of milliseconds per request."""
    return hashlib.sha256(key.encode()).digest()


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes, each once and in the canonical order; unknown ones are a 422."""
    asked = list(scopes)
    unknown = sorted(set(asked) - set(SCOPES))
    if unknown or not asked:
        detail = f"unknown scope: {', '.join(unknown)}" if unknown else "a key needs at least one scope"
        raise InvalidInput(detail, [FieldError("scopes", f"one or more of: {', '.join(SCOPES)}")])
    return [s for s in SCOPES if s in asked]


async def create_key(
    pool: Any, *, client: str, scopes: Iterable[str], expires_in_s: float | None, created_by: str
) -> NewKey:
    """A new key for `client` (made when new), shown in this answer and never again."""
    granted = check_scopes(scopes)
    expires_at = None
    if expires_in_s is not None:
        if not 0 < expires_in_s <= MAX_DURATION_S:
            raise InvalidInput(
                "expires_in_s must be above 0 and at most 100 years", [FieldError("expires_in_s", "out of range")]
            )
        expires_at = datetime.now(UTC) + timedelta(seconds=expires_in_s)
    key = new_key()
    async with db.transaction(pool) as conn:
        client_id = await db.scalar(conn, Q.ensure_client, name=client)
        row = await db.one(
            conn,
            Q.insert_api_key,
            KeyRow,
            client_id=client_id,
            prefix=key[:_VISIBLE],
            key_hash=key_hash(key),
            scopes=granted,
            created_by=created_by,
            expires_at=expires_at,
        )
    assert row is not None
    return NewKey(row.id, key, row.client, row.scopes, row.prefix, row.expires_at)


async def list_keys(pool: Any, *, after_id: int = 0, limit: int = 100) -> list[KeyRow]:
    async with db.transaction(pool) as conn:
        return await db.many(conn, Q.list_api_keys, KeyRow, after_id=after_id, limit=limit)


async def revoke_key(pool: Any, key_id: int) -> KeyRow:
    """Revoke a key; every API process refuses it within its cache's lifetime."""
    async with db.transaction(pool) as conn:
        row = await db.one(conn, Q.revoke_api_key, KeyRow, id=key_id)
    if row is None:
        raise NotFound(f"API key {key_id} does not exist")
    return row


class KeyVerifier:
    """What a presented key may do. A key's row is read at most once per `ttl_s` in this
    process (unknown keys too), so a revocation is seen within `ttl_s`; expiry is checked on
    every request against the row read. Uses are remembered here and written by
    `flush_last_used`, one statement for every key, never one write per request."""

    def __init__(
        self,
        pool: Any,
        *,
        admin_token: str | None,
        ttl_s: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._admin_token = admin_token.encode() if admin_token else None
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._cache: OrderedDict[bytes, tuple[float, _Found | None]] = OrderedDict()
        self._used: dict[int, datetime] = {}

    async def verify(self, presented: str) -> Principal | None:
        """The principal of a live key; None for a key that is unknown, revoked or expired."""
        if self._admin_token is not None and hmac.compare_digest(presented.encode(), self._admin_token):
            return ADMIN
        if not _KEY_SHAPE.fullmatch(presented):
            return None
        digest = key_hash(presented)
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self._ttl_s:
            found = cached[1]
            self._cache.move_to_end(digest)
        else:
            async with db.single_statement(self._pool) as conn:
                found = await db.one(conn, Q.find_api_key, _Found, key_hash=digest)
            self._cache[digest] = (now, found)
            self._cache.move_to_end(digest)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        wall = datetime.now(UTC)
        if found is None or found.revoked_at is not None or (found.expires_at is not None and found.expires_at <= wall):
            return None
        self._used[found.id] = wall
        return Principal(found.id, found.client_id, found.client, frozenset(found.scopes))

    async def flush_last_used(self) -> int:
        """Write when each key seen since the last flush was last used; the keys written."""
        used, self._used = self._used, {}
        if not used:
            return 0
        ids = sorted(used)
        try:
            async with db.single_statement(self._pool) as conn:
                await db.execute(conn, Q.touch_api_keys, ids=ids, used_at=[used[i] for i in ids])
        except BaseException:
            for key_id, at in used.items():  # kept for the next flush
                self._used[key_id] = max(at, self._used.get(key_id, at))
            raise
        return len(used)
