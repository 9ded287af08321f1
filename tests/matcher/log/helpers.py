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


def run(coro):
    import asyncio

    return asyncio.run(coro)


async def run_commands(service, cmds, concurrency: int = 32) -> list:
    """Send ``cmds`` with up to ``concurrency`` in flight; replies in command order."""
    import asyncio

    sem = asyncio.Semaphore(concurrency)

    async def one(m, p):
        async with sem:
            return await service.call(m, p)

    return await asyncio.gather(*[one(m, p) for m, p in cmds])


def consume(bootstrap: str, topic: str, *, min_count: int = 0, timeout: float = 10.0, idle: float = 1.0):
    """Every message of ``topic`` (all partitions, from the beginning):
    list of (seq, key, value) with value JSON-decoded. Reads until ``min_count`` messages
    arrived and nothing new came for ``idle`` s, or ``timeout``."""
    import time

    import orjson
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-" + topic, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "topic.metadata.refresh.interval.ms": 1000})
    try:
        deadline = time.monotonic() + timeout
        parts = None
        while time.monotonic() < deadline:
            md = c.list_topics(topic, timeout=5)
            t = md.topics.get(topic)
            if t is not None and t.error is None and t.partitions:
                parts = sorted(t.partitions)
                break
            time.sleep(0.2)
        if parts is None:
            return []
        c.assign([TopicPartition(topic, p, -2) for p in parts])  # OFFSET_BEGINNING
        out = []
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            msgs = c.consume(10000, 0.2)
            for m in msgs:
                if m.error():
                    if m.error().code() == -191:  # partition EOF
                        continue
                    raise KafkaException(m.error())
                seq = int(dict(m.headers() or [])["seq"])
                out.append((seq, m.key().decode() if m.key() else None, orjson.loads(m.value())))
            if msgs:
                last_new = time.monotonic()
            elif len(out) >= min_count and time.monotonic() - last_new >= idle:
                break
        return out
    finally:
        c.close()


def dedupe(messages):
    seen = {}
    for seq, key, value in messages:
        seen.setdefault(seq, (key, value))
    return seen


def history_balance_sums() -> dict:
    """(user_id, asset) -> Σ change of balance_history."""
    from decimal import Decimal

    with connections["default"].cursor() as cur:
        cur.execute("SELECT user_id, asset, SUM(`change`) FROM balance_history GROUP BY user_id, asset")
        return {(u, a): Decimal(s) for u, a, s in cur.fetchall()}


def engine_totals(engine) -> dict:
    """(user_id, asset) -> available + freeze, from the engine dump."""
    from decimal import Decimal

    out = {}
    for b in engine.dump_state()["balances"]:
        total = Decimal(b["available"]) + Decimal(b["freeze"])
        if total:
            out[(b["user"], b["asset"])] = total
    return out


def sql(query, params=()):
    with connections["default"].cursor() as cur:
        cur.execute(query, params)
        try:
            return cur.fetchall()
        except Exception:  # noqa: BLE001
            return None
