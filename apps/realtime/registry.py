"""What the web processes and the bridge share in Redis (REALTIME_REDIS_URL):

- ``<prefix>keys``: sorted set of subscription keys (apps.realtime.protocol: depth/kline/
  price/state/today/deals keys, ``order.<user>.<market>``, ``asset.<user>.<asset>``), score
  = the time until which some connection holds it. Each web process adds a key when its
  first connection subscribes it and refreshes all its keys every TTL/3 s; a key nobody
  refreshes expires. The bridge polls the market-data keys that are alive and pushes
  private events only for live order/asset keys.
- ``<prefix>cache``: hash key → the last push of that key (JSON), for the on-subscribe
  pushes (depth snapshot with its sequence number, price, state, today, recent deals).
"""
from __future__ import annotations

import asyncio
import logging
import time
import weakref

import redis.asyncio as aioredis
from django.conf import settings

logger = logging.getLogger("apps.realtime")


def keys_name() -> str:
    return settings.REALTIME_KEY_PREFIX + "keys"


def cache_name() -> str:
    return settings.REALTIME_KEY_PREFIX + "cache"


def redis_client() -> aioredis.Redis:
    # a bounded pool that waits for a free connection: 5,000 connections subscribing at
    # once must not open 5,000 Redis connections
    pool = aioredis.BlockingConnectionPool.from_url(settings.REALTIME_REDIS_URL, max_connections=32, timeout=20,
                                                    socket_timeout=5, socket_connect_timeout=2)
    return aioredis.Redis(connection_pool=pool)


class Registry:
    """The subscription keys held by this process's connections (one per event loop)."""

    def __init__(self, r: aioredis.Redis, ttl: int):
        self.r = r
        self.ttl = ttl
        self.counts: dict[str, int] = {}
        self._task = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._refresh_forever())

    async def add(self, key: str) -> None:
        n = self.counts.get(key, 0)
        self.counts[key] = n + 1
        if n == 0:
            try:
                await self.r.zadd(keys_name(), {key: time.time() + self.ttl})
            except Exception as exc:  # noqa: BLE001 - refreshed later; the push just starts later
                logger.warning("realtime registry: cannot add %s: %s", key, exc)

    def remove(self, key: str) -> None:
        n = self.counts.get(key, 0) - 1
        if n <= 0:
            self.counts.pop(key, None)
        else:
            self.counts[key] = n

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.ttl / 3))
            if not self.counts:
                continue
            try:
                await self.r.zadd(keys_name(), {k: time.time() + self.ttl for k in list(self.counts)})
            except Exception as exc:  # noqa: BLE001
                logger.warning("realtime registry: refresh failed: %s", exc)

    async def cached(self, key: str) -> bytes | None:
        try:
            return await self.r.hget(cache_name(), key)
        except Exception as exc:  # noqa: BLE001 - no on-subscribe push then
            logger.warning("realtime cache: cannot read %s: %s", key, exc)
            return None

    async def cached_many(self, keys: list[str]) -> list:
        if not keys:
            return []
        try:
            return await self.r.hmget(cache_name(), keys)
        except Exception as exc:  # noqa: BLE001
            logger.warning("realtime cache: cannot read %s: %s", keys, exc)
            return [None] * len(keys)


_registries: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Registry]" = weakref.WeakKeyDictionary()


def get_registry() -> Registry:
    loop = asyncio.get_running_loop()
    reg = _registries.get(loop)
    if reg is None:
        reg = _registries[loop] = Registry(redis_client(), settings.REALTIME_KEY_TTL)
        reg.start()
    return reg
