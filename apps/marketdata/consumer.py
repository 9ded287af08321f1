"""The `deals` consumer: Kafka → the Redis store (`manage.py marketdata_consumer`).

One process, every partition of the topic by `assign()` (no consumer group: nothing to
rebalance, no join delay). The position of each partition is stored in Redis in the same
MULTI/EXEC as the state it covers (store.Store.apply), and the consumer seeks to it on
start — so a crash between "applied" and "committed" cannot happen; with no stored
position a partition starts at its beginning. Deals are also deduplicated by deal id (the
matcher publishes again after a crash; messages can arrive twice or out of order).

A broker that lost its log (the embedded broker keeps topics in memory) or an offset out of
range is detected — librdkafka reports an out-of-range fetch (`auto.offset.reset=error`),
and every `check_interval` s and after a broker outage the message before each stored
position must still carry the stored `seq` header — and repaired: the deal history (the
source of truth) is applied again through the same dedupe (only what is missing counts),
then that partition is read again from its new beginning.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from decimal import Decimal

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from .store import Deal, Store, parse_payload

logger = logging.getLogger("apps.marketdata.consumer")


def _seq(msg) -> int:
    for k, v in msg.headers() or ():
        if k == "seq":
            try:
                return int(v)
            except (TypeError, ValueError):
                return 0
    return 0


class DealConsumer:
    def __init__(self, store: Store, bootstrap: str, topic: str, *, batch_size: int = 20_000,
                 poll_timeout: float = 0.05, check_interval: float = 10.0, repair=None, config: dict | None = None):
        self.store = store
        self.bootstrap = bootstrap
        self.topic = topic
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.check_interval = check_interval
        self.repair_from_history = repair  # callable(store) → deals applied; None = no repair
        self.config = config or {}
        self.stopping = threading.Event()
        self.applied = 0
        self.consumed = 0
        self.repairs = 0
        self._partitions: list[int] = []
        self._broker_down = False
        self._consumer = None
        self._probe = None
        self._new_partitions: list[int] | None = None
        self._pending_repair: list[int] | None = None

    # -- kafka ---------------------------------------------------------------------------
    def _conf(self, **extra) -> dict:
        conf = {
            "bootstrap.servers": self.bootstrap,
            "group.id": "marketdata",  # required by librdkafka; offsets are never committed to it
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",  # an out-of-range position is reported, not skipped
            "enable.partition.eof": False,
            "fetch.wait.max.ms": 10,  # the embedded broker answers a fetch only after this wait
            "reconnect.backoff.max.ms": 1000,
            "error_cb": self._on_error,
        }
        conf.update(self.config)
        conf.update(extra)
        return conf

    def _on_error(self, err) -> None:
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            self._broker_down = True
        logger.warning("kafka: %s", err)

    def _topic_partitions(self, consumer) -> list[int]:
        md = consumer.list_topics(self.topic, timeout=10)
        t = md.topics.get(self.topic)
        if t is None or t.error is not None or not t.partitions:
            return []
        return sorted(t.partitions)

    def _field(self, partition: int) -> str:
        return f"{self.topic}:{partition}"

    def _assign(self) -> None:
        stored = self.store.offsets()
        tps = []
        for p in self._partitions:
            pos = stored.get(self._field(p))
            tps.append(TopicPartition(self.topic, p, pos[0] if pos else OFFSET_BEGINNING))
        self._consumer.assign(tps)
        logger.info("market data: reading %s from %s", self.topic,
                    {tp.partition: tp.offset for tp in tps})

    def _wait_for_topic(self) -> None:
        while not self.stopping.is_set():
            try:
                parts = self._topic_partitions(self._consumer)
            except Exception as e:  # noqa: BLE001 - broker not reachable yet
                logger.info("market data: waiting for the broker: %s", e)
                parts = []
            if parts:
                self._partitions = parts
                return
            self.stopping.wait(0.5)

    # -- log identity ------------------------------------------------------------------
    def _probe_consumer(self):
        if self._probe is None:
            self._probe = Consumer(self._conf(**{"group.id": "marketdata-probe"}))
        return self._probe

    def broken_partitions(self) -> list[int] | None:
        """Partitions whose stored position no longer matches the broker's log: the message
        just before the position is gone or carries another seq. None if the broker does
        not answer (ask again later). A fetch past the end of a log is not always an error
        (the embedded broker answers it with nothing), so a missing message counts as gone
        once the broker has answered the metadata request."""
        stored = self.store.offsets()
        probe = self._probe_consumer()
        try:
            md = probe.list_topics(self.topic, timeout=5)
        except Exception:  # noqa: BLE001 - broker away
            return None
        t = md.topics.get(self.topic)
        if t is None or t.error is not None:
            return None
        broken = []
        for p in self._partitions:
            pos = stored.get(self._field(p))
            if not pos or pos[0] == 0:
                continue
            nxt, seq = pos
            if p not in t.partitions:
                broken.append(p)
                continue
            probe.assign([TopicPartition(self.topic, p, nxt - 1)])
            deadline = time.monotonic() + 5
            verdict = False
            while time.monotonic() < deadline:
                msg = probe.poll(0.1)
                if msg is None:
                    continue
                if msg.error():
                    if msg.error().code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                        break
                    continue
                verdict = msg.offset() == nxt - 1 and (seq == 0 or _seq(msg) == seq)
                break
            if not verdict:
                broken.append(p)
        probe.unassign()
        return broken

    def repair(self, partitions: list[int]) -> None:
        """The broker lost (part of) its log: apply the deal history again (deduplicated),
        then read those partitions again from their new beginning."""
        self.repairs += 1
        logger.warning("market data: the broker's log of %s %s is not what was consumed (emptied or "
                       "replaced); repairing from the deal history", self.topic, partitions)
        n = self.repair_from_history(self.store) if self.repair_from_history else 0
        self.store.forget_offsets([self._field(p) for p in partitions])
        logger.warning("market data: repair applied %s missing deals from the history", n)
        self._assign()

    # -- main loop -----------------------------------------------------------------------
    def run(self) -> None:
        self._consumer = Consumer(self._conf())
        try:
            self._wait_for_topic()
            if self.stopping.is_set():
                return
            broken = self.broken_partitions()
            if broken:
                self.repair(broken)
            else:
                self._assign()
            checker = threading.Thread(target=self._checker, name="marketdata-log-check", daemon=True)
            checker.start()
            while not self.stopping.is_set():
                msgs = self._consumer.consume(self.batch_size, self.poll_timeout)
                if msgs:
                    self._handle(msgs)
                if self._new_partitions:
                    self._partitions, self._new_partitions = self._new_partitions, None
                    self._assign()
                if self._pending_repair:
                    broken, self._pending_repair = self._pending_repair, None
                    self.repair(broken)
            checker.join(15)
        finally:
            self._consumer.close()
            if self._probe is not None:
                self._probe.close()

    def _checker(self) -> None:
        """Beside the main loop (so consuming never waits for it): new partitions every 10 s,
        the broker log check every check_interval s and after a broker outage."""
        last_check = last_meta = time.monotonic()
        while not self.stopping.wait(0.2):
            now = time.monotonic()
            try:
                if now - last_meta > 10:
                    last_meta = now
                    parts = self._topic_partitions(self._probe_consumer())
                    if parts and parts != self._partitions:
                        self._new_partitions = parts
                if self._broker_down or now - last_check > self.check_interval:
                    last_check = now
                    broken = self.broken_partitions()
                    if broken is not None:
                        self._broker_down = False
                        if broken:
                            self._pending_repair = broken
            except Exception:  # noqa: BLE001 - checked again next time
                logger.warning("market data: broker log check failed", exc_info=True)

    def _handle(self, msgs) -> None:
        deals: list[Deal] = []
        last_of: dict[int, object] = {}  # partition → its last message in this batch
        out_of_range = set()
        consumed = 0
        append = deals.append
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                    out_of_range.add(msg.partition() if msg.partition() is not None and msg.partition() >= 0
                                     else -1)
                elif err.code() != KafkaError._PARTITION_EOF:
                    logger.warning("kafka: %s", err)
                continue
            consumed += 1
            d = parse_payload(msg.value())
            if d is None:
                logger.warning("market data: invalid deal message at %s:%s skipped: %r",
                               msg.partition(), msg.offset(), msg.value()[:200])
            else:
                append(d)
            last_of[msg.partition()] = msg
        offsets = {self._field(p): (m.offset() + 1, _seq(m)) for p, m in last_of.items()}
        self.applied += self.store.apply(deals, offsets)
        self.consumed += consumed  # consumed = applied or skipped, with its offset stored
        if out_of_range:
            parts = self._partitions if -1 in out_of_range else sorted(out_of_range)
            self.repair(parts)


def history_repair(store: Store, chunk: int = 10_000) -> int:
    """Apply every deal of the history that the store may miss: per market, from the start of
    its dedupe window (everything when the window is not full). Returns deals applied."""
    from apps.history.models import DealHistory
    from apps.markets.models import Market

    precs = {name: (sp, mp) for name, sp, mp in Market.objects.values_list("name", "stock_prec", "money_prec")}
    markets = set(store.markets()) | set(precs)
    total = 0
    for market in sorted(markets):
        ids = store.r.zrange(store.key(market, "ids"), 0, 0)
        floor = int(ids[0]) if ids and store.r.zcard(store.key(market, "ids")) >= store.dedupe_window else 0
        after = floor - 1
        while True:
            rows = list(  # the taker's row of each deal (id = deal_id * 2 + 0/1)
                DealHistory.objects.filter(market=market, role=2, id__gt=after * 2 + 1).order_by("id")
                .values_list("deal_id", "time", "price", "amount", "side")[:chunk])
            if not rows:
                break
            sp, mp = precs.get(market, (None, None))
            deals = [Deal(i, t, market, _raw(p, mp), _raw(a, sp), s) for i, t, p, a, s in rows]
            total += store.apply(deals)
            after = rows[-1][0]
    return total


def _raw(value, prec) -> str:
    """A DECIMAL(50,20) column as the matcher publishes it: the market's precision."""
    if prec is not None:
        value = value.quantize(Decimal(1).scaleb(-prec))
    return str(value).replace("E", "e")


def install_signal_handlers(consumer: DealConsumer) -> None:
    def stop(_sig, _frame):
        consumer.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
