"""Shared helpers of the durability tests (operation log, snapshots, sinks, service)."""
from __future__ import annotations

import random

from django.db import connections

SETUP = [
    ("asset.put", ["BTC", 20, 8]),
    ("asset.put", ["ETH", 20, 8]),
    ("asset.put", ["USDT", 20, 8]),
    ("market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001", True]),
    ("market.put", ["ETHUSDT", "ETH", "USDT", 8, 2, 4, "0.01", True]),
]


def db_name() -> str:
    return connections["default"].settings_dict["NAME"]


def db_url() -> str:
    s = connections["default"].settings_dict
    auth = s["USER"] or "root"
    if s.get("PASSWORD"):
        auth += ":" + s["PASSWORD"]
    return f"mysql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 3306}/{s['NAME']}"


def deposit(uid: int, asset: str, amount: str, bid: int) -> tuple[str, list]:
    return ("balance.update", [uid, asset, "deposit", bid, amount, {"note": "test"}])


def random_commands(rng: random.Random, n: int, users: int = 20, start_bid: int = 1):
    """A mix of deposits, crossing limit orders, market orders and cancels."""
    cmds = []
    bid = start_bid
    for uid in range(1, users + 1):
        for asset, amt in (("BTC", "100"), ("ETH", "1000"), ("USDT", "10000000")):
            cmds.append(deposit(uid, asset, amt, bid))
            bid += 1
    for _ in range(n):
        r = rng.random()
        uid = rng.randint(1, users)
        market = rng.choice(("BTCUSDT", "ETHUSDT"))
        if r < 0.80:
            side = rng.choice((1, 2))
            price = str(rng.randint(9900, 10100)) if market == "BTCUSDT" else str(rng.randint(290, 310))
            amount = f"{rng.randint(1, 500) / 100:.2f}"
            cmds.append(("order.put_limit", [uid, market, side, amount, price, "0.002", "0.001", "test"]))
        elif r < 0.85:
            side = rng.choice((1, 2))
            amount = "0.05" if side == 1 else "500"
            cmds.append(("order.put_market", [uid, market, side, amount, "0.002", "test"]))
        elif r < 0.95:
            cmds.append(("order.cancel_all", [uid, market]))
        else:
            cmds.append(deposit(uid, "USDT", f"{rng.randint(1, 1000)}.5", bid))
            bid += 1
    return cmds
