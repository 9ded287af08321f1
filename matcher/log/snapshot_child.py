"""The snapshot follower's process (``python -m matcher.log.snapshot_child``), started and
stopped by ``matcher.log.snapshot_follower.SnapshotFollower``.

It keeps an engine of its own and keeps it **current**: like the history follower, it
follows the committed operation log in small steps (``PAGE`` rows at most, polling every
``POLL`` s when caught up), at low CPU priority (``nice 10``). Taking a snapshot is then a
dump of that engine, not a replay of everything logged since the previous snapshot (which
under load was a burst of ~1M operations that starved the history writer).

Requests, one JSON line each on stdin, answered between steps, one JSON line each on
stdout:

- ``{"upto": N, "keep": K, "sink_position": P}``: a snapshot of the state after operation
  N or later (the engine's position when the request is handled: the log it follows holds
  committed operations only); the log up to N is applied first when the engine is behind
  (``operation log gap`` error when N is not in the log). Then retention and log pruning.
  Answer ``{"ok": meta}`` (``meta["replayed"]``: operations replayed at snapshot time,
  ≈ 0 while the follower keeps up) or ``{"error": "…"}``.
- ``{"status": true}``: ``{"ok": {"oper": engine position or None, "replayed": operations
  applied since the start, "snapshot_oper": end_oper_id of the last snapshot it made or
  loaded, "snapshots": snapshots it made on its own}}``.

By operation count: with ``SNAPSHOT_EVERY_OPERATIONS`` = N > 0 it also writes a snapshot on
its own whenever its engine is N or more operations past the last snapshot (between
steps; retention with ``SNAPSHOT_KEEP``, the outputs' position read from ``sink_progress``
— at or behind what the matcher knows, so retention only keeps more; a sink the settings
turn on without a stored position yet counts as 0). A restart then replays fewer than
about N operations, whatever the time since the last periodic snapshot. A failed one is
tried again after ``SNAPSHOT_RETRY`` s.

It exits at EOF of its stdin (the matcher went away).

``make_snapshot`` is also the offline ``python -m matcher snapshot``.
"""
from __future__ import annotations

import gc
import json
import logging
import os
import queue
import sys
import threading
import time
from contextlib import suppress

import orjson

from matcher.child_process import child_setup, reply

from .db import Db, placeholder, read_progress
from .oplog import SELECT as SELECT_LOG
from .recovery import RecoveryError, load_base, replay, replay_entry
from .snapshot import apply_retention, write_snapshot

logger = logging.getLogger("matcher.snapshot")

POLL = 0.05  # s between polls of the operation log when caught up
PAGE = 2_000  # operations applied per step at most (requests are answered between steps)
RETRY = 1.0  # s before the next step after a failed one (database away)
SNAPSHOT_RETRY = 30.0  # s before the next snapshot by operation count after a failed one


def make_snapshot(db, engine, upto: int, keep: int, sink_position: int | None, *, at_least: bool = False):
    """Bring ``engine`` (or a fresh base when None, or when ahead of ``upto`` unless
    ``at_least``) to ``upto``, write a snapshot and apply retention. With ``at_least`` an
    engine past ``upto`` is dumped where it is. Returns (engine, meta)."""
    t0 = time.monotonic()
    if engine is None or (engine.oper_seq > upto and not at_least):
        engine, _ = load_base(db, max_oper_id=None if at_least else upto)
        engine.emit_events = False  # a snapshot needs the state only
    n = replay(db, engine, upto) if engine.oper_seq < upto else 0
    t1 = time.monotonic()
    meta = write_snapshot(db, engine)
    meta["replayed"] = n
    meta["replay_s"] = round(t1 - t0, 3)
    meta["retention"] = apply_retention(db, keep, sink_position)
    meta["total_s"] = round(time.monotonic() - t0, 3)
    return engine, meta


class SnapshotTail:
    """The follower's engine and its steps along the committed log. One thread."""

    def __init__(self, db, page: int = PAGE, every: int = 0, keep: int = 3, sinks=()):
        """``sinks``: the outputs the matcher runs (``sink_progress`` names); one without a
        row yet counts as position 0 for retention."""
        self.db = db
        self.page = page
        self.every = every
        self.keep = keep
        self.sinks = tuple(sinks)
        self.not_before = 0.0  # monotonic time: no snapshot by count before (after a failure)
        self.engine = None
        self.replayed = 0
        self.snapshot_oper = 0  # end_oper_id of the last snapshot made or loaded
        self.snapshots = 0  # made on its own (operation count)

    def _load(self) -> None:
        self.engine, meta = load_base(self.db)
        self.engine.emit_events = False  # a snapshot needs the state only
        self.snapshot_oper = meta["end_oper_id"] if meta else 0
        gc.collect()
        gc.freeze()  # the loaded books are long-lived: full collections need not walk them
        logger.info("snapshot follower: engine at operation %s (snapshot %s)", self.engine.oper_seq,
                    meta["id"] if meta else None)

    def step(self) -> int:
        """Apply the committed log rows after the engine (up to ``page``); returns how many."""
        if self.engine is None:
            self._load()
        engine = self.engine
        ph = placeholder(self.db.vendor)
        after = engine.oper_seq
        rows = self.db.query(f"{SELECT_LOG} WHERE id > {ph} ORDER BY id LIMIT {int(self.page)}", (after,))
        expected = after + 1
        loads = orjson.loads
        execute = engine.execute
        for oid, tu, method, params in rows:
            replay_entry(execute, loads, expected, oid, tu, method, params)
            expected += 1
        self.replayed += len(rows)
        return len(rows)

    def due(self) -> bool:
        """A snapshot by operation count is due."""
        return bool(self.every) and self.engine is not None and \
            self.engine.oper_seq - self.snapshot_oper >= self.every and time.monotonic() >= self.not_before

    def sink_position(self) -> int | None:
        """The outputs' position for retention: the lowest stored one (each at or behind
        the matcher's view of it), 0 for a sink that runs but has stored none yet."""
        progress = read_progress(self.db)
        for name in self.sinks:
            progress.setdefault(name, 0)
        return min(progress.values()) if progress else None

    def snapshot_by_count(self) -> dict | None:
        """The snapshot ``SNAPSHOT_EVERY_OPERATIONS`` asks for: a dump of the engine where it
        is (committed operations only). A failure is logged and the next attempt waits
        ``SNAPSHOT_RETRY`` s; the engine stays as it is (a snapshot does not change it)."""
        try:
            _, meta = make_snapshot(self.db, self.engine, self.engine.oper_seq, self.keep,
                                    self.sink_position(), at_least=True)
        except Exception:  # noqa: BLE001 - database away: tried again later
            logger.error("snapshot by operation count at operation %s failed", self.engine.oper_seq,
                         exc_info=True)
            self.db.close()
            self.not_before = time.monotonic() + SNAPSHOT_RETRY
            return None
        gc.freeze()
        self.snapshot_oper = meta["end_oper_id"]
        self.snapshots += 1
        logger.info("snapshot %s by operation count at operation %s (dump %.2fs, encode %.2fs, write %.2fs)",
                    meta["id"], meta["end_oper_id"], meta["dump_s"], meta["encode_s"], meta["write_s"])
        return meta

    def handle(self, req: dict) -> dict:
        if req.get("status"):
            return {"ok": {"oper": self.engine.oper_seq if self.engine is not None else None,
                           "replayed": self.replayed, "snapshot_oper": self.snapshot_oper,
                           "snapshots": self.snapshots}}
        try:
            self.engine, meta = make_snapshot(self.db, self.engine, req["upto"], req["keep"],
                                              req.get("sink_position"), at_least=True)
            gc.freeze()
            self.snapshot_oper = meta["end_oper_id"]
            return {"ok": meta}
        except Exception as e:  # noqa: BLE001 - reported to the matcher, which logs and retries later
            logger.error("snapshot at operation %s failed", req.get("upto"), exc_info=True)
            self.after_error(e, gap_ok=True)
            return {"error": f"{type(e).__name__}: {e}"}

    def after_error(self, e: Exception, *, gap_ok: bool = False) -> None:
        """A database error leaves the engine as it was (each operation applies whole), so
        does a snapshot asked beyond the log (``gap_ok``); anything else may not (or the log
        behind it was pruned): it is rebuilt from the database at the next step."""
        self.db.close()
        if _is_db_error(e) or (gap_ok and isinstance(e, RecoveryError) and "gap" in str(e)):
            return
        self.engine = None
        gc.unfreeze()


def _is_db_error(e: Exception) -> bool:
    return type(e).__module__.split(".")[0] in ("MySQLdb", "sqlite3", "django")


def main() -> int:
    """Follow the committed log; answer the requests on stdin between steps."""
    alias = child_setup()
    with suppress(OSError):
        os.nice(10)  # the live engine and the history writer have priority
    requests: queue.Queue = queue.Queue()

    def read_requests():
        for line in sys.stdin:
            requests.put(json.loads(line))
        requests.put(None)  # EOF: the matcher went away

    threading.Thread(target=read_requests, name="snapshot-requests", daemon=True).start()
    from django.conf import settings

    sinks = [name for name, on in (("history", settings.MATCHER_HISTORY),
                                   ("kafka", settings.MATCHER_KAFKA and settings.KAFKA_BOOTSTRAP)) if on]
    tail = SnapshotTail(Db(alias), every=settings.SNAPSHOT_EVERY_OPERATIONS, keep=settings.SNAPSHOT_KEEP,
                        sinks=sinks)
    wait = 0.0
    try:
        while True:
            try:
                req = requests.get(timeout=wait) if wait else requests.get_nowait()
            except queue.Empty:
                req = {}
            if req is None:
                return 0
            if req:
                reply(tail.handle(req))
                wait = 0.0
                continue
            try:
                n = tail.step()
                if tail.due():
                    tail.snapshot_by_count()
            except Exception as e:  # noqa: BLE001 - database away, or a log it cannot follow: retried
                logger.error("snapshot follower: following the operation log or a snapshot failed", exc_info=True)
                tail.after_error(e)
                wait = RETRY
                continue
            wait = 0.0 if n >= tail.page else POLL
    except BrokenPipeError:
        return 0
    finally:
        tail.db.close()


if __name__ == "__main__":
    sys.exit(main())
