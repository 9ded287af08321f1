"""The history follower's process (``python -m matcher.sinks.history_child``): history rows
derived from the COMMITTED operation log, in a process of their own so building and
inserting ~6 rows per crossing order does not compete with matching for the matcher's GIL.
Started, supervised and stopped by ``matcher.sinks.history_follower.HistoryFollower``.

The child keeps its own engine following the committed operation log (``tail.LogTail``:
start from ``sink_progress.history``, replay, only the events after the position), turns
the events into rows with the row builder of ``history.py`` and writes them together with
``sink_progress.history`` in one transaction (insert-ignore on deterministic ids:
re-writing after a crash doubles nothing).

Pipe protocol: the child writes one JSON line per step to stdout: ``{"oper": engine
oper_seq, "event": history position (event seq), "rows": rows written so far, "lag_s":
…, "t": time of the commit}``; it exits on EOF of its stdin (the matcher went away, also
after SIGKILL).
"""
from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time

from django.conf import settings

from matcher.child_process import ParentWatch, child_setup, reply
from matcher.log.db import Db
from matcher.log.recovery import RecoveryError

from .history import NAME, row_builder, write_rows
from .tail import LogTail

logger = logging.getLogger("matcher.history")

POLL = 0.02  # s between polls of the operation log when caught up
# operations read and written per step at most (settings.MATCHER_HISTORY_BATCH in the
# process): a step's rows commit together, so a big step delays its first operation's rows
# by the whole step's insert time (10,000 operations ≈ 2–3 s on the benchmark box)
PAGE = 1_000


class HistoryTail(LogTail):
    """The follower's loop state: engine, position, counters. Blocking; one thread."""

    def __init__(self, db, stop=None, page: int = PAGE):
        super().__init__(db, NAME, page=page, stop=stop, log=logger)
        self.db_write = db  # the writer thread's connection (``main``: a second one)
        self.oper = 0  # history written through this operation
        self.last_time_us = None
        self.rows = 0
        self.rows_of = row_builder(db.vendor)

    def recover(self) -> None:
        super().recover()
        self.oper = self.engine.oper_seq

    def step(self, write=None) -> int:
        """Replay the committed log rows after the engine (up to ``page``) and build the history
        rows of their events after the position; ``write(batch)`` (default: at once, in
        this thread) stores them. Returns the number of operations replayed."""
        log = self.read()
        if not log:
            return 0
        balances, orders, deals = [], [], []
        self.replay(log, lambda oid, evs: self.rows_of(evs, balances, orders, deals))
        (write or self.write)((balances, orders, deals, self.built, log[-1][0], log[-1][1]))
        return len(log)

    def write(self, batch) -> None:
        """Store one batch (rows + progress in one transaction, retried until it commits)."""
        balances, orders, deals, last, oper, time_us = batch
        if last > self.position:
            self.retry(lambda: write_rows(self.db_write, balances, orders, deals, last), "writing history rows")
            self.position = last
            self.rows += len(balances) + len(orders) + len(deals)
        self.oper = oper
        self.last_time_us = time_us


def main() -> int:
    """Two threads: this one reads the log, replays and builds rows; a writer thread
    inserts the previous batch meanwhile (its connection waits on MariaDB without the GIL),
    reporting after each commit."""
    alias = child_setup()
    parent_gone = ParentWatch()
    db = Db(alias)
    tail = HistoryTail(db, stop=lambda: parent_gone.gone, page=settings.MATCHER_HISTORY_BATCH)
    tail.db_write = Db(alias)
    lock = threading.Lock()

    def report():
        lag = time.time() - tail.last_time_us / 1e6 if tail.last_time_us else None
        with lock:
            reply({"oper": tail.oper, "event": tail.position, "rows": tail.rows,
                   "lag_s": round(lag, 3) if lag is not None else None, "t": round(time.time(), 4)})

    # one batch built ahead while the previous one is inserted; a deeper queue only adds
    # the insert time of the queued batches to the lag of the operations behind them
    batches: queue.Queue = queue.Queue(maxsize=1)

    def writer():
        try:
            while True:
                batch = batches.get()
                if batch is None:
                    return
                tail.write(batch)
                report()
        except BaseException:  # noqa: BLE001 - stopped (SystemExit) or broken pipe
            os._exit(0)

    try:
        tail.recover()
        report()
        threading.Thread(target=writer, name="history-write", daemon=True).start()
        while not parent_gone():
            n = tail.step(batches.put)
            if n < tail.page:
                parent_gone(POLL)
    except RecoveryError as e:
        logger.critical("history follower stopped: %s", e)
        return 2
    except (BrokenPipeError, SystemExit):
        return 0
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
