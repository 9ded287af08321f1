"""The matcher's side of the Kafka follower (the process itself:
``matcher/sinks/kafka_child.py``; supervision: ``follower.LogFollower``). Imports no
Kafka client: librdkafka runs in the child only."""
from __future__ import annotations

import json

from .follower import LogFollower
from .kafka_child import ENV


class KafkaFollower(LogFollower):
    """Supervises ``python -m matcher.sinks.kafka_child``; ``backlog()`` (committed
    operations whose messages are not all delivered) drives code 3 "kafka backlog"."""

    NAME = "kafka"
    MODULE = "matcher.sinks.kafka_child"

    def __init__(self, bootstrap: str, *, topic_prefix: str = "", config: dict | None = None, **kw):
        conf = {"bootstrap": bootstrap, "prefix": topic_prefix, "config": config or {}}
        super().__init__(env={ENV: json.dumps(conf)}, **kw)
        self.delivered = 0  # messages delivered, over every child
        self.recreate_reasons: list[str] = []  # why the producer was re-created (the last few)
        self._delivered_base = 0

    def _more(self, r: dict) -> None:
        self.delivered = self._delivered_base + r["delivered"]
        self.recreate_reasons = r["reasons"]

    def _restarted(self) -> None:
        self._delivered_base = self.delivered
