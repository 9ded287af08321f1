"""The matcher's side of the history follower (the process itself:
``matcher/sinks/history_child.py``; supervision: ``follower.LogFollower``)."""
from __future__ import annotations

from .follower import LogFollower


class HistoryFollower(LogFollower):
    """Supervises ``python -m matcher.sinks.history_child``; its reports add the rows
    written and the lag (s since the last written operation was accepted)."""

    NAME = "history"
    MODULE = "matcher.sinks.history_child"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.rows_written = 0
        self.lag_s: float | None = None
        self._rows_base = 0

    def _more(self, r: dict) -> None:
        self.rows_written = self._rows_base + r["rows"]
        self.lag_s = r.get("lag_s")

    def _restarted(self) -> None:
        self._rows_base = self.rows_written
