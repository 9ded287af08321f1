"""Snapshots without stopping the matcher: a follower engine in a child process
(``matcher/log/snapshot_child.py``; process plumbing in ``matcher/child_process.py``).

The child keeps its engine current: it follows the committed operation log in small
steps at low CPU priority, so a snapshot is a dump of that engine — a point-in-time copy
of the state after some committed operation ≥ the one asked for — not a replay burst.
The live engine never pauses: the cost is CPU in another process. ``SnapshotFollower`` is
the matcher's side: ``start()`` (the service calls it when periodic snapshots are on,
``ensure()`` restarts it after a death), else the first request starts it; ``close()``
stops it with the matcher.
"""
from __future__ import annotations

import logging
import threading

from matcher.child_process import ChildProcess

logger = logging.getLogger("matcher.snapshot")

MODULE = "matcher.log.snapshot_child"


class SnapshotFollower:
    def __init__(self, alias: str = "default"):
        self.alias = alias
        self.child = ChildProcess(MODULE, alias)
        self._lock = threading.Lock()
        self.restarts = 0

    def _ensure_locked(self) -> None:
        if not self.child.alive():
            if self.child.proc is not None:
                self.restarts += 1
                logger.error("snapshot follower exited with %s; restarting it", self.child.proc.returncode)
            self.child.stop()
            self.child.spawn()

    def start(self) -> None:
        with self._lock:
            self._ensure_locked()

    def ensure(self) -> None:
        """Restart the process when it died (not waiting while a request runs)."""
        if self._lock.acquire(blocking=False):
            try:
                self._ensure_locked()
            finally:
                self._lock.release()

    def _request(self, message: dict) -> dict:
        with self._lock:
            self._ensure_locked()
            answer = self.child.request(message)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["ok"]

    def make(self, upto: int, keep: int, sink_position: int | None = None) -> dict:
        """Blocking: a snapshot of the state after operation ``upto`` or a later committed
        one (``end_oper_id``); ``upto`` must be committed."""
        return self._request({"upto": upto, "keep": keep, "sink_position": sink_position})

    def status(self) -> dict:
        """Blocking: ``{"oper": the follower engine's position (None: still loading),
        "replayed": operations it applied since it started}``."""
        return self._request({"status": True})

    def close(self) -> None:
        self.child.stop()
