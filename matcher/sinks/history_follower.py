"""History follower: history rows derived from the COMMITTED operation log, in a process
of their own (``python -m matcher.sinks.history_follower``), so building and inserting
~6 rows per crossing order does not compete with matching for the matcher's GIL.

The child keeps its own engine. It polls ``operation_log`` every ``POLL`` s for rows with
id > its engine's ``oper_seq``, replays them with ``engine.execute(method, params,
time_us)`` (the logged, normalised values: deterministic, so the events, seqs and ids are
exactly the matcher's), turns the events after its position into rows with the row
builder of ``history.py`` and writes them together with ``sink_progress.history`` in one
transaction (insert-ignore on deterministic ids: re-writing after a crash doubles
nothing). It only ever sees committed operations, so no row can describe a command a
crash undoes.

Start: position P = ``sink_progress.history``; engine = newest usable snapshot at or
before P + the log after it (``recovery.load_base``, the same choice as the matcher's
recovery); operations whose events are all <= P are replayed without writing.

Pipe protocol: the child writes one JSON line per step to stdout: ``{"oper": engine
oper_seq, "event": history position (event seq), "rows": rows written so far, "lag_s":
…}``; it exits on EOF of its stdin (the matcher went away, also after SIGKILL).
``HistoryFollower`` (matcher side) starts it, reads the reports in a thread (the
back-pressure and ``matcher.status`` use them), restarts it when it dies, and on stop waits
until it has caught up with the committed log.
"""
from __future__ import annotations

import json
import logging
import os
import select
import threading
import time
from collections import deque
from contextlib import suppress

logger = logging.getLogger("matcher.history")

POLL = 0.02  # s between polls of the operation log when caught up
# operations read and written per step at most (settings.MATCHER_HISTORY_BATCH in the
# process): a step's rows commit together, so a big step delays its first operation's rows
# by the whole step's insert time (10,000 operations ≈ 2–3 s on the benchmark box)
PAGE = 1_000


# ----------------------------------------------------------------------------- child


class HistoryTail:
    """The follower's loop state: engine, position, counters. Blocking; one thread."""

    def __init__(self, db, stop=None, page: int = PAGE):
        self.db = db
        self.page = page
        self.stop = stop or (lambda: False)
        self.db_write = db  # the writer thread's connection (``_child_main``: a second one)
        self.engine = None
        self.position = 0  # last event seq written (committed)
        self.built = 0  # last event seq whose rows were built (>= position)
        self.oper = 0  # history written through this operation
        self.last_time_us = None
        self.rows = 0

    def _retry(self, fn, what: str):
        """fn() until it succeeds; database errors are retried forever (while not stopped)."""
        failures = 0
        while True:
            try:
                r = fn()
            except Exception as e:  # noqa: BLE001 - the database: retry
                from matcher.log.recovery import RecoveryError

                if isinstance(e, RecoveryError):
                    raise
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    logger.error("history follower: %s failed (attempt %s): %s", what, failures, e)
                if self.stop():
                    raise SystemExit(0) from e
                time.sleep(min(1.0, 0.05 * 2 ** min(failures, 5)))
                continue
            if failures:
                logger.warning("history follower: %s succeeded after %s failed attempts", what, failures)
            return r

    def recover(self) -> None:
        import gc

        from matcher.log.db import read_progress
        from matcher.log.recovery import load_base

        from .history import NAME

        self.position = self._retry(lambda: read_progress(self.db).get(NAME, 0), "reading the position")
        self.engine, meta = self._retry(lambda: load_base(self.db, self.position), "loading the snapshot")
        self.built = self.position
        self.oper = self.engine.oper_seq
        gc.collect()
        gc.freeze()  # the loaded books are long-lived
        logger.info("history follower: position %s, engine at operation %s (snapshot %s)", self.position,
                    self.engine.oper_seq, meta["id"] if meta else None)

    def step(self, write=None) -> int:
        """Replay the committed log rows after the engine (up to ``page``) and build the history
        rows of their events after the position; ``write(batch)`` (default: at once, in
        this thread) stores them. Returns the number of operations replayed."""
        import orjson

        from matcher.log.db import placeholder
        from matcher.log.recovery import replay_entry

        from .history import rows_of

        engine = self.engine
        ph = placeholder(self.db.vendor)
        after = engine.oper_seq
        log = self._retry(lambda: self.db.query(
            f"SELECT id, time_us, method, params FROM operation_log WHERE id > {ph} ORDER BY id LIMIT {int(self.page)}",
            (after,)), "reading the operation log")
        if not log:
            return 0
        pos = self.built
        balances, orders, deals = [], [], []
        last = pos
        expected = after + 1
        loads = orjson.loads
        execute = engine.execute
        for oid, tu, method, params in log:
            out = replay_entry(execute, loads, expected, oid, tu, method, params)
            evs = out.events
            if evs and evs[-1].seq > pos:
                if evs[0].seq <= pos:
                    evs = [e for e in evs if e.seq > pos]
                rows_of(evs, balances, orders, deals)
                last = evs[-1].seq
            expected += 1
        self.built = last
        batch = (balances, orders, deals, last, log[-1][0], log[-1][1])
        (write or self.write)(batch)
        return len(log)

    def write(self, batch) -> None:
        """Store one batch (rows + progress in one transaction, retried until it commits)."""
        from .history import write_rows

        balances, orders, deals, last, oper, time_us = batch
        if last > self.position:
            self._retry(lambda: write_rows(self.db_write, balances, orders, deals, last), "writing history rows")
            self.position = last
            self.rows += len(balances) + len(orders) + len(deals)
        self.oper = oper
        self.last_time_us = time_us


def _child_main() -> int:
    """Two threads: this one reads the log, replays and builds rows; a writer thread
    inserts the previous batch meanwhile (its connection waits on MariaDB without the GIL),
    reporting after each commit."""
    import queue
    import sys

    from matcher.log.follower import child_setup

    alias = child_setup()
    from matcher.log.db import Db
    from matcher.log.recovery import RecoveryError

    stdin = sys.stdin.fileno()
    eof = False

    def parent_gone(timeout: float = 0.0) -> bool:
        nonlocal eof
        if not eof:
            r, _, _ = select.select([stdin], [], [], timeout)
            if r and not os.read(stdin, 4096):
                eof = True
        return eof

    out = sys.stdout
    from django.conf import settings

    db = Db(alias)
    tail = HistoryTail(db, stop=lambda: eof, page=settings.MATCHER_HISTORY_BATCH)
    tail.db_write = Db(alias)
    lock = threading.Lock()

    def report():
        lag = time.time() - tail.last_time_us / 1e6 if tail.last_time_us else None
        line = json.dumps({"oper": tail.oper, "event": tail.position, "rows": tail.rows,
                           "lag_s": round(lag, 3) if lag is not None else None,
                           "t": round(time.time(), 4)}) + "\n"
        with lock:
            out.write(line)
            out.flush()

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


# ----------------------------------------------------------------------------- matcher side


class HistoryFollower:
    """Starts and supervises the history follower process; its reports give the history
    position (event seq), how far it got in the log (``oper_position``) and so the lag."""

    NAME = "history"

    def __init__(self, *, alias: str = "default", position: int = 0, committed=lambda: 0,
                 restart_delay: float = 0.5):
        self.alias = alias
        self.position = position  # history position (event seq), from sink_progress / reports
        self.oper_position: int | None = None  # history complete through this operation
        self.known_since: float | None = None  # monotonic time of the first report (position known)
        self.rows_written = 0
        self.lag_s: float | None = None
        self.restarts = 0
        self.healthy = True
        self.last_error: str | None = None
        self.reports: deque = deque(maxlen=200_000)  # (monotonic time seen, oper, monotonic time committed) — benchmarks
        self._committed = committed
        self._rows_base = 0
        self._restart_delay = restart_delay
        self._proc = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._changed = threading.Condition()

    def start(self) -> None:
        self._env = self._make_env()
        self._spawn()
        self._thread = threading.Thread(target=self._supervise, name="history-follower", daemon=True)
        self._thread.start()

    def _make_env(self) -> dict:
        from matcher.log.follower import child_env

        return child_env(self.alias)

    def _spawn(self) -> None:
        import subprocess
        import sys

        from matcher.log.follower import project_dir

        self._spawned = time.monotonic()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "matcher.sinks.history_follower"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=self._env, cwd=str(project_dir()))

    def _supervise(self) -> None:
        delay = self._restart_delay
        while True:
            proc = self._proc
            got = False
            for line in proc.stdout:
                got = True
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                oper = r["oper"]
                with self._changed:
                    if self.oper_position is None:
                        self.known_since = time.monotonic()
                    if self.oper_position is None or oper > self.oper_position:
                        self.oper_position = oper
                    if r["event"] > self.position:
                        self.position = r["event"]
                    self.rows_written = self._rows_base + r["rows"]
                    self.lag_s = r.get("lag_s")
                    self.healthy = True
                    self.last_error = None
                    self._changed.notify_all()
                now = time.monotonic()
                t = r.get("t")  # when the rows committed (the child's clock), if sent
                self.reports.append((now, oper, now - (time.time() - t) if t else now))
            rc = proc.wait()
            with suppress(Exception):
                proc.stdout.close()
            with self._changed:
                self._changed.notify_all()
            if self._stopping:
                return
            self._rows_base = self.rows_written
            self.healthy = False
            self.last_error = f"history follower exited with {rc}"
            self.restarts += 1
            ran = time.monotonic() - self._spawned
            delay = self._restart_delay if got and ran > 10 else min(30.0, delay * 2)
            logger.error("history follower exited with %s; restarting in %.1fs", rc, delay)
            time.sleep(delay)
            if self._stopping:
                return
            try:
                self._spawn()
            except Exception as e:  # noqa: BLE001
                logger.error("history follower could not be started: %s", e)
                self._proc = None
                time.sleep(delay)
                if self._stopping:
                    return
                # try again on the next loop round
                self._proc = _DeadProc()

    # -- event-loop side (cheap: attribute reads) --------------------------------------
    def lag(self) -> int | None:
        """Committed operations whose history is not written yet (None: not known yet)."""
        p = self.oper_position
        return None if p is None else max(0, self._committed() - p)

    def backlog(self) -> int:
        """Like ``lag()``, but unknown counts as all committed operations (for waiting)."""
        p = self.oper_position
        return max(0, self._committed() - (p or 0))

    def wait_caught_up(self, upto: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while (self.oper_position or 0) < upto:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.1))
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Wait (up to ``timeout``) until the history is written up to the last committed
        operation, then end the process (EOF on its stdin)."""
        if not self.wait_caught_up(self._committed(), timeout):
            logger.warning("history follower: stopping at operation %s of %s; the rest is written "
                           "after the next start", self.oper_position, self._committed())
        self._stopping = True
        proc = self._proc
        if proc is not None:
            with suppress(Exception):
                proc.stdin.close()
            try:
                proc.wait(10)
            except Exception:  # noqa: BLE001
                proc.kill()
                proc.wait(5)
        if self._thread is not None:
            self._thread.join(15)


class _DeadProc:
    """Placeholder after a failed spawn: looks like a process that exited at once."""

    stdout = ()
    stdin = None
    returncode = -1

    def wait(self, timeout=None):
        return -1

    def kill(self):
        pass


if __name__ == "__main__":
    import sys

    sys.exit(_child_main())
