"""The order flow the matcher benchmarks share (bench_matcher_rpc.py, bench_history_write.py):
``order.put_limit`` on BTCUSDT around 10000, half of them priced through the book."""
from __future__ import annotations


def limit_order(r, users: int) -> list:
    """Params of one ``order.put_limit`` for a random user in 1..users (``r``: a random.Random)."""
    uid = r.randint(1, users)
    side = r.choice((1, 2))
    if r.random() < 0.5:
        price = "10100" if side == 2 else "9900"
    else:
        off = r.randint(1, 50)
        price = str(10000 + off) if side == 1 else str(10000 - off)
    return [uid, "BTCUSDT", side, "0.01", price, "0.002", "0.001", "b"]
