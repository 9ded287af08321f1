"""Per-process fan-out of the bridge's pushes (one Hub per event loop = per web process).

The process holds ONE channel of the channel layer and joins each group (subscription
key, `user.<id>`) once, for all its connections; the bridge's `group_send` therefore
costs one message per web process, not one per connection, and the process hands each
message to its local subscribers' outbound queues. (With a channel per connection, a
depth push to 1,000 connections was 1,000 Redis messages popped one by one: the web
process fell seconds behind at 1,000 connections — docs/benchmarks.md "Websocket".)

Group memberships are re-added every hour (channels-redis forgets a membership after its
`group_expiry`, one day).
"""
from __future__ import annotations

import asyncio
import logging
import weakref

from channels.layers import get_channel_layer

logger = logging.getLogger("apps.realtime")

REFRESH_S = 3600


class Hub:
    def __init__(self):
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.members: dict[str, set] = {}
        self._ready: asyncio.Future | None = None
        self._tasks: list = []
        self.connections: "weakref.WeakSet" = weakref.WeakSet()
        self._watchdog = None

    async def ready(self) -> None:
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._start())
        await asyncio.shield(self._ready)

    async def _start(self) -> None:
        self.channel = await self.layer.new_channel("realtime.")
        self._tasks = [asyncio.ensure_future(self._read_forever()), asyncio.ensure_future(self._refresh_forever())]

    def watch(self, consumer) -> None:
        """Drop `consumer` when a send of it stays pending beyond REALTIME_SEND_TIMEOUT."""
        self.connections.add(consumer)
        if self._watchdog is None:
            self._watchdog = asyncio.ensure_future(self._watch_forever())

    async def _watch_forever(self) -> None:
        from django.conf import settings

        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            limit = settings.REALTIME_SEND_TIMEOUT
            now = loop.time()
            for consumer in list(self.connections):
                started = consumer.send_started
                if started and now - started > limit and not consumer.closing:
                    consumer._drop(f"a frame waited more than {limit} s")

    async def join(self, group: str, consumer) -> None:
        await self.ready()
        members = self.members.get(group)
        if members is None:
            members = self.members[group] = set()
            await self.layer.group_add(group, self.channel)
        members.add(consumer)

    async def leave(self, group: str, consumer) -> None:
        members = self.members.get(group)
        if members is None:
            return
        members.discard(consumer)
        if not members:
            del self.members[group]
            try:
                await self.layer.group_discard(group, self.channel)
            except Exception as exc:  # noqa: BLE001 - expires in the layer anyway
                logger.warning("realtime hub: group_discard %s failed: %s", group, exc)

    async def _read_forever(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the layer's Redis is down: retry
                logger.warning("realtime hub: receive failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            for consumer in tuple(self.members.get(message.get("group"), ())):
                consumer.enqueue(message)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            for group in list(self.members):
                try:
                    await self.layer.group_add(group, self.channel)
                except Exception as exc:  # noqa: BLE001
                    logger.warning("realtime hub: refresh of %s failed: %s", group, exc)


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub]" = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub()
    return hub
