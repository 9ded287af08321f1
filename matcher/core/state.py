"""Engine state: ``dump_state`` (JSON-able, decimals as exact strings), ``load_state``
and ``state_hash`` (sha256 of the canonical dump). Layout: docs/matcher-core.md
"Implementation notes" (version 1).
"""
from __future__ import annotations

import hashlib
import json
from decimal import Decimal, getcontext, setcontext

from .balances import account
from .book import Order, insert
from .config import Asset, Market
from .numbers import CTX

STATE_VERSION = 1


def dump_state(e) -> dict:
    """JSON-able full state (decimals as exact strings)."""
    balances = []
    for uid in sorted(e.accounts):
        acct = e.accounts[uid]
        for name in sorted(set(acct.avail) | set(acct.frz)):
            v = acct.avail.get(name)
            f = acct.frz.get(name)
            balances.append({"user": uid, "asset": name,
                             "available": "0" if v is None else str(v),
                             "freeze": "0" if f is None else str(f)})
    orders = []
    for m in e.markets.values():
        for o in m.orders.values():
            orders.append(o)
    orders.sort(key=lambda o: o.id)
    return {
        "version": STATE_VERSION,
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
        "recent_client_order_ids": [[k[0], k[1], v[0], v[1]]
                                    for k, v in e.recent_cids.items()],
    }


def load_state(cls, d: dict):
    """A new ``cls`` (Engine) with the dumped state (run inside the core's context)."""
    old = getcontext()
    setcontext(CTX)
    try:
        return _load(cls, d)
    finally:
        setcontext(old)


def _load(cls, d):
    if d.get("version") != STATE_VERSION:
        raise ValueError(f"unsupported state version {d.get('version')!r}")
    e = cls()
    c = d["counters"]
    e.oper_seq = c["oper_seq"]
    e.order_seq = c["order_seq"]
    e.deal_seq = c["deal_seq"]
    e.event_seq = c["event_seq"]
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
        o.id = od["id"]
        o.type = od["type"]
        o.side = od["side"]
        o.user = od["user"]
        o.ctime = od["ctime_us"]
        o.mtime = od["mtime_us"]
        o.mname = m.name
        o.source = od["source"]
        o.price = Decimal(od["price"])
        o.amount = Decimal(od["amount"])
        o.taker_fee = Decimal(od["taker_fee"])
        o.maker_fee = Decimal(od["maker_fee"])
        o.left = Decimal(od["left"])
        o.freeze = Decimal(od["freeze"])
        o.deal_stock = Decimal(od["deal_stock"])
        o.deal_money = Decimal(od["deal_money"])
        o.deal_fee = Decimal(od["deal_fee"])
        o.cid = od.get("client_order_id")
        o.acct = account(e, o.user)
        insert(e, m, o)
    for uid, asset, business, business_id, tu in d["update_keys"]:
        e.update_keys[(uid, asset, business, business_id)] = tu
    for uid, cid, oid, tu in d["recent_client_order_ids"]:
        e.recent_cids[(uid, cid)] = (oid, tu)
    return e


def state_hash(e) -> str:
    s = json.dumps(dump_state(e), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(s.encode()).hexdigest()
