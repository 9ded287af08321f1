"""The matcher's side of the history follower (the process itself:
``matcher/sinks/history_child.py``; process plumbing: ``matcher/child_process.py``).

``HistoryFollower`` starts the child, reads its reports in a thread (the back-pressure
and ``matcher.status`` use them: history position, how far it got in the log, lag),
restarts it when it dies (``restart_delay``), and on stop waits until it has caught up
with the committed log.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque

from matcher.child_process import ChildProcess, restart_delay

logger = logging.getLogger("matcher.history")

MODULE = "matcher.sinks.history_child"


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
        self.child = ChildProcess(MODULE, alias)
        self._committed = committed
        self._rows_base = 0
        self._restart_delay = restart_delay
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._changed = threading.Condition()

    @property
    def pid(self) -> int | None:
        """The running child's pid (None between a death and its restart)."""
        return self.child.pid

    def start(self) -> None:
        self._spawn()
        self._thread = threading.Thread(target=self._supervise, name="history-follower", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        self._spawned = time.monotonic()
        self.child.spawn()

    def _supervise(self) -> None:
        delay = self._restart_delay
        while True:
            answered = False
            proc = self.child.proc
            if proc is not None:
                for r in self.child.replies(proc):
                    answered = True
                    self._report(r)
                rc = self.child.wait(proc)
            else:
                rc = -1  # the last spawn failed
            with self._changed:
                self._changed.notify_all()
            if self._stopping:
                return
            self._rows_base = self.rows_written
            self.healthy = False
            self.last_error = f"history follower exited with {rc}"
            self.restarts += 1
            delay = restart_delay(delay, self._restart_delay, answered=answered,
                                  ran_s=time.monotonic() - self._spawned)
            logger.error("history follower exited with %s; restarting in %.1fs", rc, delay)
            time.sleep(delay)
            if self._stopping:
                return
            try:
                self._spawn()
            except Exception as e:  # noqa: BLE001 - tried again on the next round
                logger.error("history follower could not be started: %s", e)
                self.child.proc = None
                time.sleep(delay)
                if self._stopping:
                    return

    def _report(self, r: dict) -> None:
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
        self.child.end()
        if self._thread is not None:
            self._thread.join(15)
