"""The realtime bridge (`manage.py realtime_bridge`, one process): everything pushed to
websocket clients comes from here, through the channel layer (docs/realtime.md).

- Market data (websocket.md §5.1): every REALTIME_POLL_INTERVAL s, for each subscription
  key alive in the registry (apps.realtime.registry), one read — `order.depth` from the
  matcher, kline/price/state/today/deals from apps.marketdata's store — and a push to the
  key's group only on change. Depth: the first book of a key (also after a restart of
  this process) is a full `clean` push, then diffs (`"0"` = level removed), a full book
  again when a change comes ≥ REALTIME_DEPTH_CLEAN_INTERVAL s after the last one; every
  depth push carries a per-key sequence number as params[3] (extension), and the full
  book + seq is cached in Redis before the push so a connection can resync from it.
- Private events (websocket.md §5.2): topics `orders`, `balances` and `deals` (with
  MATCHER_KAFKA_TOPIC_PREFIX), every partition by assign(), offsets committed to the group
  REALTIME_BRIDGE_GROUP (first start: from the beginning, order events older than STALE_S
  are not pushed; a restart resumes where it stopped). Messages are deduplicated by their `seq`
  header per partition. `orders` → `order.update [event, order]` to the order's user's
  group when some connection of that user subscribed that market; `orders`, `balances`
  and `deals` (both parties, stock and money: asset pushes after trades) → one
  `balance.query [user, asset]` per (user, asset) per batch that some connection of that
  user subscribed, pushed as `asset.update [result]`.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from decimal import Decimal, InvalidOperation

import orjson
from django.conf import settings

from apps.trading.client import MatcherClient, MatcherUnavailable
from apps.wire.errors import RpcError

from . import protocol as p
from .registry import cache_name, keys_name, redis_client

logger = logging.getLogger("apps.realtime.bridge")

_dumps = orjson.dumps
STALE_S = 300  # order events older than this (Kafka timestamp) are consumed without a push


def _dec(value) -> Decimal:
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return Decimal(0)


class KafkaThread(threading.Thread):
    """Owns the confluent-kafka consumer; hands message batches to the event loop and
    commits what the loop reports as processed."""

    def __init__(self, bridge: "Bridge", loop: asyncio.AbstractEventLoop):
        super().__init__(name="realtime-kafka", daemon=True)
        self.bridge, self.loop = bridge, loop
        self.stopping = threading.Event()
        prefix = settings.MATCHER_KAFKA_TOPIC_PREFIX
        self.topics = {prefix + t: t for t in ("orders", "balances", "deals")}
        self.assigned: set[tuple[str, int]] = set()
        self.metadata_seen = False
        self.processed: dict[tuple[str, int], int] = {}  # next offset, set by the loop
        self.committed: dict[tuple[str, int], int] = {}
        self.lock = threading.Lock()

    def _conf(self) -> dict:
        return {
            "bootstrap.servers": settings.KAFKA_BOOTSTRAP,
            "group.id": settings.REALTIME_BRIDGE_GROUP,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "latest",
            "fetch.wait.max.ms": 10,
            "topic.metadata.refresh.interval.ms": 5000,
        }

    def _assign_new(self, consumer) -> None:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        try:
            meta = consumer.list_topics(timeout=5)
        except Exception as exc:  # noqa: BLE001 - broker down: retried
            logger.warning("realtime bridge: broker metadata: %s", exc)
            return
        new = []
        for topic in self.topics:
            tmeta = meta.topics.get(topic)
            if tmeta is None or tmeta.error is not None:
                continue
            for pid in tmeta.partitions:
                if (topic, pid) not in self.assigned:
                    new.append(TopicPartition(topic, pid))
        if not new:
            return
        try:
            committed = consumer.committed(new, timeout=10)
        except Exception as exc:  # noqa: BLE001
            logger.warning("realtime bridge: committed offsets: %s", exc)
            return
        for tp in committed:
            if tp.offset < 0:
                # never committed (first start of this group): from the beginning, as every
                # consumer of the platform (README §6) — nothing produced before the first
                # assignment resolves is skipped; old order events are not pushed (STALE_S)
                tp.offset = OFFSET_BEGINNING
        consumer.incremental_assign(committed)
        for tp in committed:
            self.assigned.add((tp.topic, tp.partition))
        logger.info("realtime bridge: reading %s", {f"{tp.topic}[{tp.partition}]": tp.offset for tp in committed})

    def _commit(self, consumer) -> None:
        from confluent_kafka import TopicPartition

        with self.lock:
            todo = {k: v for k, v in self.processed.items() if self.committed.get(k) != v}
        if not todo:
            return
        try:
            consumer.commit(offsets=[TopicPartition(t, pid, off) for (t, pid), off in todo.items()],
                            asynchronous=False)
            self.committed.update(todo)
        except Exception as exc:  # noqa: BLE001 - committed next time
            logger.warning("realtime bridge: commit failed: %s", exc)

    def run(self) -> None:
        from confluent_kafka import Consumer

        consumer = Consumer(self._conf())
        next_check = 0.0
        next_commit = time.monotonic() + 1
        try:
            while not self.stopping.is_set():
                now = time.monotonic()
                if now >= next_check:
                    self._assign_new(consumer)
                    next_check = now + 2.0
                if now >= next_commit:
                    self._commit(consumer)
                    next_commit = now + 1.0
                if not self.assigned:
                    self.stopping.wait(0.2)
                    continue
                msgs = consumer.consume(num_messages=2000, timeout=0.1)
                batch = []
                for m in msgs:
                    if m.error() is not None:
                        logger.warning("realtime bridge: kafka: %s", m.error())
                        continue
                    seq = 0
                    for k, v in m.headers() or ():
                        if k == "seq":
                            seq = int(v)
                    ts_type, ts = m.timestamp()
                    batch.append((self.topics[m.topic()], m.topic(), m.partition(), m.offset(), seq, m.value(),
                                  ts / 1000 if ts > 0 else None))
                    if ts > 0:
                        self.bridge.lag_ms.append(time.time() * 1000 - ts)
                if batch:
                    fut = asyncio.run_coroutine_threadsafe(self.bridge.events(batch), self.loop)
                    try:
                        fut.result()
                    except Exception:  # noqa: BLE001 - logged; the batch is not committed
                        logger.exception("realtime bridge: processing a batch failed")
                        continue
                    with self.lock:
                        for _, topic, pid, offset, _, _, _ in batch:
                            self.processed[(topic, pid)] = max(self.processed.get((topic, pid), 0), offset + 1)
        finally:
            self._commit(consumer)
            consumer.close()


class Bridge:
    def __init__(self):
        from channels.layers import get_channel_layer

        self.layer = get_channel_layer()
        self.r = redis_client()
        self.client = MatcherClient(timeout=settings.REALTIME_BACKEND_TIMEOUT * 5)
        self.state: dict[str, dict] = {}
        self.last_seq: dict[tuple[str, int], int] = {}
        self.stopping = asyncio.Event()
        self.pushes = 0
        self.events_seen = 0
        self._down_logged = False
        self.lag_ms: list[float] = []  # Kafka message timestamp → handed to the loop, for the stats line
        self._stats_at = time.monotonic()

    # -- sending ------------------------------------------------------------------------
    async def _group_send(self, group: str, message: dict) -> None:
        message["group"] = group  # the web process's hub hands it to that group's connections
        try:
            await self.layer.group_send(group, message)
            self.pushes += 1
        except Exception as exc:  # noqa: BLE001 - the channel layer's Redis is down: logged, next change
            logger.warning("realtime bridge: group_send %s failed: %s", group, exc)

    # -- private events -----------------------------------------------------------------
    async def events(self, batch: list) -> None:
        orders, refresh = [], []
        stale_before = time.time() - STALE_S
        for kind, topic, pid, _offset, seq, value, ts in batch:
            if seq:
                if seq <= self.last_seq.get((topic, pid), 0):
                    continue  # republished after a matcher crash: already pushed
                self.last_seq[(topic, pid)] = seq
            try:
                payload = orjson.loads(value)
            except orjson.JSONDecodeError:
                logger.warning("realtime bridge: undecodable %s message", topic)
                continue
            self.events_seen += 1
            if kind == "orders":
                order = payload["order"]
                user = order["user"]
                if ts is None or ts >= stale_before:  # an old event (first start, long outage) is not pushed
                    orders.append((user, order["market"], payload["event"], order))
                refresh += [(user, payload["stock"]), (user, payload["money"])]
            elif kind == "balances":
                refresh.append((payload[1], payload[2]))
            elif kind == "deals":
                stock, money = payload[12], payload[13]
                for user in (payload[4], payload[5]):
                    refresh += [(user, stock), (user, money)]
        if not orders and not refresh:
            return
        okeys = [p.order_key(u, m) for u, m, _, _ in orders]
        pairs = list(dict.fromkeys(refresh))
        akeys = [p.asset_key(u, a) for u, a in pairs]
        live = await self._live(okeys + akeys)
        for (user, market, event, order), key in zip(orders, okeys):
            if key in live:
                await self._group_send(p.user_group(user), {
                    "type": "rt.order", "user": user, "market": market,
                    "text": p.push("order.update", [event, order])})
        wanted = [(u, a) for (u, a), key in zip(pairs, akeys) if key in live]
        if wanted:
            replies = await asyncio.gather(*(self._matcher("balance.query", [u, a]) for u, a in wanted))
            for (user, asset), result in zip(wanted, replies):
                if result is not None:
                    await self._group_send(p.user_group(user), {
                        "type": "rt.asset", "user": user, "asset": asset,
                        "text": p.push("asset.update", [result])})

    async def _live(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        uniq = list(dict.fromkeys(keys))
        try:
            scores = await self.r.zmscore(keys_name(), uniq)
        except Exception as exc:  # noqa: BLE001
            logger.warning("realtime bridge: registry read failed: %s", exc)
            return set()
        now = time.time()
        return {k for k, s in zip(uniq, scores) if s is not None and s >= now}

    async def _matcher(self, method: str, params: list):
        try:
            reply = await self.client.request(method, params)
        except MatcherUnavailable:
            if not self._down_logged:
                logger.warning("realtime bridge: matcher not reachable")
                self._down_logged = True
            return None
        except RpcError as exc:
            logger.warning("realtime bridge: %s %s: %s", method, params, exc)
            return None
        self._down_logged = False
        if reply.get("error") is not None:
            return None
        return reply.get("result")

    # -- market data polls --------------------------------------------------------------
    async def poll_forever(self) -> None:
        interval = settings.REALTIME_POLL_INTERVAL
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                await self.poll_once()
            except Exception:  # noqa: BLE001 - next tick
                logger.exception("realtime bridge: poll failed")
            if time.monotonic() - self._stats_at >= 10:
                self._stats()
            delay = interval - (time.monotonic() - started)
            try:
                await asyncio.wait_for(self.stopping.wait(), max(0.01, delay))
            except asyncio.TimeoutError:
                pass

    def _stats(self) -> None:
        lags, self.lag_ms = sorted(self.lag_ms), []
        self._stats_at = time.monotonic()
        if lags:
            logger.info("realtime bridge: %d events in 10 s, Kafka → bridge lag p50 %.0f ms p99 %.0f ms, %d pushes "
                        "so far", len(lags), lags[len(lags) // 2], lags[int(len(lags) * 0.99)], self.pushes)

    async def poll_once(self) -> None:
        now = time.time()
        try:
            keys = [k.decode() for k in await self.r.zrangebyscore(keys_name(), now, "+inf")]
        except Exception as exc:  # noqa: BLE001
            logger.warning("realtime bridge: registry read failed: %s", exc)
            return
        live = set()
        depth, market = [], []
        for key in keys:
            kind = key.split(".", 1)[0]
            if kind == "depth":
                depth.append(key)
                live.add(key)
            elif kind in ("kline", "price", "state", "today", "deals"):
                market.append(key)
                live.add(key)
        for key in list(self.state):
            if key not in live:
                del self.state[key]  # no subscriber any more: forgotten (cache stays for seq)
        await asyncio.gather(self._poll_depth(depth), self._poll_market(market))

    async def _poll_depth(self, keys: list[str]) -> None:
        if not keys:
            return
        calls = []
        for key in keys:
            _, rest = key.split(".", 1)
            market, limit, interval = rest.split(".", 2)
            calls.append((key, market, int(limit), interval))
        results = await asyncio.gather(*(self._matcher("order.depth", [m, lim, i]) for _, m, lim, i in calls))
        for (key, market, limit, _interval), book in zip(calls, results):
            if book is None:
                continue
            book = {"asks": book.get("asks", []), "bids": book.get("bids", [])}
            st = self.state.get(key)
            now = time.monotonic()
            if st is None:
                seq = 0
                try:
                    raw = await self.r.hget(cache_name(), key)
                    if raw:
                        seq = orjson.loads(raw)["seq"]
                except Exception:  # noqa: BLE001
                    pass
                st = self.state[key] = {"seq": seq, "book": None, "full_at": 0.0}
            if st["book"] is None:
                clean, payload = True, book
            else:
                diff = p.depth_diff(st["book"], book, limit)
                if not diff:
                    continue
                if now - st["full_at"] >= settings.REALTIME_DEPTH_CLEAN_INTERVAL:
                    clean, payload = True, book
                else:
                    clean, payload = False, diff
            st["seq"] += 1
            st["book"] = book
            if clean:
                st["full_at"] = now
            seq = st["seq"]
            try:
                await self.r.hset(cache_name(), key, _dumps({"seq": seq, "book": book}))
            except Exception as exc:  # noqa: BLE001
                logger.warning("realtime bridge: cache write failed: %s", exc)
            await self._group_send(key, {"type": "rt.depth", "key": key, "seq": seq, "clean": clean,
                                         "text": p.push("depth.update", [clean, payload, market, seq])})

    async def _poll_market(self, keys: list[str]) -> None:
        if not keys:
            return
        todo = []
        for key in keys:
            st = self.state.get(key)
            if st is None:
                st = self.state[key] = {"init": False}
                if key.startswith("deals."):
                    try:
                        raw = await self.r.hget(cache_name(), key)
                        recent = orjson.loads(raw)[1] if raw else []
                    except Exception:  # noqa: BLE001
                        recent = []
                    st["recent"] = recent
                    st["last_id"] = recent[0]["id"] if recent else 0
            todo.append((key, st))
        results = await asyncio.to_thread(_read_market_data, [(k, dict(st)) for k, st in todo])
        for (key, st), result in zip(todo, results):
            if result is None:
                continue
            kind, rest = key.split(".", 1)
            if kind == "kline":
                market = rest.rsplit(".", 1)[0]
                last_row = _dumps(result[-1]) if result else None
                if not result or last_row == st.get("last"):
                    continue
                st["last"] = last_row
                await self._group_send(key, {"type": "rt.push", "text": p.push("kline.update", result)})
                continue
            market = rest
            if kind == "price":
                if _dec(result) == _dec(st.get("last", "0")):
                    continue
                st["last"] = result
                params = [market, result]
            elif kind in ("state", "today"):
                text = _dumps(result, option=orjson.OPT_SORT_KEYS)
                if text == st.get("last"):
                    continue
                st["last"] = text
                params = [market, result]
            else:  # deals
                if not result:
                    continue
                st["last_id"] = result[0]["id"]
                st["recent"] = (result + st.get("recent", []))[:100]
                params = [market, result]
                await self._cache(key, [market, st["recent"]])
                await self._group_send(key, {"type": "rt.push", "text": p.push("deals.update", params)})
                continue
            await self._cache(key, params)
            await self._group_send(key, {"type": "rt.push", "text": p.push(f"{kind}.update", params)})

    async def _cache(self, key: str, params) -> None:
        try:
            await self.r.hset(cache_name(), key, _dumps(params))
        except Exception as exc:  # noqa: BLE001
            logger.warning("realtime bridge: cache write failed: %s", exc)

    # -- process ------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.stopping.set)
            except (NotImplementedError, RuntimeError):
                pass
        kafka = KafkaThread(self, loop)
        kafka.start()
        logger.info("realtime bridge: %s topics %s, polling every %s s", settings.KAFKA_BOOTSTRAP,
                    sorted(kafka.topics), settings.REALTIME_POLL_INTERVAL)
        try:
            await self.poll_forever()
        finally:
            kafka.stopping.set()
            await asyncio.to_thread(kafka.join, 15)
            await self.client.close()
            logger.info("realtime bridge stopped: %d events, %d pushes", self.events_seen, self.pushes)


def _read_market_data(todo: list) -> list:
    """One thread hop per tick: every kline/price/state/today/deals read of the store."""
    from apps.marketdata import selectors

    from django.db import close_old_connections

    close_old_connections()
    store = selectors.get_store()
    now = int(time.time())
    known: dict[str, bool] = {}
    out = []
    for key, st in todo:
        kind, rest = key.split(".", 1)
        try:
            if kind == "kline":
                market, interval = rest.rsplit(".", 1)
                interval = int(interval)
                if not _known(selectors, store, known, market) or not selectors.interval_allowed(interval):
                    out.append(None)
                    continue
                span = int(settings.REALTIME_POLL_INTERVAL + 1)
                out.append(selectors.kline(market, now - span, now, interval, now=now, store=store))
                continue
            market = rest
            if not _known(selectors, store, known, market):
                out.append(None)
            elif kind == "price":
                out.append(selectors.last_price(market, store=store))
            elif kind == "state":
                out.append(selectors.status(market, 86400, now=now, store=store))
            elif kind == "today":
                out.append(selectors.status_today(market, now=now, store=store))
            else:
                out.append(selectors.recent_deals(market, 100, st.get("last_id", 0), store=store))
        except Exception as exc:  # noqa: BLE001 - a store error: this key waits for the next tick
            logger.warning("realtime bridge: %s read failed: %s", key, exc)
            out.append(None)
    close_old_connections()
    return out


def _known(selectors, store, known: dict, market: str) -> bool:
    if market not in known:
        known[market] = selectors.market_exists(market, store=store)
    return known[market]
