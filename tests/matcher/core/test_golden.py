"""Golden trace: a fixed pseudo-random command stream (every method, bad params, options,
market orders, self-trade modes, fee account on/off, 24 h windows) and the sha256 of
everything observable — error, result, events (to_dict, kafka_payload, lazy fields),
log, oper_id — plus the final state_hash. The expected digests were produced by the
engine before the performance work (commit b6da473); any change in results, events,
ids or error precedence changes them."""
import hashlib
import json
import random

from matcher.core import Engine

T0 = 1_700_000_000_000_000

PRICES = {"BTCUSDT": ["99", "99.5", "100", "100.5", "101", "100.123", "100.00", "1e2"],
          "ETHBTC": ["0.05", "0.050001", "0.0501", "0.0502", "0.04999999", "0.0500000"],
          "ETHUSDT": ["10", "10.01", "9.99", "10.5"],
          "LOWUSDT": ["1.2345", "1.23", "1.24", "1.2", "1.23456"]}
AMOUNTS = ["0.001", "0.01", "0.3", "1", "2.5", "0.123456789", "0.0001", "7", "1.0", "0.10",
           "1E-2", "3"]
RATES = ["0", "0.001", "0.002", "0.0025", "0.00011", "0.0"]
BAD = [None, 1.5, "abc", "", "-1", "1e20", "NaN", "Infinity", " 1", "1_0", [], {}, True, -1,
       2**70, "0", "0.0000000001", 3]


def _opts(r, limit):
    if r.random() < 0.6:
        return None
    d = {}
    if limit and r.random() < 0.4:
        d["time_in_force"] = r.choice(["GTC", "IOC", "FOK", "XX"] if r.random() < 0.05 else ["GTC", "IOC", "FOK"])
    if limit and r.random() < 0.3:
        d["post_only"] = r.choice([True, False, 1] if r.random() < 0.05 else [True, False])
    if r.random() < 0.4:
        d["self_trade"] = r.choice(["none", "cancel_newest", "cancel_oldest"] + (["bad"] if r.random() < 0.05 else []))
    if r.random() < 0.4:
        d["client_order_id"] = r.choice(["a", "b", "c", "m", "x" * 37, "ok.id:1-2_3"] if r.random() < 0.1 else ["a", "b", "c"])
    if r.random() < 0.02:
        d["foo"] = 1
    if r.random() < 0.02:
        return "notadict"
    return d


def stream(n, seed, fee):
    r = random.Random(seed)
    cmds = [("asset.put", [x, 20, 8], T0) for x in ("BTC", "ETH", "USDT")]
    cmds += [("asset.put", ["LOW", 12, 4], T0),
             ("market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001", True], T0),
             ("market.put", ["ETHUSDT", "ETH", "USDT", 8, 2, 4, "0.01", True], T0),
             ("market.put", ["ETHBTC", "ETH", "BTC", 8, 6, 4, "0.01", True], T0),
             ("market.put", ["LOWUSDT", "LOW", "USDT", 4, 4, 4, "0.1", True], T0)]
    if fee:
        cmds.append(("config.fee_account", [fee], T0))
    users = [1, 2, 3, 4, 5, 9]
    bid = 0
    for u in users:
        for a, amt in (("BTC", "5"), ("ETH", "50"), ("USDT", "500"), ("LOW", "1000")):
            bid += 1
            cmds.append(("balance.update", [u, a, "deposit", bid, amt, {}], T0))
    t = T0

    def bad(v):
        return r.choice(BAD) if r.random() < 0.03 else v
    for i in range(n):
        t += r.choice([0, 1, 10, 1000, 10**6]) if r.random() < 0.99 else 86_400_000_001
        k = r.random()
        u = r.choice(users)
        mk = r.choice(list(PRICES))
        if k < 0.45:
            p = [bad(u), bad(mk), bad(r.choice([1, 2])), bad(r.choice(AMOUNTS)),
                 bad(r.choice(PRICES[mk])), bad(r.choice(RATES)), bad(r.choice(RATES)),
                 bad(r.choice(["src", "", "x" * 31]) if r.random() < 0.1 else "s")]
            o = _opts(r, True)
            if o is not None:
                p.append(o)
            if r.random() < 0.01:
                p = p[:r.randint(0, len(p))]
            cmds.append(("order.put_limit", p, t))
        elif k < 0.55:
            p = [bad(u), bad(mk), bad(r.choice([1, 2])), bad(r.choice(AMOUNTS + ["50", "0.5", "200"])),
                 bad(r.choice(RATES)), "src"]
            o = _opts(r, False)
            if o is not None:
                p.append(o)
            cmds.append(("order.put_market", p, t))
        elif k < 0.70:
            cmds.append(("order.cancel", [bad(u), bad(mk), r.randint(max(1, i // 2 - 50), i // 2 + 5)], t))
        elif k < 0.72:
            cmds.append(("order.cancel_all", [u, mk] + ([r.choice([0, 1, 2, 3])] if r.random() < 0.5 else []), t))
        elif k < 0.80:
            bid += 1
            a = r.choice(["BTC", "ETH", "USDT", "LOW", "XXX"])
            amt = r.choice(["1", "10", "1000", "0.5", "123.456789", "-0.1", "-1", "-50", "-5000", "0",
                            "-0", "1.123456789123", "0.000000001"])
            cmds.append(("balance.update", [bad(u), a, bad(r.choice(["deposit", "withdraw", "a,b", "x" * 31])),
                                            bad(bid if r.random() < 0.9 else bid - 3), bad(amt), bad({"k": 1})], t))
        elif k < 0.95:
            cmds.append(r.choice([
                ("order.depth", [mk, r.choice([0, 5, 20, 101]), r.choice(["0", "1", "0.01", "0.5", "-1"])]),
                ("order.pending", [u, mk, r.randint(0, 3), r.choice([0, 2, 101])]),
                ("order.book", [mk, r.choice([1, 2]), r.randint(0, 5), r.choice([1, 5, 101])]),
                ("order.pending_detail", [mk, r.randint(1, i // 2 + 2)]),
                ("balance.query", [u] + r.sample(["BTC", "ETH", "USDT", "LOW"], r.randint(0, 2))),
                ("asset.summary", []), ("market.summary", []), ("asset.list", []), ("market.list", []),
                ("market.summary", [mk]), ("asset.summary", ["BTC"])]) + (t,))
        elif k < 0.96:
            cmds.append((r.choice(["nope", "order.put_limit", "balance.query"]), r.choice([[], "x", None, [1]]), t))
        elif k < 0.97:
            stock = {"ETHBTC": "ETH", "LOWUSDT": "LOW"}.get(mk, mk[:3])
            money = "BTC" if mk == "ETHBTC" else "USDT"
            sp = 4 if mk == "LOWUSDT" else 8
            mp = {"BTCUSDT": 2, "ETHBTC": 6}.get(mk, 4)
            cmds.append(("market.put", [mk, stock, money, sp, mp, 4, r.choice(["0.001", "0.01", "0.1", "1"]),
                                        r.random() < 0.9], t))
        elif k < 0.975:
            cmds.append(("asset.put", [r.choice(["BTC", "ETH", "NEW"]), 20, r.choice([2, 8, 20])], t))
        elif k < 0.98:
            cmds.append(("config.fee_account", [r.choice([0, fee or 0, 9])], t))
        else:
            bid += 1
            cmds.append(("balance.update", [u, r.choice(["BTC", "ETH", "USDT", "LOW"]), "deposit", bid, "100", {}], t))
    return cmds


def _event(ev):
    d = ev.to_dict()
    d["_cls"] = type(ev).__name__
    d["_kafka"] = ev.kafka_payload()
    if d["_cls"] == "OrderEvent":
        d["_ids"] = [ev.order_id, ev.user_id, ev.market]
    elif d["_cls"] == "BalanceEvent":
        d["_raw"] = [str(ev.change), str(ev.balance)]
    return d


def trace_digest(engine_cls, n, seed, fee):
    e = engine_cls()
    h = hashlib.sha256()
    for method, params, t in stream(n, seed, fee):
        out = e.execute(method, params, t)
        rec = [method, out.error, out.result, [_event(ev) for ev in out.events], out.log, out.oper_id]
        h.update(json.dumps(rec, sort_keys=True, default=repr).encode())
    h.update(e.state_hash().encode())
    return h.hexdigest()


GOLDEN = {
    # (commands, seed, fee account) -> digest
    (6000, 11, 0): "8f2be89961cd1601f1d252bb1b890dfc37afed82c169e926981e9f44c2121d67",
    (6000, 12, 9): "286ea1555b1190bae7e28023e3a65ed662310a6f50bb6d2f5031c23ac8fac067",
    (6000, 13, 3): "d6a233235652cf442f239a04797a40e8540c83b5e208da3aa296e5e4b5fcb3de",
}


def test_golden_traces():
    for (n, seed, fee), digest in GOLDEN.items():
        assert trace_digest(Engine, n, seed, fee) == digest, (n, seed, fee)
