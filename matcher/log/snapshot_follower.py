"""Snapshots without stopping the matcher: a follower engine in a child process
(``matcher/log/snapshot_child.py``; process plumbing in ``matcher/child_process.py``).

Asked for a snapshot at operation id N (the highest *committed* id), the child applies
the committed operation log up to N to its own engine and writes the snapshot. The state
is therefore exactly the state after operation N — a point-in-time copy — and the live
engine never pauses: the cost is CPU in another process (run at lower priority).
``SnapshotFollower`` is the matcher's side: it starts the child on the first request
(again after it died) and stops it with the matcher.
"""
from __future__ import annotations

import threading

from matcher.child_process import ChildProcess

MODULE = "matcher.log.snapshot_child"


class SnapshotFollower:
    def __init__(self, alias: str = "default"):
        self.alias = alias
        self.child = ChildProcess(MODULE, alias)
        self._lock = threading.Lock()

    def make(self, upto: int, keep: int, sink_position: int | None = None) -> dict:
        """Blocking: a snapshot of the state after operation ``upto`` (must be committed)."""
        with self._lock:
            if not self.child.alive():
                self.child.stop()
                self.child.spawn()
            answer = self.child.request({"upto": upto, "keep": keep, "sink_position": sink_position})
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["ok"]

    def close(self) -> None:
        self.child.stop()
