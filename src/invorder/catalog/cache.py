"""The optional Redis read cache of the catalog: cache-aside entries stamped with validity tokens,
and a breaker that keeps a failing Redis out of the request path (docs/design.md, section 10)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any, TypeVar, cast

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from invorder.errors import InvorderError
from invorder.metrics import CACHE_REQUESTS
from invorder.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# Every key starts with this. Bump the version when a cached type changes shape, so that two
# versions of the code sharing one Redis during a deploy never read each other's entries.
PREFIX = "invorder:v1:"
# Tokens outlive entries by far. One that expires anyway gets a new value: its entries turn to misses.
TOKEN_TTL_MS = 3_600_000

ALL = "token:all"  # every entry; renewed when a category is renamed or deleted (products show its name)
LISTS = "token:lists"  # every list; renewed by every catalog write


def product_token(product_id: int) -> str:
    return f"token:product:{product_id}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One cached read: its `cache` label in the metric, its key, the tokens it is valid under."""

    cache: str
    key: str
    tokens: tuple[str, ...]


def product_entry(product_id: int) -> Entry:
    return Entry("product", f"product:{product_id}", (ALL, product_token(product_id)))


def category_entry(category_id: int) -> Entry:
    # A category's own row changes only by rename or delete, which renew ALL.
    return Entry("category", f"category:{category_id}", (ALL,))


def list_entry(cache: str, **params: object) -> Entry:
    """A page of a list (`product_list`, `category_list`), keyed by all of its parameters."""
    digest = blake2b(msgspec.json.encode(params, order="sorted"), digest_size=16).hexdigest()
    return Entry(cache, f"{cache}:{digest}", (ALL, LISTS))


# What each kind of write makes stale.
def product_changed(product_id: int) -> tuple[str, ...]:
    """A product's fields, deletion or categories changed."""
    return (product_token(product_id), LISTS)


PRODUCT_CREATED = (LISTS,)
CATEGORY_CREATED = (LISTS,)
CATEGORY_CHANGED = (ALL,)  # renamed or deleted: every product that shows it, every list


class _Skipped(Exception):
    """Redis was not used: off, known to be down, or it failed just now."""


def _new_token() -> bytes:
    return secrets.token_hex(8).encode()


class CatalogCache:
    """The cache of one API process; `CatalogCache(None)` caches nothing (REDIS_URL unset)."""

    def __init__(
        self, client: Redis | None, *, ttl_s: float = 30.0, timeout_s: float = 0.2, breaker_open_s: float = 5.0
    ) -> None:
        self._client = client
        self._ttl_ms = max(1, round(ttl_s * 1000))
        # A call may connect and then read: each has `timeout_s` at the socket, this bounds both.
        self._deadline_s = 2 * timeout_s
        self._breaker_open_s = breaker_open_s
        self._down = False  # the breaker: reads skip Redis while the probe waits for it
        self._probe: asyncio.Task[None] | None = None
        # Redis errors seen (lost invalidations among them), and how many of the first of them a
        # renewal of ALL, sent after they happened, has covered.
        self._errors = 0
        self._settled = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> CatalogCache:
        """The cache `settings` ask for. No connection is made here: Redis down at start-up
        delays nothing, and the first reads find out."""
        if not settings.redis_url or settings.cache_ttl_s <= 0:
            return cls(None)
        client = Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=settings.cache_timeout_s,
            socket_timeout=settings.cache_timeout_s,
            # One retry, at once and on a new connection, for a connection that broke while it sat
            # in the pool (Redis restarted, an idle timeout): a dead Redis refuses that one too.
            # A timeout is not retried: it goes straight to the breaker.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        return cls(
            client,
            ttl_s=settings.cache_ttl_s,
            timeout_s=settings.cache_timeout_s,
            breaker_open_s=settings.cache_breaker_open_s,
        )

    @property
    def enabled(self) -> bool:
        return self._client is not None

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with suppress(asyncio.CancelledError):
                await self._probe
        if self._client is not None:
            await self._client.aclose()

    async def read(self, entry: Entry, type_: type[T], load: Callable[[], Awaitable[T]]) -> T:
        """The cached value of `entry` when valid, else `load()` (stored for the next reader).
        Errors of `load` (NotFound, ...) pass through and are not cached."""
        if self._client is None:
            return await load()
        keys = [PREFIX + name for name in (*entry.tokens, entry.key)]
        try:
            found = await self._tokens_and_entry(keys)
        except _Skipped:
            CACHE_REQUESTS.labels(entry.cache, "error").inc()
            return await load()
        tokens, cached = found[:-1], found[-1]
        if None in tokens:  # a token evicted as soon as it was made: read through, store nothing
            CACHE_REQUESTS.labels(entry.cache, "miss").inc()
            return await load()
        stamp = b".".join(cast(list[bytes], tokens))
        if cached is not None:
            cached_stamp, _, body = cached.partition(b"|")
            if cached_stamp == stamp:
                # An entry that does not decode (written by other code) is a miss, not an error.
                with suppress(msgspec.DecodeError):
                    value = msgspec.json.decode(body, type=type_)
                    CACHE_REQUESTS.labels(entry.cache, "hit").inc()
                    return value
        CACHE_REQUESTS.labels(entry.cache, "miss").inc()
        value = await load()
        data = stamp + b"|" + msgspec.json.encode(value)
        with suppress(_Skipped):
            await self._run(lambda pipe: pipe.set(keys[-1], data, px=self._ttl_ms))
        return value

    async def changed(self, tokens: Sequence[str]) -> None:
        """Renews `tokens`: call it once a write has committed. Tried even while the breaker is
        open; when Redis cannot take it, the renewal of ALL after the outage covers it."""
        if self._client is None:
            return

        def renew(pipe: Pipeline) -> None:
            for name in tokens:
                pipe.set(PREFIX + name, _new_token(), px=TOKEN_TTL_MS)

        with suppress(_Skipped):
            await self._run(renew, even_when_down=True)

    @asynccontextmanager
    async def invalidating(self, tokens: Sequence[str]) -> AsyncIterator[None]:
        """Wraps a write and its transaction: renews `tokens` after it. A domain error is a refusal
        that changed nothing; any other error may have come after the commit, so it renews too."""
        try:
            yield
        except InvorderError:
            raise
        except BaseException:
            await self.changed(tokens)
            raise
        await self.changed(tokens)

    async def _tokens_and_entry(self, keys: list[str]) -> list[bytes | None]:
        """The current tokens (each made when missing) and the entry, which is the last of `keys`."""
        found = cast(list[bytes | None], (await self._run(lambda pipe: pipe.mget(keys)))[0])
        missing = [key for key, value in zip(keys[:-1], found, strict=False) if value is None]
        if missing:

            def make(pipe: Pipeline) -> None:
                for key in missing:
                    pipe.set(key, _new_token(), nx=True, px=TOKEN_TTL_MS)
                pipe.mget(keys[:-1])

            tokens = cast(list[bytes | None], (await self._run(make))[-1])
            found = [*tokens, found[-1]]
        return found

    async def _run(self, build: Callable[[Pipeline], object], *, even_when_down: bool = False) -> list[Any]:
        """One round trip: the commands `build` queues, preceded by a renewal of ALL when a Redis
        error has not been covered by one yet. Their results, or _Skipped."""
        client = self._client
        if client is None or (self._down and not even_when_down):
            raise _Skipped
        was_down, errors = self._down, self._errors
        renew_all = errors > self._settled
        pipe = client.pipeline(transaction=False)
        if renew_all:
            pipe.set(PREFIX + ALL, _new_token(), px=TOKEN_TTL_MS)
        build(pipe)
        try:
            async with asyncio.timeout(self._deadline_s):
                results = await pipe.execute()
        # Whatever Redis or its client does wrong, the request goes on without the cache.
        except Exception as exc:
            self._failed(exc)
            raise _Skipped from exc
        self._settled = max(self._settled, errors)
        if was_down and self._down:
            log.info("Redis answers again: the cache is back in use")
            self._down = False
        return results[1:] if renew_all else results

    def _failed(self, exc: Exception) -> None:
        self._errors += 1
        if not self._down:
            log.warning(
                "Redis failed (%s: %s): reads go to the database; Redis is tried again every %gs",
                type(exc).__name__,
                exc,
                self._breaker_open_s,
            )
            self._down = True
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_until_up())

    async def _probe_until_up(self) -> None:
        while self._down:
            await asyncio.sleep(self._breaker_open_s)
            with suppress(_Skipped):
                await self._run(lambda pipe: pipe.ping(), even_when_down=True)
