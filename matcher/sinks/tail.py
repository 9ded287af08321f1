"""What the output followers' processes share (the history follower's
``history_child.py``, the Kafka follower's ``kafka_child.py``): an engine of their own
that follows the COMMITTED operation log, and an output position (an event seq in
``sink_progress``).

Start: position P = ``sink_progress.<name>``; engine = the newest usable snapshot at or
before P + the log after it (``recovery.load_base``, the same choice as the matcher's
recovery). Each step reads the log rows with id > the engine's ``oper_seq`` (up to
``page``) and replays them with ``engine.execute(method, params, time_us)`` — the logged,
normalised values: deterministic, so the events, seqs and ids are exactly the matcher's.
Only the events after what was already handed on (``built`` ≥ P) reach the output, so
operations whose events are all <= P are replayed without output. Only committed
operations are ever seen: no output can describe a command a crash undoes.
"""
from __future__ import annotations

import gc
import logging

import orjson

from matcher.log.db import Db, placeholder, read_progress
from matcher.log.oplog import SELECT as SELECT_LOG
from matcher.log.recovery import RecoveryError, load_base, replay_entry
from matcher.retry import retry_forever


class LogTail:
    """A follower's engine and positions. Blocking; one thread."""

    def __init__(self, db: Db, name: str, *, page: int, stop=None, log: logging.Logger | None = None):
        self.db = db
        self.name = name  # its row in sink_progress
        self.page = page
        self.stop = stop or (lambda: False)
        self.log = log or logging.getLogger(f"matcher.{name}")
        self.engine = None
        self.position = 0  # last event seq of the output's recorded position
        self.built = 0  # last event seq handed on (>= position)

    def retry(self, fn, what: str):
        """fn() until it succeeds; database errors are retried forever (while not stopped)."""
        def give_up_when_stopped(exc, failures):
            if self.stop():
                raise SystemExit(0) from exc

        return retry_forever(fn, what=f"{self.name} follower: {what}", log=self.log,
                             on_error=give_up_when_stopped, reraise=(RecoveryError,))

    def recover(self) -> None:
        self.position = self.retry(lambda: read_progress(self.db).get(self.name, 0), "reading the position")
        self.engine, meta = self.retry(lambda: load_base(self.db, self.position), "loading the snapshot")
        self.built = self.position
        gc.collect()
        gc.freeze()  # the loaded books are long-lived
        self.log.info("%s follower: position %s, engine at operation %s (snapshot %s)", self.name, self.position,
                      self.engine.oper_seq, meta["id"] if meta else None)

    def read(self) -> list:
        """The next committed log rows after the engine (at most ``page``)."""
        ph = placeholder(self.db.vendor)
        after = self.engine.oper_seq
        return self.retry(lambda: self.db.query(
            f"{SELECT_LOG} WHERE id > {ph} ORDER BY id LIMIT {int(self.page)}", (after,)),
            "reading the operation log")

    def replay(self, log: list, take) -> None:
        """Apply ``log`` (rows from ``read()``); ``take(oper_id, events)`` gets each
        operation's events after ``built``, for operations that have any."""
        pos = self.built
        expected = self.engine.oper_seq + 1
        loads = orjson.loads
        execute = self.engine.execute
        for oid, tu, method, params in log:
            evs = replay_entry(execute, loads, expected, oid, tu, method, params).events
            if evs and evs[-1].seq > pos:
                if evs[0].seq <= pos:
                    evs = [e for e in evs if e.seq > pos]
                take(oid, evs)
                pos = evs[-1].seq
            expected += 1
        self.built = pos
