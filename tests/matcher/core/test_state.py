"""dump_state / load_state / state_hash: the bulk loader builds exactly what inserting the
orders one by one did (the pre-optimisation loader, kept below as the reference), the
layout-1 and layout-2 dumps still load, state_hash is the sha256 of the canonical layout-1 JSON, and a
loaded engine continues exactly like the original."""
import hashlib
import json
import random
from decimal import Decimal, getcontext, setcontext

import orjson
import pytest

from matcher.core import Engine
from matcher.core import state as st
from matcher.core.balances import account
from matcher.core.book import Order, insert
from matcher.core.config import Asset, Market
from matcher.core.numbers import CTX

from .util import DAY_US, T0, ok, seeded

SOURCES = ["", "web", 'q"uote\\back', "ümlaut", "tab\tnl\n", "😀"]


# ---------------------------------------------------------------- reference (old code)

def ref_dump_v1(e):
    """The layout-1 dump as the engine wrote it before the optimisation."""
    balances = []
    for uid in sorted(e.accounts):
        acct = e.accounts[uid]
        for name in sorted(set(acct.avail) | set(acct.frz)):
            v = acct.avail.get(name)
            f = acct.frz.get(name)
            balances.append({"user": uid, "asset": name,
                             "available": "0" if v is None else str(v),
                             "freeze": "0" if f is None else str(f)})
    orders = sorted((o for m in e.markets.values() for o in m.orders.values()), key=lambda o: o.id)
    return {
        "version": 1,
        "counters": {"oper_seq": e.oper_seq, "order_seq": e.order_seq,
                     "deal_seq": e.deal_seq, "event_seq": e.event_seq},
        "fee_account": e.fee_account,
        "assets": [{"name": a.name, "prec_save": a.prec_save, "prec_show": a.prec_show}
                   for a in e.assets.values()],
        "markets": [{"name": m.name, "stock": m.stock, "money": m.money,
                     "stock_prec": m.stock_prec, "money_prec": m.money_prec,
                     "fee_prec": m.fee_prec, "min_amount": str(m.min_amount),
                     "listed": m.listed} for m in e.markets.values()],
        "balances": balances,
        "orders": [{
            "id": o.id, "market": o.mname, "type": o.type, "side": o.side,
            "user": o.user, "ctime_us": o.ctime, "mtime_us": o.mtime,
            "source": o.source, "price": str(o.price), "amount": str(o.amount),
            "taker_fee": str(o.taker_fee), "maker_fee": str(o.maker_fee),
            "left": str(o.left), "freeze": str(o.freeze),
            "deal_stock": str(o.deal_stock), "deal_money": str(o.deal_money),
            "deal_fee": str(o.deal_fee), "client_order_id": o.cid,
        } for o in orders],
        "update_keys": [[k[0], k[1], k[2], k[3], v] for k, v in e.update_keys.items()],
        "recent_client_order_ids": [[k[0], k[1], v[0], v[1]] for k, v in e.recent_cids.items()],
    }


def ref_hash(e):
    s = json.dumps(ref_dump_v1(e), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(s.encode()).hexdigest()


def ref_load_v1(d):
    """The loader before the optimisation: one book.insert per order, in id order."""
    old = getcontext()
    setcontext(CTX)
    try:
        assert d["version"] == 1
        e = Engine()
        c = d["counters"]
        e.oper_seq, e.order_seq = c["oper_seq"], c["order_seq"]
        e.deal_seq, e.event_seq = c["deal_seq"], c["event_seq"]
        e.fee_account = d["fee_account"]
        for a in d["assets"]:
            e.assets[a["name"]] = Asset(a["name"], a["prec_save"], a["prec_show"])
        for m in d["markets"]:
            mk = Market(m["name"], e.assets[m["stock"]], e.assets[m["money"]], m["stock_prec"],
                        m["money_prec"], m["fee_prec"], Decimal(m["min_amount"]), m["listed"])
            e.markets[mk.name] = mk
            e.pairs[(mk.stock, mk.money)] = mk.name
        for b in d["balances"]:
            acct = account(e, b["user"])
            if b["available"] != "0":
                acct.avail[b["asset"]] = Decimal(b["available"])
            if b["freeze"] != "0":
                acct.frz[b["asset"]] = Decimal(b["freeze"])
        for od in sorted(d["orders"], key=lambda x: x["id"]):
            m = e.markets[od["market"]]
            o = Order()
            o.id, o.type, o.side, o.user = od["id"], od["type"], od["side"], od["user"]
            o.ctime, o.mtime, o.mname, o.source = od["ctime_us"], od["mtime_us"], m.name, od["source"]
            for k in ("price", "amount", "taker_fee", "maker_fee", "left", "freeze",
                      "deal_stock", "deal_money", "deal_fee"):
                setattr(o, k, Decimal(od[k]))
            o.cid = od.get("client_order_id")
            o.acct = account(e, o.user)
            insert(e, m, o)
        for uid, asset, business, business_id, tu in d["update_keys"]:
            e.update_keys[(uid, asset, business, business_id)] = tu
        for uid, cid, oid, tu in d["recent_client_order_ids"]:
            e.recent_cids[(uid, cid)] = (oid, tu)
        return e
    finally:
        setcontext(old)


def structure(e):
    """Everything a loaded engine holds, with Decimal exponents (repr) and every
    insertion order that iteration could expose."""
    def dec(x):
        return (type(x).__name__, repr(x))

    def order(o):
        return (o.id, o.type, o.side, o.user, o.ctime, o.mtime, o.mname, o.source,
                *(dec(getattr(o, k)) for k in ("price", "amount", "taker_fee", "maker_fee",
                                               "left", "freeze", "deal_stock", "deal_money",
                                               "deal_fee")),
                o.cid, o.acct is e.accounts[o.user])

    def side(book):
        return [(dec(k), dec(lvl.price), dec(lvl.total), type(lvl.orders).__name__,
                 [(i, order(o), book[k] is lvl) for i, o in lvl.orders.items()])
                for k, lvl in book.items()]

    out = [e.oper_seq, e.order_seq, e.deal_seq, e.event_seq, e.fee_account,
           [(k, a.name, a.prec_save, a.prec_show, dec(a.zero)) for k, a in e.assets.items()],
           list(e.pairs.items()),
           [(uid, a.uid, [(k, dec(v)) for k, v in a.avail.items()],
             [(k, dec(v)) for k, v in a.frz.items()]) for uid, a in e.accounts.items()],
           list(e.update_keys.items()), list(e.recent_cids.items()),
           [(k, o.id) for k, o in e.open_cids.items()]]
    for name, m in e.markets.items():
        out.append((name, m.stock, m.money, m.stock_prec, m.money_prec, m.fee_prec,
                    dec(m.min_amount), m.listed, m.sa is e.assets[m.stock],
                    m.ma is e.assets[m.money], m.n_asks, m.n_bids,
                    side(m.asks), side(m.bids),
                    None if m.best_ask is None else (m.best_ask is m.asks.peekitem(0)[1]),
                    None if m.best_bid is None else (m.best_bid is m.bids.peekitem(-1)[1]),
                    list(m.orders), [(u, list(d)) for u, d in m.users.items()],
                    all(m.orders[i] is o for d in m.users.values() for i, o in d.items())))
    return out


# ---------------------------------------------------------------- a mixed book

def mixed(seed=1, n=600):
    """Three markets, partial fills, cancels, client order ids (open and finished),
    odd sources, balance updates with idempotency keys, deposits for users without
    orders, an empty market side."""
    rnd = random.Random(seed)
    e = seeded(fee_account=99)
    t = T0
    for u in range(1, 9):
        for a in ("BTC", "ETH", "USDT"):
            ok(e, "balance.update", [u, a, "deposit", u * 10, "1000000", {}], t)
    ok(e, "balance.update", [50, "ETH", "deposit", 1, "1.5", {}], t)  # no orders
    ok(e, "balance.update", [51, "BTC", "bonus €", 1, "2", {}], t)
    prices = {"BTCUSDT": ["99", "99.5", "100", "100.5", "101", "100.25", "98.75"],
              "ETHUSDT": ["20", "20.5", "21", "19.5"],
              "ETHBTC": ["0.05", "0.050001", "0.0501", "0.0502", "0.049999"]}
    amounts = ["0.01", "0.3", "1", "2.5", "0.123", "0.05"]
    cid = 0
    for i in range(n):
        t += rnd.randint(1, 10**9)
        u = rnd.randint(1, 8)
        r = rnd.random()
        mname = rnd.choice(["BTCUSDT", "BTCUSDT", "ETHBTC", "ETHUSDT"])
        m = e.markets[mname]
        if r < 0.12 and m.orders:
            oid = rnd.choice(list(m.orders))
            o = m.orders[oid]
            ok(e, "order.cancel", [o.user, mname, oid], t)
            continue
        if r < 0.15:
            e.execute("order.put_market", [u, mname, rnd.choice([1, 2]), "0.5", "0.002", "mkt"], t)
            continue
        side = rnd.choice([1, 2])
        if mname == "ETHUSDT":
            side = 2  # bids only: one empty side
        p = [u, mname, side, rnd.choice(amounts), rnd.choice(prices[mname]),
             rnd.choice(["0", "0.002"]), rnd.choice(["0", "0.001"]), rnd.choice(SOURCES)]
        if rnd.random() < 0.3:
            cid += 1
            p.append({"client_order_id": f"c-{cid}:{u}"})
        out = e.execute("order.put_limit", p, t)
        assert out.error is None or out.error[0] >= 10, out.error
    # a finished order's client order id stays remembered
    assert e.recent_cids and e.open_cids
    return e


def continue_cmds(e, seed=2, n=300):
    rnd = random.Random(seed)
    cmds = []
    t = T0 + 10**13
    for _ in range(n):
        t += rnd.randint(1, 10**8)
        mname = rnd.choice(["BTCUSDT", "ETHBTC", "ETHUSDT"])
        r = rnd.random()
        u = rnd.randint(1, 8)
        if r < 0.1:
            cmds.append(("order.cancel", [u, mname, rnd.randint(1, e.order_seq + 50)], t))
        elif r < 0.15:
            cmds.append(("order.cancel_all", [u, mname], t))
        elif r < 0.2:
            cmds.append(("order.depth", [mname, 50, rnd.choice(["0", "0.1", "1"])], t))
        elif r < 0.25:
            cmds.append(("order.pending", [u, mname, 0, 100], t))
        elif r < 0.28:
            cmds.append(("balance.update", [u, "BTC", "deposit", u * 10, "1", {}], t))
        else:
            price = {"BTCUSDT": ["98", "99.5", "100", "101", "102"],
                     "ETHUSDT": ["19", "20", "21"],
                     "ETHBTC": ["0.049", "0.05", "0.0501", "0.051"]}[mname]
            p = [u, mname, rnd.choice([1, 2]), rnd.choice(["0.2", "1", "3", "0.05"]),
                 rnd.choice(price), "0.002", "0.001", "x"]
            if r > 0.9:
                p.append({"client_order_id": f"c-{rnd.randint(1, 200)}:{u}"})
            cmds.append(("order.put_limit", p, t))
    cmds.append(("order.book", ["BTCUSDT", 1, 0, 100], t))
    cmds.append(("order.book", ["BTCUSDT", 2, 0, 100], t))
    cmds.append(("asset.summary", [], t))
    cmds.append(("market.summary", [], t))
    return cmds


def run(e, cmds):
    out = []
    for m, p, t in cmds:
        r = e.execute(m, p, t)
        out.append((m, r.error, r.result, [ev.to_dict() for ev in r.events], r.log, r.oper_id))
    return out


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_load_matches_reference_loader(seed):
    e = mixed(seed)
    ref = ref_load_v1(ref_dump_v1(e))
    want = structure(ref)
    d = e.dump_state()
    assert d["version"] == 3 and "orders" not in d
    assert sum(len(b["by_level"]) for b in d["books"]) == sum(len(m.orders) for m in e.markets.values())
    # new layout, through the snapshot encoding
    assert structure(Engine.load_state(orjson.loads(orjson.dumps(d)))) == want
    # layout 2 (snapshots written before layout 3)
    d2 = st.dump_state_v2(e)
    assert d2["version"] == 2 and len(d2["orders"]) == sum(len(m.orders) for m in e.markets.values())
    assert structure(Engine.load_state(orjson.loads(orjson.dumps(d2)))) == want
    # old layout (what existing snapshots hold), written by the old dump
    assert structure(Engine.load_state(orjson.loads(orjson.dumps(ref_dump_v1(e))))) == want
    # old layout written by dump_state_v1
    assert st.dump_state_v1(e) == ref_dump_v1(e)
    assert structure(Engine.load_state(st.dump_state_v1(e))) == want


@pytest.mark.parametrize("seed", [1, 4])
def test_state_hash_is_canonical_v1_json(seed):
    e = mixed(seed)
    assert e.state_hash() == ref_hash(e)
    e2 = Engine.load_state(e.dump_state())
    assert e2.state_hash() == ref_hash(e2) == ref_hash(e)
    joined = "".join(st._canonical_parts(e))
    assert joined == json.dumps(ref_dump_v1(e), sort_keys=True, separators=(",", ":"))
    assert Engine().state_hash() == ref_hash(Engine())


@pytest.mark.parametrize("seed", [1, 5])
def test_loaded_engine_continues_identically(seed):
    e = mixed(seed)
    d = e.dump_state()
    a = Engine.load_state(orjson.loads(orjson.dumps(d)))
    b = Engine.load_state(ref_dump_v1(e))
    c = ref_load_v1(ref_dump_v1(e))
    assert a.dump_state() == d
    cmds = continue_cmds(e)
    want = run(c, cmds)
    assert run(a, cmds) == want
    assert run(b, cmds) == want
    assert a.state_hash() == b.state_hash() == c.state_hash() == ref_hash(c)
    # the original continues the same way too (results, events, ids)
    assert run(e, cmds) == want
    assert e.state_hash() == a.state_hash()


def test_v1_unsorted_and_equal_prices_written_differently():
    """Orders out of id order and one level's price written two ways ("100.5" /
    "100.50"): one level, FIFO in id order, keyed by the first order's price."""
    e = seeded()
    for u in (1, 2):
        ok(e, "balance.update", [u, "USDT", "deposit", u, "100000", {}])
        ok(e, "balance.update", [u, "BTC", "deposit", u, "100", {}])
    for u, price in ((1, "100.5"), (2, "100.5"), (1, "100.5"), (2, "99")):
        ok(e, "order.put_limit", [u, "BTCUSDT", 2, "1", price, "0.002", "0.001", ""])
    d = ref_dump_v1(e)
    d["orders"][1]["price"] = "100.500"
    d["orders"][0]["price"] = "100.50"
    d["orders"].reverse()
    want = structure(ref_load_v1(d))
    got = Engine.load_state(d)
    assert structure(got) == want
    lvl = got.markets["BTCUSDT"].bids.peekitem(-1)[1]
    assert list(lvl.orders) == [1, 2, 3] and repr(lvl.price) == "Decimal('100.50')"
    # layout 2 with the rows out of id order
    d2 = st.dump_state_v2(e)
    d2["orders"].reverse()
    assert structure(Engine.load_state(d2)) == structure(Engine.load_state(e.dump_state()))
    assert Engine.load_state(d2).dump_state() == e.dump_state()


def test_v3_level_of_equal_prices_written_differently():
    """A live level holding "100.5" and "100.50" orders: layout 3 keeps it one level, keyed
    by its first order's price, as the reference loader builds it."""
    e = seeded()
    for u in (1, 2):
        ok(e, "balance.update", [u, "USDT", "deposit", u, "100000", {}])
        ok(e, "balance.update", [u, "BTC", "deposit", u, "100", {}])
    for u, side, price in ((1, 2, "100.50"), (2, 2, "100.5"), (1, 2, "100.500"), (2, 1, "101"),
                           (1, 1, "101.0"), (2, 1, "102")):
        ok(e, "order.put_limit", [u, "BTCUSDT", side, "1", price, "0.002", "0.001", ""])
    d = e.dump_state()
    assert [lv for b in d["books"] for lv in b["levels"]] == [[1, 2], [1, 1], [2, 3]]
    got = Engine.load_state(orjson.loads(orjson.dumps(d)))
    assert structure(got) == structure(ref_load_v1(ref_dump_v1(e)))
    assert got.dump_state() == d and got.state_hash() == e.state_hash()


def _corrupt(d, how):
    b = d["books"][0]
    cols = b["columns"]
    multi = next(i for i, (_, n) in enumerate(b["levels"]) if n > 1)
    start = sum(n for _, n in b["levels"][:multi])
    if how == "levels swapped":
        b["levels"][0], b["levels"][-1] = b["levels"][-1], b["levels"][0]
    elif how == "levels short":
        b["levels"][-1][1] -= 1
    elif how == "fifo out of id order":
        bl = b["by_level"]
        bl[start], bl[start + 1] = bl[start + 1], bl[start]
    elif how == "an order in two levels":
        b["by_level"][start + 1] = b["by_level"][0]
    elif how == "column short":
        cols["left"].pop()
    elif how == "ids not increasing":
        cols["id"][1] = 0
    return d


@pytest.mark.parametrize("how", ["levels swapped", "levels short", "fifo out of id order",
                                 "an order in two levels", "column short", "ids not increasing"])
def test_v3_inconsistent_books_rejected(how):
    e = mixed(3, n=300)
    d = orjson.loads(orjson.dumps(e.dump_state()))
    Engine.load_state(d)  # intact: loads
    with pytest.raises(ValueError):
        Engine.load_state(_corrupt(d, how))


def test_gc_setting_restored():
    import gc
    e = mixed(7, n=100)
    assert gc.isenabled()
    Engine.load_state(e.dump_state()).state_hash()
    assert gc.isenabled()
    gc.disable()
    try:
        Engine.load_state(e.dump_state()).state_hash()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_bad_version_rejected():
    for d in (Engine().dump_state(), st.dump_state_v2(Engine())):
        for v in (None, 0, 4, "2", "3"):
            d["version"] = v
            with pytest.raises(ValueError):
                Engine.load_state(d)
    d = st.dump_state_v2(Engine())
    d["order_fields"] = list(reversed(d["order_fields"]))
    with pytest.raises(ValueError):
        Engine.load_state(d)


def test_recent_cid_expiry_after_load():
    e = mixed(6, n=200)
    a = Engine.load_state(e.dump_state())
    t = T0 + 10**13 + 2 * DAY_US
    cmds = [("order.put_limit", [1, "BTCUSDT", 2, "0.01", "1", "0", "0", "", {"client_order_id": "z"}], t),
            ("order.cancel_all", [1, "BTCUSDT"], t)]
    assert run(a, cmds) == run(e, cmds)
    assert a.state_hash() == e.state_hash() and list(a.recent_cids) == list(e.recent_cids)
