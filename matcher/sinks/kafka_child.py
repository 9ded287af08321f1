"""The Kafka follower's process (``python -m matcher.sinks.kafka_child``): the Kafka
messages of the COMMITTED operation log, produced outside the matcher process (no
producer, librdkafka or event objects there). Started, supervised and stopped by
``matcher.sinks.kafka_follower.KafkaFollower``.

The child keeps its own engine following the committed log (``tail.LogTail``: start from
``sink_progress.kafka``, replay, only the events after the position; the engine builds no
fill/fee balance rows, ``Engine.emit_trade_rows``, which Kafka does not publish) and hands each
operation's events to the publisher of ``kafka.py`` (in-flight list, producer
re-creation, position persisted to ``sink_progress.kafka``). It reads the log every
``POLL`` s while the log grows by ``BUSY_RATE`` operations a second or more, every
``POLL_IDLE`` s below that, and at once while it is a page behind; it serves the delivery
reports once after each wait (not at every report: fewer wake-ups). Under load a read
every 50 ms, not more often, is what keeps Kafka cheap: one burst = one produce request
per partition (the broker's cost is per request) — messages reach the broker ≤ ``POLL`` s
+ ``linger.ms`` after their commit (docs/benchmarks.md "Kafka follower CPU"); at a lower
rate a read costs little and messages go out within ``POLL_IDLE`` s;
with ``MAX_INFLIGHT`` messages undelivered (a broker down) it stops reading the log, so
the matcher's back-pressure, not this process's memory, bounds the backlog.

Configuration: the environment variable ``MATCHER_KAFKA_FOLLOWER`` (JSON: ``bootstrap``,
``prefix``, ``config``), set by the matcher. Pipe protocol: one JSON line on stdout when
its positions change (at most every ``REPORT_S`` s while messages are in flight):
``{"oper": every operation up to it delivered, "event": position (event seq), "delivered":
messages delivered, "reasons": why the producer was re-created}``; it exits on EOF of its
stdin (the matcher went away, also after SIGKILL).

Profiling (a benchmark aid, not a setting): with ``MATCHER_KAFKA_PROFILE=<file>`` in the
matcher's environment the child runs under cProfile and writes its stats to that file
when it exits, e.g. ``MATCHER_KAFKA_PROFILE=/tmp/kafka.prof bench/stack.py``, then
``python -m pstats /tmp/kafka.prof``.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time

from matcher.child_process import ParentWatch, child_setup, reply
from matcher.log.db import Db
from matcher.log.recovery import RecoveryError

from .tail import LogTail

logger = logging.getLogger("matcher.kafka")

ENV = "MATCHER_KAFKA_FOLLOWER"
POLL = 0.05  # s between reads of the operation log under load: one burst of messages per read
POLL_IDLE = 0.01  # s between reads below BUSY_RATE (latency matters more than bursts there)
BUSY_RATE = 1_000  # operations per second from which reads are POLL s apart
PAGE = 2_000  # operations read per step at most
MAX_INFLIGHT = 200_000  # undelivered messages at which the child stops reading the log
REPORT_S = 0.01  # s between reports at most while messages are in flight


def main() -> int:
    alias = child_setup()
    from .kafka import KafkaPublisher  # librdkafka only in this process

    conf = json.loads(os.environ.get(ENV) or "{}")
    parent_gone = ParentWatch()
    db = Db(alias)
    tail = LogTail(db, KafkaPublisher.NAME, page=PAGE, stop=parent_gone, log=logger)  # also while the database is down
    pub = None
    reported = (None, None, None)
    last_report = 0.0

    def report(now: float) -> None:
        nonlocal reported, last_report
        state = (pub.oper_position, pub.position, pub.resends)
        if state != reported and (not pub.inflight or now - last_report >= REPORT_S):
            reported, last_report = state, now
            reply({"oper": pub.oper_position, "event": pub.position, "delivered": pub.delivered,
                   "reasons": pub.recreate_reasons})

    try:
        tail.recover()
        tail.engine.emit_trade_rows = False  # fill and fee balance rows are not published: not built
        # from here on single statements only (log reads, the position): no COMMIT round trip
        db.close()
        tail.db = db = Db(alias, autocommit=True)
        pub = KafkaPublisher(conf["bootstrap"], position=tail.position, oper=tail.engine.oper_seq, db=db,
                             config=conf.get("config"), topic_prefix=conf.get("prefix", ""))
        pub.start()
        next_read = last_read = 0.0
        while not parent_gone():
            now = time.monotonic()
            reading = len(pub.inflight) < MAX_INFLIGHT
            if reading and now >= next_read:
                log = tail.read()
                if log:
                    tail.replay(log, pub.publish)
                    pub.reached(log[-1][0])
                busy = len(log) >= BUSY_RATE * (now - last_read)
                last_read = now
                next_read = now if len(log) >= tail.page else now + (POLL if busy else POLL_IDLE)
            wait = max(0.0, next_read - time.monotonic()) if reading else POLL
            if wait:
                parent_gone(wait)
            # the delivery reports of the whole interval in one poll: a poll that waits
            # returns at the first report (several wake-ups per read, each costing CPU)
            pub.pump()
            report(time.monotonic())
        pub.close()
    except RecoveryError as e:
        logger.critical("kafka follower stopped: %s", e)
        return 2
    except (BrokenPipeError, SystemExit):
        return 0
    except Exception:  # noqa: BLE001 - the matcher restarts the process
        logger.critical("kafka follower died", exc_info=True)
        return 1
    finally:
        if pub is not None and pub.position != pub.persisted:
            pub._persist()
        db.close()
    return 0


def profiled(path: str) -> int:
    import cProfile

    prof = cProfile.Profile()
    try:
        return prof.runcall(main)
    finally:
        prof.dump_stats(path)


if __name__ == "__main__":
    sys.exit(profiled(os.environ["MATCHER_KAFKA_PROFILE"]) if os.environ.get("MATCHER_KAFKA_PROFILE") else main())
