"""The matcher's side of an output follower process (the history follower, the Kafka
follower: their processes are ``history_child.py`` and ``kafka_child.py``, their shared
log-following part ``tail.py``; process plumbing: ``matcher/child_process.py``).

``LogFollower`` starts the child, reads its reports in a thread (the back-pressure and
``matcher.status`` use them: the output position, how far it got in the log), restarts it
when it dies (``restart_delay``), and on stop waits until it has caught up with the
committed log. A report is one JSON line with at least ``oper`` (output done through this
operation) and ``event`` (the output position, an event seq); optionally ``t`` (when that
was done, the child's clock) and fields of the subclass (``_more``).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque

from matcher.child_process import ChildProcess, restart_delay


class LogFollower:
    """Starts and supervises one follower process; its reports give the output position
    (event seq), how far it got in the log (``oper_position``) and so the backlog."""

    NAME = ""  # "history" | "kafka": its sink_progress row
    MODULE = ""  # python -m MODULE

    def __init__(self, *, alias: str = "default", position: int = 0, committed=lambda: 0,
                 restart_delay: float = 0.5, env: dict | None = None):
        self.alias = alias
        self.position = position  # output position (event seq), from sink_progress / reports
        self.oper_position: int | None = None  # output complete through this operation
        self.known_since: float | None = None  # monotonic time of the first report (position known)
        self.restarts = 0
        self.healthy = True
        self.last_error: str | None = None
        self.reports: deque = deque(maxlen=200_000)  # (monotonic time seen, oper, monotonic time done) — benchmarks
        self.child = ChildProcess(self.MODULE, alias, env)
        self.log = logging.getLogger(f"matcher.{self.NAME}")
        self._committed = committed
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
        self._thread = threading.Thread(target=self._supervise, name=f"{self.NAME}-follower", daemon=True)
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
            self._restarted()
            self.healthy = False
            self.last_error = f"{self.NAME} follower exited with {rc}"
            self.restarts += 1
            delay = restart_delay(delay, self._restart_delay, answered=answered,
                                  ran_s=time.monotonic() - self._spawned)
            self.log.error("%s follower exited with %s; restarting in %.1fs", self.NAME, rc, delay)
            time.sleep(delay)
            if self._stopping:
                return
            try:
                self._spawn()
            except Exception as e:  # noqa: BLE001 - tried again on the next round
                self.log.error("%s follower could not be started: %s", self.NAME, e)
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
            self.healthy = True
            self.last_error = None
            self._more(r)
            self._changed.notify_all()
        now = time.monotonic()
        t = r.get("t")  # when the output was done (the child's clock), if sent
        self.reports.append((now, oper, now - (time.time() - t) if t else now))

    def _more(self, r: dict) -> None:
        """The subclass's fields of a report (under the lock)."""

    def _restarted(self) -> None:
        """The child died: counters that restart from 0 in the next child."""

    # -- event-loop side (cheap: attribute reads) --------------------------------------
    def lag(self) -> int | None:
        """Committed operations whose output is not done yet (None: not known yet)."""
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
        """Wait (up to ``timeout``) until the output is done up to the last committed
        operation, then end the process (EOF on its stdin)."""
        if not self.wait_caught_up(self._committed(), timeout):
            self.log.warning("%s follower: stopping at operation %s of %s; the rest is done after the next "
                             "start", self.NAME, self.oper_position, self._committed())
        self._stopping = True
        self.child.end()
        if self._thread is not None:
            self._thread.join(15)
