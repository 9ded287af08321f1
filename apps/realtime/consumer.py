"""The ViaBTC websocket protocol at /ws (../shared/spec/websocket.md, spec README §6;
docs/realtime.md).

One `ViaBtcConsumer` per connection. Requests are answered here: queries go to the matcher
(depth, orders, balances), apps.marketdata (kline, price, state, today, deals) and
apps.history (order/asset history). Subscriptions join channel-layer groups (one per
subscription key, `user.<id>` for private events) and register their key with the
bridge (apps.realtime.registry); the bridge process (apps.realtime.bridge) polls market
data and consumes the matcher's Kafka topics, and sends pushes to those groups.
"""
from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from apps.trading.client import MatcherUnavailable, get_client
from apps.wire.errors import INTERNAL_ERROR, INVALID_ARGUMENT, METHOD_NOT_FOUND, SERVICE_TIMEOUT, RpcError
from matcher.core.numbers import fmt

from . import auth, protocol as p
from .hub import get_hub
from .registry import get_registry

logger = logging.getLogger("apps.realtime")

_loads = orjson.loads


def _in_thread(fn, params):
    from django.db import close_old_connections

    close_old_connections()
    try:
        return fn(params)
    finally:
        close_old_connections()


class ViaBtcConsumer(AsyncWebsocketConsumer):
    # No channel of its own: the process's hub (apps.realtime.hub) holds one channel and
    # hands this connection the pushes of the groups it joined.
    channel_layer_alias = "realtime-connections-have-no-channel"

    # -- connection ---------------------------------------------------------------------
    async def connect(self):
        self.registry = get_registry()
        self.hub = get_hub()
        self.user_id = 0
        self.source = ""
        self.auth_gen = 0  # the last successful auth wins
        self.depth = None  # (key, market, limit, interval)
        self.depth_seq = 0
        self.kline = None  # key
        self.markets = {"price": set(), "state": set(), "today": set(), "deals": set()}
        self.order_markets: set[str] = set()
        self.assets: set[str] = set()
        self.groups_held: set[str] = set()
        self.keys_held: set[str] = set()
        self.closing = False
        # every frame to the client goes through this queue and one writer task
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.writer = None
        self.send_started = 0.0
        self.last_frame = asyncio.get_running_loop().time()  # the client's last frame (idle timeout)
        self.idle_watch = None
        await self.accept()
        self.writer = asyncio.ensure_future(self._write_forever())
        self.idle_watch = asyncio.ensure_future(self._close_when_idle())
        self.hub.watch(self)

    async def disconnect(self, code):
        self.closing = True
        if self.writer is not None and self.writer is not asyncio.current_task():
            self.writer.cancel()
        if self.idle_watch is not None and self.idle_watch is not asyncio.current_task():
            self.idle_watch.cancel()
        for key in self.keys_held:
            self.registry.remove(key)
        self.keys_held.clear()
        groups, self.groups_held = self.groups_held, set()
        for group in groups:
            await self.hub.leave(group, self)

    async def _join(self, group: str, register: bool = True) -> None:
        if group not in self.groups_held:
            self.groups_held.add(group)
            await self.hub.join(group, self)
        if register and group not in self.keys_held:
            self.keys_held.add(group)
            await self.registry.add(group)

    async def _leave(self, group: str) -> None:
        if group in self.keys_held:
            self.keys_held.discard(group)
            self.registry.remove(group)
        if group in self.groups_held:
            self.groups_held.discard(group)
            await self.hub.leave(group, self)

    def enqueue(self, item) -> None:
        """A push from the hub (a channel-layer message) or a frame of text. A client whose
        queue passes REALTIME_CLIENT_QUEUE is dropped (logged): memory stays bounded."""
        if self.closing:
            return
        if self.outbox.qsize() >= settings.REALTIME_CLIENT_QUEUE:
            self._drop(f"more than {settings.REALTIME_CLIENT_QUEUE} frames waiting")
            return
        self.outbox.put_nowait(item)

    def _drop(self, why: str) -> None:
        if self.closing:
            return
        self.closing = True
        logger.warning("realtime: slow client dropped (%s), user %s", why, self.user_id)
        asyncio.ensure_future(self._close_dropped())

    async def _close_dropped(self) -> None:
        await self.disconnect(1008)
        if self.writer is not None:
            self.writer.cancel()
        try:
            await asyncio.wait_for(self.base_send({"type": "websocket.close", "code": 1008}), 1.0)
        except Exception:  # noqa: BLE001 - the peer is not reading; the server drops the socket
            pass

    async def _close_when_idle(self) -> None:
        """websocket.md §1: closed after REALTIME_KEEP_ALIVE s without any frame from the
        client, checked every REALTIME_IDLE_CHECK_INTERVAL s."""
        loop = asyncio.get_running_loop()
        while not self.closing:
            await asyncio.sleep(settings.REALTIME_IDLE_CHECK_INTERVAL)
            if self.closing:
                return
            if loop.time() - self.last_frame > settings.REALTIME_KEEP_ALIVE:
                logger.info("realtime: idle connection closed (no frame for %s s), user %s",
                            settings.REALTIME_KEEP_ALIVE, self.user_id)
                self.closing = True
                if self.writer is not None:
                    self.writer.cancel()
                try:
                    await asyncio.wait_for(self.base_send({"type": "websocket.close", "code": 1000}), 1.0)
                except Exception:  # noqa: BLE001 - the peer is gone; the server drops the socket
                    pass
                return

    async def _write_forever(self) -> None:
        # No wait_for per frame (a task each): the hub's watchdog drops a connection whose
        # send has been pending longer than REALTIME_SEND_TIMEOUT (send_started).
        loop = asyncio.get_running_loop()
        handlers = {"rt.push": self.rt_push, "rt.depth": self.rt_depth, "rt.order": self.rt_order,
                    "rt.asset": self.rt_asset}
        send = self.base_send
        while True:
            item = await self.outbox.get()
            self.send_started = loop.time()
            try:
                if isinstance(item, str):
                    await send({"type": "websocket.send", "text": item})
                else:
                    await handlers[item["type"]](item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the connection is closing or gone
                self.closing = True
                logger.debug("realtime: writer stops: %r", exc)
                return
            finally:
                self.send_started = 0.0

    async def _send_text(self, text: str) -> None:
        self.enqueue(text)

    async def _write(self, text: str) -> None:
        """Used by the push handlers, which run in the writer task."""
        await self.base_send({"type": "websocket.send", "text": text})

    # -- requests -----------------------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None):
        self.last_frame = asyncio.get_running_loop().time()
        raw = text_data if text_data is not None else bytes_data
        if raw is None:
            return
        if len(raw) > settings.REALTIME_MAX_MESSAGE:
            logger.info("realtime: frame of %d bytes closed (limit %d)", len(raw), settings.REALTIME_MAX_MESSAGE)
            self.closing = True
            await self.close(code=1009, reason=f"message larger than {settings.REALTIME_MAX_MESSAGE} bytes")
            return
        try:
            request = _loads(raw)
        except orjson.JSONDecodeError:
            await self._send_text(p.error_reply(None, INVALID_ARGUMENT, data={"param": "request",
                                                                               "reason": "invalid JSON"}))
            return
        if not isinstance(request, dict):
            await self._send_text(p.error_reply(None, INVALID_ARGUMENT, data={"param": "request",
                                                                               "reason": "must be a JSON object"}))
            return
        rid = request.get("id")
        method, params = request.get("method"), request.get("params")
        if type(rid) is not int:
            await self._send_text(p.error_reply(rid if isinstance(rid, (str, int, float)) else None,
                                                INVALID_ARGUMENT, data={"param": "id", "reason": "must be an integer"}))
            return
        if type(method) is not str:
            await self._send_text(p.error_reply(rid, INVALID_ARGUMENT, data={"param": "method",
                                                                              "reason": "must be a string"}))
            return
        if not isinstance(params, list):
            await self._send_text(p.error_reply(rid, INVALID_ARGUMENT, data={"param": "params",
                                                                              "reason": "must be an array"}))
            return
        handler = METHODS.get(method)
        if handler is None:
            await self._send_text(p.error_reply(rid, METHOD_NOT_FOUND))
            return
        if handler[1] and not self.user_id:
            await self._send_text(p.error_reply(rid, p.REQUIRE_AUTH, "require authentication"))
            return
        try:
            text = await handler[0](self, rid, params)
        except p.BadParams as exc:
            text = exc.as_reply(rid)
        except RpcError as exc:
            text = p.error_reply(rid, exc.code, exc.message, exc.data)
        except Exception:
            logger.exception("realtime: %s failed", method)
            text = p.error_reply(rid, INTERNAL_ERROR)
        if text is not None:
            await self._send_text(text)

    # -- backends -----------------------------------------------------------------------
    async def _matcher(self, rid, method: str, params: list) -> str:
        try:
            reply = await get_client().request(method, params, timeout=settings.REALTIME_BACKEND_TIMEOUT)
        except MatcherUnavailable:
            return p.error_reply(rid, INTERNAL_ERROR)
        return orjson.dumps({"error": reply.get("error"), "result": reply.get("result"), "id": rid}).decode()

    async def _local(self, rid, fn, params: list) -> str:
        loop = asyncio.get_running_loop()
        try:
            result = await asyncio.wait_for(loop.run_in_executor(None, _in_thread, fn, params),
                                            max(settings.REALTIME_BACKEND_TIMEOUT, 5.0))
        except asyncio.TimeoutError:
            return p.error_reply(rid, SERVICE_TIMEOUT)
        return p.reply(rid, result)

    def _md(self, method: str):
        from apps.marketdata.rpc import MARKETDATA_METHODS

        return MARKETDATA_METHODS[method]

    def _history(self, method: str):
        from apps.history.rpc import HISTORY_METHODS

        return HISTORY_METHODS[method]

    # -- server.* -----------------------------------------------------------------------
    async def m_ping(self, rid, params):
        return p.reply(rid, "pong")

    async def m_time(self, rid, params):
        return p.reply(rid, int(time.time()))

    async def m_auth(self, rid, params):
        p.count(params, 2)
        token = params[0]
        if type(token) is not str or not token:
            raise p.BadParams("token", "must be a non-empty string")
        source = p.name(params[1], "source", p.SOURCE_MAX) if params[1] != "" else ""
        gen = self.auth_gen = self.auth_gen + 1
        user_id = await auth.token_user(token)
        return await self._authenticated(rid, gen, user_id, source)

    async def m_sign(self, rid, params):
        p.count(params, 3)
        access_id, authorisation, tonce = params
        if type(access_id) is not str or not access_id:
            raise p.BadParams("access_id", "must be a non-empty string")
        if type(authorisation) is not str or not authorisation:
            raise p.BadParams("authorisation", "must be a non-empty string")
        if type(tonce) is not int or tonce == 0:
            raise p.BadParams("tonce", "must be a non-zero integer")
        gen = self.auth_gen = self.auth_gen + 1
        user_id = await auth.sign_user(access_id, authorisation, tonce)
        return await self._authenticated(rid, gen, user_id, "api")

    async def _authenticated(self, rid, gen: int, user_id: int, source: str) -> str:
        if gen != self.auth_gen:  # a later auth request was made meanwhile: it decides
            return p.reply(rid, p.SUCCESS)
        if self.user_id and self.user_id != user_id:
            # another user: the previous user's private subscriptions go
            for market in list(self.order_markets):
                await self._leave(p.order_key(self.user_id, market))
            for asset in list(self.assets):
                await self._leave(p.asset_key(self.user_id, asset))
            self.order_markets.clear()
            self.assets.clear()
            await self._leave(p.user_group(self.user_id))
        self.user_id, self.source = user_id, source
        await self._join(p.user_group(user_id), register=False)
        return p.reply(rid, p.SUCCESS)

    # -- market data: queries -----------------------------------------------------------
    async def m_kline_query(self, rid, params):
        return await self._local(rid, self._md("market.kline"), params)

    async def m_price_query(self, rid, params):
        return await self._local(rid, self._md("market.last"), params)

    async def m_state_query(self, rid, params):
        return await self._local(rid, self._md("market.status"), params)

    async def m_today_query(self, rid, params):
        return await self._local(rid, self._md("market.status_today"), params)

    async def m_deals_query(self, rid, params):
        return await self._local(rid, self._md("market.deals"), params)

    async def m_depth_query(self, rid, params):
        p.count(params, 3)
        if type(params[1]) is int and params[1] > 101:
            raise p.BadParams("limit", "must be <= 101")
        return await self._matcher(rid, "order.depth", params)

    # -- market data: subscriptions -----------------------------------------------------
    async def m_kline_subscribe(self, rid, params):
        p.count(params, 2)
        market = p.name(params[0], "market")
        interval = p.integer(params[1], "interval", 1)
        if self.kline:
            await self._leave(self.kline)
            self.kline = None
        if p.GROUP_SAFE.match(market):
            self.kline = p.kline_key(market, interval)
            await self._join(self.kline)
        return p.reply(rid, p.SUCCESS)

    async def m_kline_unsubscribe(self, rid, params):
        if self.kline:
            await self._leave(self.kline)
            self.kline = None
        return p.reply(rid, p.SUCCESS)

    async def m_depth_subscribe(self, rid, params):
        p.count(params, 3)
        market = p.name(params[0], "market")
        limit = p.integer(params[1], "limit")
        interval = p.name(params[2], "interval")
        if limit not in settings.REALTIME_DEPTH_LIMITS:
            raise p.BadParams("limit", f"must be one of {settings.REALTIME_DEPTH_LIMITS}")
        if not p.decimal_equal_member(interval, settings.REALTIME_DEPTH_MERGE):
            raise p.BadParams("interval", f"must equal one of {settings.REALTIME_DEPTH_MERGE}")
        await self._depth_drop()
        if p.GROUP_SAFE.match(market) and p.interval_safe(interval):
            key = p.depth_key(market, limit, interval)
            self.depth = (key, market, limit, interval)
            self.depth_seq = 0
            await self._join(key)
            await self._send_text(p.reply(rid, p.SUCCESS))
            await self._depth_snapshot(key)
            return None
        return p.reply(rid, p.SUCCESS)

    async def _depth_drop(self):
        if self.depth:
            await self._leave(self.depth[0])
            self.depth = None
            self.depth_seq = 0

    async def _depth_snapshot(self, key: str, send=None) -> None:
        """Send the bridge's cached full book of `key` (clean) and continue from its seq."""
        raw = await self.registry.cached(key)
        if raw is None:
            return
        cached = _loads(raw)
        if self.depth is None or self.depth[0] != key or cached["seq"] <= self.depth_seq:
            return
        self.depth_seq = cached["seq"]
        await (send or self._send_text)(p.push("depth.update", [True, cached["book"], self.depth[1], cached["seq"]]))

    async def m_depth_unsubscribe(self, rid, params):
        await self._depth_drop()
        return p.reply(rid, p.SUCCESS)

    async def _markets_subscribe(self, kind: str, rid, params):
        markets = p.names(params, "market")
        wanted = {m for m in markets if p.GROUP_SAFE.match(m)}
        for market in self.markets[kind] - wanted:
            await self._leave(p.market_key(kind, market))
        new = [m for m in markets if m in wanted and m not in self.markets[kind]]
        for market in new:
            await self._join(p.market_key(kind, market))
        self.markets[kind] = wanted
        await self._send_text(p.reply(rid, p.SUCCESS))
        # on-subscribe pushes from the bridge's cache (websocket.md §3)
        keys = [p.market_key(kind, m) for m in markets if m in wanted]
        for key, raw in zip(keys, await self.registry.cached_many(keys)):
            if raw is not None:
                params = _loads(raw)
                if kind == "price":
                    if _is_zero(params[1]):
                        continue
                    # websocket.md §5.1: the on-subscribe price is `fmt`-formatted (the
                    # polled pushes carry market.last's unstripped string)
                    params = [params[0], fmt(Decimal(params[1]))]
                await self._send_text(p.push(f"{kind}.update", params))
        return None

    async def _markets_unsubscribe(self, kind: str, rid):
        for market in self.markets[kind]:
            await self._leave(p.market_key(kind, market))
        self.markets[kind] = set()
        return p.reply(rid, p.SUCCESS)

    async def m_price_subscribe(self, rid, params):
        return await self._markets_subscribe("price", rid, params)

    async def m_state_subscribe(self, rid, params):
        return await self._markets_subscribe("state", rid, params)

    async def m_today_subscribe(self, rid, params):
        return await self._markets_subscribe("today", rid, params)

    async def m_deals_subscribe(self, rid, params):
        return await self._markets_subscribe("deals", rid, params)

    async def m_price_unsubscribe(self, rid, params):
        return await self._markets_unsubscribe("price", rid)

    async def m_state_unsubscribe(self, rid, params):
        return await self._markets_unsubscribe("state", rid)

    async def m_today_unsubscribe(self, rid, params):
        return await self._markets_unsubscribe("today", rid)

    async def m_deals_unsubscribe(self, rid, params):
        return await self._markets_unsubscribe("deals", rid)

    # -- private: orders and assets -----------------------------------------------------
    async def m_order_query(self, rid, params):
        # websocket.md §3: the backend connection (code 2) is checked before auth (code 6)
        try:
            await get_client().ensure_connected()
        except MatcherUnavailable:
            return p.error_reply(rid, INTERNAL_ERROR)
        if not self.user_id:
            return p.error_reply(rid, p.REQUIRE_AUTH, "require authentication")
        p.count(params, 3)
        market = p.name(params[0], "market")
        offset = p.integer(params[1], "offset", 0)
        limit = p.integer(params[2], "limit", 1)
        if limit > 101:
            raise p.BadParams("limit", "must be <= 101")
        return await self._matcher(rid, "order.pending", [self.user_id, market, offset, limit])

    async def m_order_history(self, rid, params):
        p.count(params, 6, at_least=5)
        if len(params) == 5:
            params = [*params, 0]
        return await self._local(rid, self._history("order.finished"), [self.user_id, *params])

    async def m_order_subscribe(self, rid, params):
        markets = set(p.names(params, "market"))
        wanted = {m for m in markets if p.GROUP_SAFE.match(m)}
        for market in self.order_markets - wanted:
            await self._leave(p.order_key(self.user_id, market))
        for market in wanted - self.order_markets:
            await self._join(p.order_key(self.user_id, market))
        self.order_markets = wanted
        return p.reply(rid, p.SUCCESS)

    async def m_order_unsubscribe(self, rid, params):
        for market in self.order_markets:
            await self._leave(p.order_key(self.user_id, market))
        self.order_markets = set()
        return p.reply(rid, p.SUCCESS)

    async def m_asset_query(self, rid, params):
        assets = [p.name(a, "asset") for a in params]
        return await self._matcher(rid, "balance.query", [self.user_id, *assets])

    async def m_asset_history(self, rid, params):
        p.count(params, 6)
        return await self._local(rid, self._history("balance.history"), [self.user_id, *params])

    async def m_asset_subscribe(self, rid, params):
        assets = set(p.names(params, "asset"))
        wanted = {a for a in assets if p.GROUP_SAFE.match(a)}
        for asset in self.assets - wanted:
            await self._leave(p.asset_key(self.user_id, asset))
        for asset in wanted - self.assets:
            await self._join(p.asset_key(self.user_id, asset))
        self.assets = wanted
        return p.reply(rid, p.SUCCESS)

    async def m_asset_unsubscribe(self, rid, params):
        for asset in self.assets:
            await self._leave(p.asset_key(self.user_id, asset))
        self.assets = set()
        return p.reply(rid, p.SUCCESS)

    # -- pushes from the bridge (channel-layer messages) --------------------------------
    async def rt_push(self, event):
        """Market data: the push text, built once by the bridge."""
        await self._write(event["text"])

    async def rt_depth(self, event):
        depth = self.depth
        if depth is None or depth[0] != event["key"]:
            return
        seq = event["seq"]
        if seq <= self.depth_seq:
            return  # already in the snapshot this connection got
        if event["clean"] or seq == self.depth_seq + 1:
            self.depth_seq = seq
            await self._write(event["text"])
            return
        # a gap (the layer dropped a message, or this client fell behind): resync
        logger.info("realtime: depth gap on %s (%d → %d): full book resent", depth[0], self.depth_seq, seq)
        await self._depth_snapshot(depth[0], self._write)

    async def rt_order(self, event):
        if event["user"] == self.user_id and event["market"] in self.order_markets:
            await self._write(event["text"])

    async def rt_asset(self, event):
        if event["user"] == self.user_id and event["asset"] in self.assets:
            await self._write(event["text"])


def _is_zero(value) -> bool:
    try:
        from decimal import Decimal

        return Decimal(value) == 0
    except Exception:  # noqa: BLE001
        return True


METHODS = {  # name → (handler, needs auth)
    "server.ping": (ViaBtcConsumer.m_ping, False),
    "server.time": (ViaBtcConsumer.m_time, False),
    "server.auth": (ViaBtcConsumer.m_auth, False),
    "server.sign": (ViaBtcConsumer.m_sign, False),
    "kline.query": (ViaBtcConsumer.m_kline_query, False),
    "kline.subscribe": (ViaBtcConsumer.m_kline_subscribe, False),
    "kline.unsubscribe": (ViaBtcConsumer.m_kline_unsubscribe, False),
    "depth.query": (ViaBtcConsumer.m_depth_query, False),
    "depth.subscribe": (ViaBtcConsumer.m_depth_subscribe, False),
    "depth.unsubscribe": (ViaBtcConsumer.m_depth_unsubscribe, False),
    "price.query": (ViaBtcConsumer.m_price_query, False),
    "price.subscribe": (ViaBtcConsumer.m_price_subscribe, False),
    "price.unsubscribe": (ViaBtcConsumer.m_price_unsubscribe, False),
    "state.query": (ViaBtcConsumer.m_state_query, False),
    "state.subscribe": (ViaBtcConsumer.m_state_subscribe, False),
    "state.unsubscribe": (ViaBtcConsumer.m_state_unsubscribe, False),
    "today.query": (ViaBtcConsumer.m_today_query, False),
    "today.subscribe": (ViaBtcConsumer.m_today_subscribe, False),
    "today.unsubscribe": (ViaBtcConsumer.m_today_unsubscribe, False),
    "deals.query": (ViaBtcConsumer.m_deals_query, False),
    "deals.subscribe": (ViaBtcConsumer.m_deals_subscribe, False),
    "deals.unsubscribe": (ViaBtcConsumer.m_deals_unsubscribe, False),
    "order.query": (ViaBtcConsumer.m_order_query, False),  # checks auth itself, after the backend
    "order.history": (ViaBtcConsumer.m_order_history, True),
    "order.subscribe": (ViaBtcConsumer.m_order_subscribe, True),
    "order.unsubscribe": (ViaBtcConsumer.m_order_unsubscribe, True),
    "asset.query": (ViaBtcConsumer.m_asset_query, True),
    "asset.history": (ViaBtcConsumer.m_asset_history, True),
    "asset.subscribe": (ViaBtcConsumer.m_asset_subscribe, True),
    "asset.unsubscribe": (ViaBtcConsumer.m_asset_unsubscribe, True),
}
