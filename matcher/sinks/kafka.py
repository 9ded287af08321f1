"""Kafka publisher: events → topics ``deals``, ``orders``, ``balances``.

Payloads exactly as spec matching.md §7 (``DealEvent/OrderEvent/BalanceEvent.kafka_payload``);
key = market (deals, orders) or user id (balances); header ``seq`` = the event's
deterministic seq as ASCII digits, so consumers dedupe. Every ``balance.update`` row goes
to ``balances``, whatever its business; fill and fee rows (``BalanceEvent.from_trade``) do not.

Runs in the Kafka follower process (``kafka_child.py``), which replays the committed
operation log and hands each operation's events to ``publish``. One idempotent producer
(``acks=all``, ``enable.idempotence``, no local message timeout). Every produced message
stays in an in-flight list until its delivery report arrives; ``position`` = the highest
seq with every event up to it delivered (or not meant for Kafka), ``oper_position`` the
operation whose events end there. Broker down: librdkafka keeps the messages and retries
in order; the in-flight list grows, the follower falls behind the log, and the matcher
answers code 3 once its backlog (committed operations not delivered) passes its
limit. A delivery error or a fatal producer error (e.g. a broker that lost its state)
re-creates the producer and produces every message after ``position`` again, in order —
duplicates are possible, losses are not. That state is noticed at once, not only by the
"no delivery for ``stall_timeout`` s" watchdog: the error callback (fatal errors, and the
idempotence errors ``UNKNOWN_PRODUCER_ID``, ``OUT_OF_ORDER_SEQUENCE_NUMBER``,
``INVALID_PRODUCER_EPOCH`` even when librdkafka does not flag them fatal), delivery reports
with an error, ``KafkaException`` from ``produce``/``poll``, and librdkafka's statistics
(every ``STATS_MS`` ms): its idempotent-producer state ``FatalError``, or stuck draining
for an epoch bump / PID reset (``DrainBump``, ``DrainReset``) for three reports with a broker
up, or a broker up with messages waiting and no delivery. ``position`` is persisted in
``sink_progress.kafka`` every ``progress_interval`` s; after a crash every event after it
is published again.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from functools import partial

import orjson
from confluent_kafka import KafkaError, KafkaException

from matcher.core import BalanceEvent, DealEvent, OrderEvent, order_dict

from matcher.log.db import Db, set_progress_sql

logger = logging.getLogger("matcher.kafka")

TOPICS = ("deals", "orders", "balances")

# errors after which the idempotent producer cannot go on with its sequence: a new one at once
IDEMPOTENCE_ERRORS = frozenset((KafkaError._FATAL, KafkaError.UNKNOWN_PRODUCER_ID,
                                KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, KafkaError.INVALID_PRODUCER_EPOCH))
STATS_MS = 1000  # librdkafka statistics interval: the idempotent producer's state
DRAIN_STATES = frozenset(("DrainBump", "DrainReset"))
DRAIN_REPORTS = 3  # statistics reports in a drain state, with a broker up, before it counts as stuck
# statistics reports with a broker up, messages waiting and no delivery before the producer
# counts as stuck: after an epoch bump (a broker that lost the producer's state; seen with
# Tansu: the producer stays "Assigned" and sends nothing) / otherwise
STUCK_REPORTS_AFTER_BUMP = 2
STUCK_REPORTS = 5
dumps = orjson.dumps


def message_of(ev):
    """(topic, key, value bytes) or None for events that are not published."""
    cls = type(ev)
    if cls is OrderEvent:
        # OrderEvent.kafka_payload without caching the order dict on the event (used once)
        s = ev[3]
        return "orders", s[1], dumps({"event": ev[2], "order": order_dict(s), "stock": ev[4], "money": ev[5]})
    if cls is DealEvent:
        return "deals", ev[2], dumps(ev.kafka_payload())
    if cls is BalanceEvent:
        if ev[8] is not None:  # from_trade: fills and fees travel in `deals`; `balances` = balance.update
            return None
        return "balances", str(ev[2]), dumps(ev.kafka_payload())
    return None


class KafkaPublisher:
    """The producer side, driven by the Kafka follower's loop (``kafka_child.py``): one
    thread calls ``publish``/``reached`` with the replayed events and ``pump`` between
    log reads."""

    NAME = "kafka"

    def __init__(self, bootstrap: str, *, position: int = 0, oper: int = 0, db: Db | None = None,
                 progress_interval: float = 0.5, config: dict | None = None, topic_prefix: str = "",
                 stall_timeout: float = 10.0):
        self.bootstrap = bootstrap
        self._db = db
        self._config = config or {}
        self._topics = {t: topic_prefix + t for t in TOPICS}
        self._progress_interval = progress_interval
        self.inflight: deque = deque()  # [seq, delivered, topic, key, value], in seq order
        self._opers: deque = deque()  # (last event seq, operation id) handed on, not yet delivered
        self.last_seen = position  # last event seq handed on
        self.position = position
        self.oper_position = oper  # every operation up to it has its events delivered
        self.persisted = position
        self._last_persist = time.monotonic()
        self.delivered = 0
        self.resends = 0
        self.healthy = True
        self.last_error = None
        self.producer = None
        self._resend = False
        self._gen = 0  # producer generation: reports of replaced producers are ignored
        self._stall_timeout = self._stall = stall_timeout
        self._last_progress = time.monotonic()
        self._draining = 0  # consecutive statistics reports in a drain state
        self._stuck = 0  # consecutive statistics reports with a broker up and no delivery
        self._delivered_seen_before = 0
        self.recreate_reasons: list[str] = []  # why each re-creation happened (tests, status)

    def start(self) -> None:
        self.producer = self._producer()

    def _producer(self):
        from confluent_kafka import Producer

        conf = {
            "bootstrap.servers": self.bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "message.timeout.ms": 0,  # never expire locally: delivered when the broker is back
            "queue.buffering.max.messages": 2_000_000,
            "queue.buffering.max.kbytes": 2_000_000,
            "reconnect.backoff.max.ms": 1000,
            "error_cb": self._on_error,
            "statistics.interval.ms": STATS_MS,
            "stats_cb": self._on_stats,
        }
        conf.update(self._config)
        return Producer(conf)

    def _recreate(self, reason: str) -> None:
        """Have the producer replaced now (in this pump round)."""
        if not self._resend:
            self._resend = True
            self.recreate_reasons.append(reason)
            del self.recreate_reasons[:-20]

    def _on_error(self, err) -> None:
        self.last_error = str(err)
        if err.fatal() or err.code() in IDEMPOTENCE_ERRORS:
            logger.error("kafka producer error: %s — re-creating the producer at once", err)
            self._recreate(f"error {err.name()}")
        else:
            logger.warning("kafka: %s", err)

    def _on_stats(self, stats: str) -> None:
        """librdkafka's statistics (JSON): its idempotent producer's state. A drain (for an
        epoch bump or a PID reset) waits for the requests in flight; while no broker is up
        that is the outage itself, so only a drain that lasts ``DRAIN_REPORTS`` reports with
        a broker up counts as stuck."""
        try:
            st = orjson.loads(stats)
        except ValueError:
            return
        state = (st.get("eos") or {}).get("idemp_state")
        broker_up = any(b.get("state") == "UP" for b in (st.get("brokers") or {}).values())
        # messages waiting, a broker up, and not one delivery since the previous report
        delivered = self.delivered
        if broker_up and st.get("msg_cnt") and delivered == self._delivered_seen_before:
            self._stuck += 1
        else:
            self._stuck = 0
        self._delivered_seen_before = delivered
        bumped = (st.get("eos") or {}).get("epoch_cnt", 0) > 0
        if state == "FatalError":
            logger.error("kafka: the idempotent producer is in its fatal state — re-creating it at once")
            self._recreate("state FatalError")
        elif state in DRAIN_STATES and broker_up:
            self._draining += 1
            if self._draining >= DRAIN_REPORTS:
                logger.error("kafka: the idempotent producer is stuck in %s with a broker up — re-creating it "
                             "at once", state)
                self._recreate(f"state {state}")
        else:
            self._draining = 0
        if self._stuck >= (STUCK_REPORTS_AFTER_BUMP if bumped else STUCK_REPORTS):
            logger.error("kafka: a broker is up but nothing was delivered for %s statistics reports (%s messages "
                         "waiting%s) — re-creating the producer", self._stuck, st.get("msg_cnt"),
                         ", after an epoch bump" if bumped else "")
            self._recreate("stuck after an epoch bump" if bumped else "stuck with a broker up")

    def _poll(self, timeout: float) -> None:
        try:
            self.producer.poll(timeout)
        except KafkaException as e:  # a fatal producer error surfaces here
            logger.error("kafka producer failed: %s — re-creating it at once", e)
            self._recreate("poll raised")

    def _produce(self, entry) -> None:
        while True:
            if self._resend:
                return  # the producer is being replaced: produced again with it
            try:
                self.producer.produce(entry[2], entry[4], entry[3], headers=[("seq", b"%d" % entry[0])],
                                      on_delivery=partial(self._delivered, self._gen, entry))
                return
            except BufferError:
                self._poll(0.05)
            except KafkaException as e:
                logger.error("kafka produce failed: %s — re-creating the producer at once", e)
                self._recreate("produce raised")
                return

    def publish(self, oper: int, events: list) -> None:
        """Produce the messages of operation ``oper``'s events (those after the position)."""
        pos = self.position
        topics = self._topics
        inflight = self.inflight
        produce = self.producer.produce
        delivered = self._delivered
        gen = self._gen
        for ev in events:
            seq = ev[0]
            if seq <= pos:
                continue
            m = message_of(ev)
            if m is None:
                continue
            entry = [seq, False, topics[m[0]], m[1], m[2]]
            inflight.append(entry)
            if self._resend:
                continue  # the producer is being replaced: produced again with it
            try:  # _produce inline (the common case)
                produce(entry[2], entry[4], entry[3], headers=[("seq", b"%d" % seq)],
                        on_delivery=partial(delivered, gen, entry))
            except BufferError:
                self._produce(entry)  # waits for room
            except KafkaException as e:
                logger.error("kafka produce failed: %s — re-creating the producer at once", e)
                self._recreate("produce raised")
        if events and events[-1][0] > self.last_seen:
            self.last_seen = events[-1][0]
        self._opers.append((self.last_seen, oper))

    def reached(self, oper: int) -> None:
        """Every operation up to ``oper`` was handed on (also those without messages)."""
        self._opers.append((self.last_seen, oper))

    def pump(self, timeout: float = 0.0) -> None:
        """Serve delivery reports (waiting up to ``timeout`` s for them), replace a stuck
        producer, advance the position and persist it every ``progress_interval`` s."""
        inflight = self.inflight
        if inflight and time.monotonic() - self._last_progress > self._stall:
            # no delivery report for a while: a restarted broker may have lost the
            # idempotent producer's state and librdkafka can wait forever — start over
            logger.warning("kafka: no delivery for %.0fs with %s messages in flight; re-creating the "
                           "producer", self._stall, len(inflight))
            self._recreate("watchdog")
            self._stall = min(self._stall * 2, 120.0)  # back off while the broker stays away
        if self._resend:
            self._replace()
        self._poll(timeout if inflight else 0)
        if not inflight:
            self._last_progress = time.monotonic()
            self._stall = self._stall_timeout
        while inflight and inflight[0][1]:
            inflight.popleft()
        new_pos = inflight[0][0] - 1 if inflight else self.last_seen
        if new_pos > self.position:
            self.position = new_pos
        opers = self._opers
        while opers and opers[0][0] <= self.position:
            self.oper_position = opers.popleft()[1]
        now = time.monotonic()
        if self.position != self.persisted and now - self._last_persist >= self._progress_interval:
            self._last_persist = now
            self._persist()

    def _replace(self) -> None:
        """A new producer, and every message after the position produced again with it."""
        self._resend = False
        self._draining = 0
        self._stuck = 0
        self._gen += 1
        self._last_progress = time.monotonic()
        self.resends += 1
        try:
            self.producer.purge()
        except Exception:  # noqa: BLE001
            pass
        self.producer = self._producer()
        self._resend = False
        # everything after the position again, including messages confirmed out of
        # order beyond it: a broker that lost its state (the reason we get here)
        # may have lost those too; consumers dedupe by seq
        for entry in self.inflight:
            entry[1] = False
            self._produce(entry)

    def close(self, timeout: float = 1.0) -> None:
        """Wait up to ``timeout`` s for the deliveries in flight, then persist the position."""
        deadline = time.monotonic() + timeout
        while self.inflight and time.monotonic() < deadline:
            self.pump(0.05)
        if self.position != self.persisted:
            self._persist()
        if self.inflight:
            logger.warning("kafka publisher stopped with %s undelivered messages (from event %s); "
                           "they are published again after the next start", len(self.inflight), self.inflight[0][0])

    def _delivered(self, gen, entry, err, msg) -> None:
        """Delivery report of ``entry`` (``partial`` per message: no Python frame of its own)."""
        if gen != self._gen:
            return
        if err is None:
            entry[1] = True
            self._last_progress = time.monotonic()
            self.delivered += 1
            if not self.healthy:
                self.healthy = True
        else:
            self.healthy = False
            self.last_error = str(err)
            logger.error("kafka delivery of event %s failed: %s — re-creating the producer at once", entry[0], err)
            self._recreate(f"delivery {err.name()}")

    def _persist(self) -> None:
        pos = self.position
        db = self._db
        if db is None:
            return
        try:
            sql = set_progress_sql(db.vendor)
            db.run(lambda cur: cur.execute(sql, (self.NAME, pos)))
            self.persisted = pos
        except Exception as e:  # noqa: BLE001 - the database may be down: next time
            logger.warning("kafka: could not record delivered position %s: %s", pos, e)
