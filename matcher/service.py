"""MatcherService: the engine plus its durable edges (docs/matcher-core.md "The edges",
docs/durability.md).

- Reads run at once on the current in-memory state, but a read's reply is held until
  every command applied before it has committed (``_after_commit``): no reply shows what
  a crash could undo. The same holds for refusals and no-op successes, which are answers
  computed from that state. Released by the commit itself (no timer); with nothing
  pending a read answers at once.
- A mutating command is applied to the engine at once (stamped with a non-decreasing
  ``time_us``), its normalised params go to the operation-log writer, and the reply is
  held until the transaction holding that log entry committed (group commit). The
  outputs are follower processes that derive them from the committed log — so no output
  ever shows a command that a crash could undo: history rows
  (``matcher/sinks/history_follower.py``) and Kafka messages
  (``matcher/sinks/kafka_follower.py``). This process needs no event objects.
- Back-pressure: new mutating commands get code 3 ``service unavailable`` while the log
  is unhealthy (database unreachable) or any backlog is over its limit: log, history lag
  (in seconds: the oldest acknowledged operation whose history rows are not written yet;
  and in operations), Kafka (committed operations not delivered yet). Reads keep working.

Admin methods (not engine methods): ``snapshot.make`` → a snapshot at the last committed
operation, ``matcher.status`` → health and backlogs.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from apps.wire.errors import INTERNAL_ERROR, METHOD_NOT_FOUND, SERVICE_UNAVAILABLE, error_object
from matcher.core import Engine

from matcher.log.db import Db, read_progress
from matcher.log.snapshot_follower import SnapshotFollower
from matcher.log.oplog import OperationLogWriter
from matcher.log.recovery import recover

logger = logging.getLogger("matcher.service")

MUTATING = Engine.MUTATING
ADMIN = frozenset(("snapshot.make", "matcher.status"))


def _error(code, message=None, data=None) -> dict:
    return {"error": error_object(code, message, data), "result": None}


def _answer(done, reply: dict) -> None:
    """Hand a pending command its reply; a waiter that went away (cancelled future, closed
    connection) does not stop the others."""
    try:
        done(reply)
    except asyncio.InvalidStateError:
        pass  # call()'s future was cancelled
    except Exception:  # noqa: BLE001
        logger.exception("delivering a reply failed")


class MatcherService:
    MUTATING = MUTATING  # the commands ``submit`` takes (matcher/server.py's fast path)
    def __init__(self, *, engine: Engine | None = None, alias: str = "default",
                 kafka_bootstrap: str | None = None, history: bool | None = None,
                 snapshot_interval: float | None = None, snapshot_keep: int | None = None,
                 log_backlog_limit: int | None = None, history_lag_limit: int | None = None,
                 history_lag_limit_s: float | None = None,
                 kafka_backlog_limit: int | None = None, log_max_batch: int = 5000,
                 config_sync=None, config_sync_interval: float = 0.0, kafka_config: dict | None = None,
                 kafka_topic_prefix: str | None = None):
        """``engine`` given → no recovery (tests); else the engine is recovered from the
        database in ``start()``. ``kafka_bootstrap`` None/"" → no Kafka follower.
        Arguments left None come from the settings (MATCHER_HISTORY, SNAPSHOT_*,
        MATCHER_*_LIMIT*, MATCHER_KAFKA_TOPIC_PREFIX); ``from_settings`` also wires Kafka
        and the configuration sync interval from them."""
        from django.conf import settings

        def setting(value, name):
            return getattr(settings, name) if value is None else value

        self.engine = engine
        self.alias = alias
        self.kafka_bootstrap = kafka_bootstrap
        self.history_enabled = setting(history, "MATCHER_HISTORY")
        self.snapshot_interval = setting(snapshot_interval, "SNAPSHOT_INTERVAL")
        self.snapshot_keep = setting(snapshot_keep, "SNAPSHOT_KEEP")
        self.log_backlog_limit = setting(log_backlog_limit, "MATCHER_LOG_BACKLOG_LIMIT")
        self.history_lag_limit = setting(history_lag_limit, "MATCHER_HISTORY_LAG_LIMIT")  # operations
        self.history_lag_limit_s = setting(history_lag_limit_s, "MATCHER_HISTORY_LAG_LIMIT_S")  # s (0: no time bound)
        # (last oper id of a commit, monotonic time it was acknowledged) of commits whose
        # history is not known to be written yet: the head gives the oldest such ack
        self._acks: deque = deque(maxlen=100_000)
        self.kafka_backlog_limit = setting(kafka_backlog_limit, "MATCHER_KAFKA_BACKLOG_LIMIT")
        self.log_max_batch = log_max_batch
        self.config_sync = config_sync  # async callable(service), e.g. matcher.config_sync.sync_config
        self.config_sync_interval = config_sync_interval
        self.kafka_config = kafka_config
        self.kafka_topic_prefix = setting(kafka_topic_prefix, "MATCHER_KAFKA_TOPIC_PREFIX")
        self.recovery_info: dict | None = None
        self._pending: deque = deque()  # (oper_id, done(reply), result) in oper_id order
        self._held: deque = deque()  # (oper_id, done(reply), reply): replies waiting for that commit, in order
        self._last_t = 0
        self._ready = False
        self._refusing: str | None = None  # the reason of the current refusals (code 3)
        self.refusal_episodes: dict[str, int] = {}  # reason -> times refusals started for it
        self._refusal_logged = 0.0
        self._stopping = False
        self._tasks: list[asyncio.Task] = []
        self._log: OperationLogWriter | None = None
        self.history = None
        self.kafka = None
        self.follower = SnapshotFollower(alias)
        self.last_snapshot: dict | None = None
        self._snapshot_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, **overrides) -> "MatcherService":
        from django.conf import settings

        kw = dict(
            kafka_bootstrap=settings.KAFKA_BOOTSTRAP if settings.MATCHER_KAFKA else "",
            config_sync_interval=settings.MATCHER_CONFIG_SYNC_INTERVAL,
        )
        kw.update(overrides)
        return cls(**kw)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        db = Db(self.alias)
        try:
            positions = await asyncio.to_thread(read_progress, db)
            # the outputs' processes, recovering in parallel with this one
            if self.history_enabled:
                from matcher.sinks.history_follower import HistoryFollower

                self.history = HistoryFollower(alias=self.alias, position=positions.get("history", 0),
                                               committed=self._committed_id)
                self.history.start()
            if self.kafka_bootstrap:
                from matcher.sinks.kafka_follower import KafkaFollower

                self.kafka = KafkaFollower(self.kafka_bootstrap, topic_prefix=self.kafka_topic_prefix,
                                           config=self.kafka_config, alias=self.alias,
                                           position=positions.get("kafka", 0), committed=self._committed_id)
                self.kafka.start()
            if self.engine is None:
                self.engine, self.recovery_info = await asyncio.to_thread(recover, db)
                self._last_t = await asyncio.to_thread(self._last_logged_time, db)
        except BaseException:
            for sink in (self.history, self.kafka):
                if sink is not None:
                    await asyncio.to_thread(sink.stop, 0)
            raise
        finally:
            await asyncio.to_thread(db.close)

        # every output (history, Kafka) is derived from the committed log by a follower
        # process: the live engine builds no events (same state, ids and seqs)
        self.engine.emit_events = False
        self._log = OperationLogWriter(self._committed, loop=loop, alias=self.alias, max_batch=self.log_max_batch)
        self._log.committed_id = self.engine.oper_seq
        self._log.start()
        self._ready = True
        if self.config_sync is not None:
            await self.config_sync(self)
            if self.config_sync_interval:
                self._tasks.append(asyncio.create_task(self._config_sync_loop()))
        if self.snapshot_interval:
            # follows the committed log from now on, so a snapshot is a dump, not a replay
            await asyncio.to_thread(self.follower.start)
            self._tasks.append(asyncio.create_task(self._snapshot_loop()))
        logger.info("matcher service started at operation %s (event %s)", self.engine.oper_seq,
                    self.engine.event_seq)

    def _committed_id(self) -> int:
        log = self._log
        return log.committed_id if log is not None else 0

    @staticmethod
    def _last_logged_time(db: Db) -> int:
        rows = db.query("SELECT time_us FROM operation_log ORDER BY id DESC LIMIT 1")
        return int(rows[0][0]) if rows else 0

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting mutations, commit what is pending (while the database answers),
        flush the outputs, stop the threads."""
        self._stopping = True
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self._tasks.clear()
        if self._log is not None:
            await asyncio.to_thread(self._log.stop, timeout)
            await asyncio.sleep(0)  # run the last _committed callbacks
        while self._pending:
            _, done, _ = self._pending.popleft()
            _answer(done, _error(SERVICE_UNAVAILABLE, None, {"reason": "stopped before commit"}))
        while self._held:
            _, done, _ = self._held.popleft()
            _answer(done, _error(SERVICE_UNAVAILABLE, None, {"reason": "stopped before commit"}))
        # both followers catch up with the committed log at the same time
        await asyncio.gather(*(asyncio.to_thread(f.stop, timeout) for f in (self.history, self.kafka) if f is not None))
        await asyncio.to_thread(self.follower.close)
        self._ready = False

    # ------------------------------------------------------------------ commands

    def _stamp(self) -> int:
        t = time.time_ns() // 1000
        if t < self._last_t:
            t = self._last_t
        self._last_t = t
        return t

    def refusal(self) -> str | None:
        """Why a mutating command would be refused now (None: accepted)."""
        if not self._ready or self._stopping:
            return "matcher not ready"
        log = self._log
        if not log.healthy:
            return "operation log unavailable"
        if len(self._pending) >= self.log_backlog_limit:
            return "operation log backlog"
        h = self.history
        if h is not None:
            lag = h.lag()
            if lag is not None and (lag >= self.history_lag_limit
                                    or (self.history_lag_limit_s
                                        and self.history_lag_age() >= self.history_lag_limit_s)):
                return "history writer lagging"
        k = self.kafka
        if k is not None:
            lag = k.lag()
            if lag is not None and lag >= self.kafka_backlog_limit:
                return "kafka backlog"
        return None

    def _refusal_changed(self, reason: str | None) -> None:
        """Back-pressure started, changed reason or ended: counted, and logged at most once
        a second (under saturation it can flip many times a second)."""
        before, self._refusing = self._refusing, reason
        if reason is not None:
            self.refusal_episodes[reason] = self.refusal_episodes.get(reason, 0) + 1
        now = time.monotonic()
        if now - self._refusal_logged < 1.0:
            return
        self._refusal_logged = now
        if reason is not None:
            logger.warning("refusing mutating commands with code 3: %s (episodes so far: %s)", reason,
                           self.refusal_episodes)
        else:
            logger.warning("accepting mutating commands again (was: %s)", before)

    def history_lag_age(self) -> float:
        """Seconds since the oldest acknowledged operation whose history rows are not
        written yet was acknowledged (0.0: none, or the follower's position is not known).
        Operations acknowledged while the follower's position was not known yet (its
        start, in parallel with ours) count from its first report: the unknown lag was
        not refused, so the follower gets the full bound to catch up from there."""
        h = self.history
        p = h.oper_position if h is not None else None
        if p is None:
            return 0.0
        acks = self._acks
        while acks and acks[0][0] <= p:
            acks.popleft()
        if not acks:
            return 0.0
        t = acks[0][1]
        since = h.known_since
        if since is not None and since > t:
            t = since
        return time.monotonic() - t

    def submit(self, method: str, params, done) -> dict | None:
        """A mutating command without a task or future of its own (the RPC server's fast
        path; ``call()`` is the same through a future). Returns the reply at once when
        there is nothing to wait for (refused, invalid, a no-op); else None, and
        ``done(reply)`` is called on the event loop once its operation committed (or the
        service stopped before)."""
        reason = self.refusal()
        if reason != self._refusing:
            self._refusal_changed(reason)
        if reason is not None:
            return _error(SERVICE_UNAVAILABLE, None, {"reason": reason})
        t = self._stamp()
        try:
            out = self.engine.execute(method, params, t)
        except Exception:  # noqa: BLE001 - a core bug must not kill the service
            logger.critical("engine raised on %s %r", method, params, exc_info=True)
            return _error(INTERNAL_ERROR)
        if out.error is not None:  # computed from the state: held like a read
            return self._hold(_error(*out.error), done)
        if out.log is None:  # a successful command that changed nothing
            return self._hold({"error": None, "result": out.result}, done)
        self._pending.append((out.oper_id, done, out.result))
        self._log.submit(out.oper_id, t, method, out.log)
        return None

    async def call(self, method: str, params) -> dict:
        if method in MUTATING:
            fut = self._loop.create_future()
            reply = self.submit(method, params, fut.set_result)
            if reply is not None:
                return reply
            return await asyncio.shield(fut)
        if method in ADMIN:
            return await self._admin(method, params)
        try:
            out = self.engine.execute(method, params, self._stamp())
        except Exception:  # noqa: BLE001
            logger.critical("engine raised on %s %r", method, params, exc_info=True)
            return _error(INTERNAL_ERROR)
        if out.error is not None:
            return await self._after_commit(_error(*out.error))
        return await self._after_commit({"error": None, "result": out.result})

    def _hold(self, reply: dict, done) -> dict | None:
        """``reply`` at once when no command is pending; else None, and ``done(reply)`` once
        every command applied so far has committed: an answer computed from the state never
        shows what a crash could undo."""
        pending = self._pending
        if not pending:
            return reply
        self._held.append((pending[-1][0], done, reply))
        return None

    async def _after_commit(self, reply: dict) -> dict:
        fut = self._loop.create_future()
        now = self._hold(reply, fut.set_result)
        return now if now is not None else await asyncio.shield(fut)

    def _committed(self, last: int) -> None:
        """Event loop: every pending command with oper_id <= last is durable."""
        if self.history is not None:
            self._acks.append((last, time.monotonic()))
        pending = self._pending
        while pending and pending[0][0] <= last:
            _, done, result = pending.popleft()
            _answer(done, {"error": None, "result": result})
        held = self._held
        while held and held[0][0] <= last:
            _, done, reply = held.popleft()
            _answer(done, reply)

    # ------------------------------------------------------------------ admin

    async def _admin(self, method: str, params) -> dict:
        if method == "matcher.status":
            return {"error": None, "result": self.status()}
        if method == "snapshot.make":
            try:
                meta = await self.make_snapshot()
            except Exception as e:  # noqa: BLE001
                logger.error("snapshot failed: %s", e)
                return _error(INTERNAL_ERROR, None, {"reason": str(e)})
            return {"error": None, "result": meta}
        return _error(METHOD_NOT_FOUND)

    def status(self) -> dict:
        return {
            "oper_seq": self.engine.oper_seq if self.engine else None,
            "event_seq": self.engine.event_seq if self.engine else None,
            "committed_oper_id": self._log.committed_id if self._log else None,
            "log_healthy": self._log.healthy if self._log else None,
            "log_backlog": len(self._pending),
            "history_position": self.history.position if self.history else None,
            "history_oper_position": self.history.oper_position if self.history else None,
            "history_backlog": self.history.backlog() if self.history else None,  # operations
            "history_lag_s": self.history.lag_s if self.history else None,
            "history_lag_age_s": round(self.history_lag_age(), 3) if self.history else None,
            "history_healthy": self.history.healthy if self.history else None,
            "history_restarts": self.history.restarts if self.history else None,
            "kafka_position": self.kafka.position if self.kafka else None,
            "kafka_backlog": self.kafka.backlog() if self.kafka else None,  # operations
            "kafka_healthy": self.kafka.healthy if self.kafka else None,
            "kafka_restarts": self.kafka.restarts if self.kafka else None,
            "refusal": self.refusal(),
            "refusal_episodes": self.refusal_episodes,
            "last_snapshot": self.last_snapshot,
        }

    def sink_position(self) -> int | None:
        pos = [s.position for s in (self.history, self.kafka) if s is not None]
        return min(pos) if pos else None

    async def make_snapshot(self) -> dict:
        """A snapshot of the state after the last committed operation, made by the
        follower process (the live engine does not pause)."""
        async with self._snapshot_lock:
            upto = self._log.committed_id
            t0 = time.monotonic()
            meta = await asyncio.to_thread(self.follower.make, upto, self.snapshot_keep, self.sink_position())
            meta["wall_s"] = round(time.monotonic() - t0, 3)
            self.last_snapshot = meta
            logger.info("snapshot %s at operation %s (asked: %s; %s replayed, %.2fs)", meta["id"], meta["end_oper_id"],
                        upto, meta["replayed"], meta["wall_s"])
            return meta

    async def _snapshot_loop(self) -> None:
        due = time.monotonic() + self.snapshot_interval
        while True:
            # wakes at least every 5 s to restart a follower that died, so it is current again
            # well before the next snapshot is due
            await asyncio.sleep(max(0.0, min(5.0, due - time.monotonic())))
            if time.monotonic() < due:
                await asyncio.to_thread(self.follower.ensure)
                continue
            due = time.monotonic() + self.snapshot_interval
            if self._log.committed_id == (self.last_snapshot or {}).get("end_oper_id"):
                continue
            try:
                await self.make_snapshot()
            except Exception:  # noqa: BLE001
                logger.error("periodic snapshot failed", exc_info=True)

    async def _config_sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config_sync_interval)
            try:
                await self.config_sync(self)
            except Exception:  # noqa: BLE001
                logger.warning("configuration sync failed", exc_info=True)
