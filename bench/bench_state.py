"""Engine state benchmark (docs/benchmarks.md, "Durability": recovery after the
state-load optimisation).

    .venv/bin/python bench/bench_state.py [--resting 1000000] [--users 100] [--repeat 1]
        [--extra-users 0]

Builds an engine through ``execute`` with N resting orders across ``--users`` users on
two markets (BTCUSDT, ETHUSDT; ~10,000 price levels per side, 1 % of the orders partially
filled by a small crossing taker, 5 % with a client order id), plus a balance.update per
user and asset, then times ``dump_state``, the snapshot encoding (orjson + zlib level 1,
as matcher/log/snapshot.py) and its decoding (also with the cyclic GC disabled), ``load_state`` of the decoded dict,
``state_hash`` of both engines, and asserts that the hashes (and the re-dumped state)
are equal.
"""
from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
import zlib

import orjson

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from matcher.core import Engine  # noqa: E402

T0 = 1_700_000_000_000_000


def build(n, users, seed=1, extra_users=0):
    e = Engine()
    ex = e.execute
    for a in ("BTC", "ETH", "USDT"):
        assert ex("asset.put", [a, 20, 8], T0).error is None
    assert ex("market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001", True], T0).error is None
    assert ex("market.put", ["ETHUSDT", "ETH", "USDT", 8, 2, 4, "0.01", True], T0).error is None
    assert ex("config.fee_account", [1_000_000], T0).error is None
    for u in range(1, users + 1):
        for a, amt in (("BTC", "100000000"), ("ETH", "100000000"), ("USDT", "900000000000")):
            assert ex("balance.update", [u, a, "deposit", u, amt, {}], T0).error is None
    for u in range(10_000, 10_000 + extra_users):  # balances only (+ idempotency keys)
        for a, amt in (("BTC", "1.5"), ("USDT", "2500.25")):
            assert ex("balance.update", [u, a, "deposit", u, amt, {}], T0).error is None
    rnd = random.Random(seed)
    amounts = [f"{rnd.randint(100, 20000) / 10000:.4f}" for _ in range(500)]
    asks = [f"{10000 + k / 100:.2f}" for k in range(1, 10001)]
    bids = [f"{10000 - k / 100:.2f}" for k in range(1, 10001)]
    eth_asks = [f"{2000 + k / 100:.2f}" for k in range(1, 10001)]
    eth_bids = [f"{2000 - k / 100:.2f}" for k in range(1, 10001)]
    t = T0
    books = list(e.markets.values())
    i = 0
    while sum(len(mk.orders) for mk in books) < n:
        i += 1
        t += 1000
        u = rnd.randint(1, users)
        eth = rnd.random() < 0.3
        m = "ETHUSDT" if eth else "BTCUSDT"
        side = rnd.choice((1, 2))
        if rnd.random() < 0.01:
            # small crossing taker: partially fills the best maker of the other side
            price = ("1000" if eth else "1") if side == 1 else ("4000" if eth else "20000")
            out = ex("order.put_limit", [u, m, side, "0.05", price, "0.002", "0.001", "bench",
                                         {"time_in_force": "IOC"}], t)
            assert out.error is None, out.error
            continue
        price = rnd.choice((eth_asks if eth else asks) if side == 1 else (eth_bids if eth else bids))
        p = [u, m, side, rnd.choice(amounts), price, "0.002", "0.001", "bench"]
        if rnd.random() < 0.05:
            p.append({"client_order_id": f"c{i}"})
        out = ex("order.put_limit", p, t)
        assert out.error is None, out.error
    return e


def timed(label, fn, results):
    gc.collect()
    t0 = time.perf_counter()
    r = fn()
    dt = time.perf_counter() - t0
    results.setdefault(label, []).append(dt)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--resting", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--extra-users", type=int, default=0,
                    help="users with two balances (and their balance.update keys) and no orders")
    a = ap.parse_args()
    t0 = time.perf_counter()
    e = build(a.resting, a.users, extra_users=a.extra_users)
    n = sum(len(m.orders) for m in e.markets.values())
    print(f"built: {n:,} resting orders, {sum(len(m.asks) + len(m.bids) for m in e.markets.values()):,} "
          f"price levels, {sum(len(x.avail) + len(x.frz) for x in e.accounts.values()):,} balance "
          f"entries in {time.perf_counter() - t0:.1f} s", flush=True)
    res = {}
    for _ in range(a.repeat):
        d = timed("dump_state", e.dump_state, res)
        body = timed("encode (orjson + zlib 1)", lambda: zlib.compress(orjson.dumps(d), 1), res)
        d2 = timed("decode (zlib + orjson)", lambda: orjson.loads(zlib.decompress(body)), res)
        del d2
        gc.collect()
        gc.disable()  # the same decode with the cyclic GC off (1M new lists otherwise
        try:          # trigger repeated full collections over the growing heap)
            d2 = timed("decode, gc disabled", lambda: orjson.loads(zlib.decompress(body)), res)
        finally:
            gc.enable()
        del d
        e2 = timed("load_state", lambda: Engine.load_state(d2), res)
        h1 = timed("state_hash (original)", e.state_hash, res)
        h2 = timed("state_hash (loaded)", e2.state_hash, res)
        assert h1 == h2, (h1, h2)
        assert e2.dump_state() == d2, "re-dump differs"
        del d2, e2
        gc.collect()
    print(f"process CPU {time.process_time():.1f} s, load average {os.getloadavg()[0]:.1f}")
    print(f"snapshot body: {len(body) / 1e6:.1f} MB compressed; state hash {h1[:16]}… equal")
    for k, v in res.items():
        print(f"  {k:28s} {min(v):7.2f} s" + (f"  (runs: {', '.join(f'{x:.2f}' for x in v)})" if len(v) > 1 else ""))


if __name__ == "__main__":
    main()
