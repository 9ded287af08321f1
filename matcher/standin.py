"""A stand-in for the matcher service: the real Engine behind the same ``call`` interface
as ``MatcherService``, with no durability (no operation log, no snapshots, no sinks) and
the demo markets configured. For measuring the access layer by itself
(bench/bench_jsonrpc.py) and for the access-layer tests (tests/apps/trading/util.py)."""
from __future__ import annotations

import asyncio
import time

from apps.wire.errors import error_object
from matcher.core import Engine

DEMO_CONFIG = [
    ("asset.put", ["BTC", 20, 8]),
    ("asset.put", ["ETH", 20, 8]),
    ("asset.put", ["USDT", 20, 8]),
    ("market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001", True]),
    ("market.put", ["ETHUSDT", "ETH", "USDT", 8, 2, 4, "0.01", True]),
    ("market.put", ["ETHBTC", "ETH", "BTC", 8, 6, 4, "0.01", True]),
]


def wall_clock_us() -> int:
    return int(time.time() * 1e6)


class EngineService:
    """MatcherService stand-in: the real Engine, no durability. ``clock`` gives time_us;
    ``delay`` (seconds) holds every reply back (timeout tests); ``calls`` records every
    request."""

    def __init__(self, clock=wall_clock_us):
        self.engine = Engine()
        self.clock = clock
        self.delay = 0.0
        self.calls = []
        for method, params in DEMO_CONFIG:
            out = self.engine.execute(method, params, clock())
            assert out.error is None, (method, out.error)

    async def call(self, method, params):
        self.calls.append((method, params))
        if self.delay:
            await asyncio.sleep(self.delay)
        out = self.engine.execute(method, params, self.clock())
        if out.error is None:
            return {"error": None, "result": out.result}
        return {"error": error_object(*out.error), "result": None}
