"""Reads: ``balance.query``, ``asset.list``, ``asset.summary``, ``order.book``,
``order.depth``, ``order.pending``, ``order.pending_detail``, ``market.list``,
``market.summary``. Each returns the JSON-ready result; nothing here changes state.
"""
from __future__ import annotations

from itertools import islice

from .book import ASK, BID, depth_side, iter_side_from
from .events import order_dict
from .numbers import ZERO, ParamError, fmt, parse_trunc
from .params import U32, U64, asset, market, uint
from .params import limit as limit_param
from .params import offset as offset_param


def balance_query(e, p, t):
    if not p:
        raise ParamError("params", "expected user_id")
    uid = p[0]
    if type(uid) is not int or uid < 1 or uid > U32:
        raise ParamError("user_id", "must be an integer 1..4294967295")
    if len(p) == 1:
        assets = list(e.assets.values())
    else:
        assets = [asset(e, x) for x in p[1:]]
    acct = e.accounts.get(uid)
    res = {}
    for a in assets:
        if acct is None:
            res[a.name] = {"available": "0", "freeze": "0"}
            continue
        v = acct.avail.get(a.name)
        f = acct.frz.get(a.name)
        if a.prec_show < a.prec_save:
            if v is not None:
                v = v.quantize(a.exp_show)
            if f is not None:
                f = f.quantize(a.exp_show)
        res[a.name] = {
            "available": "0" if v is None else fmt(v),
            "freeze": "0" if f is None else fmt(f),
        }
    return res


def asset_list(e, p, t):
    return [{"name": a.name, "prec": a.prec_show} for a in e.assets.values()]


def asset_summary(e, p, t):
    if p:
        assets = [asset(e, x) for x in p]
    else:
        assets = list(e.assets.values())
    res = []
    accts = e.accounts.values()
    for a in assets:
        name = a.name
        ac = fc = 0
        asum = fsum = ZERO
        for acct in accts:
            v = acct.avail.get(name)
            if v is not None:
                ac += 1
                asum += v
            v = acct.frz.get(name)
            if v is not None:
                fc += 1
                fsum += v
        res.append({
            "name": name, "total_balance": fmt(asum + fsum), "available_count": ac,
            "available_balance": fmt(asum), "freeze_count": fc,
            "freeze_balance": fmt(fsum),
        })
    return res


def order_book(e, p, t):
    if len(p) != 4:
        raise ParamError("params", "expected 4 params")
    m = market(e, p[0])
    side = p[1]
    if type(side) is not int or (side != ASK and side != BID):
        raise ParamError("side", "must be 1 or 2")
    offset = offset_param(p[2])
    limit = limit_param(p[3])
    if side == ASK:
        book = m.asks
        total = m.n_asks
    else:
        book = m.bids
        total = m.n_bids
    orders = []
    if limit and offset < total:
        skip = offset  # whole levels before the offset are skipped by their size
        for o in iter_side_from(book, side == ASK, skip):
            orders.append(order_dict(o.snap()))
            if len(orders) >= limit:
                break
    return {"offset": offset, "limit": limit, "total": total, "orders": orders}


def order_pending(e, p, t):
    if len(p) != 4:
        raise ParamError("params", "expected 4 params")
    uid = uint(p[0], "user_id", U32)
    m = market(e, p[1])
    offset = offset_param(p[2])
    limit = limit_param(p[3])
    u = m.users.get(uid)
    total = len(u) if u else 0
    recs = []
    if u and limit and offset < total:
        recs = [order_dict(o.snap()) for o in islice(reversed(u.values()), offset, offset + limit)]
    return {"limit": limit, "offset": offset, "total": total, "records": recs}


def order_pending_detail(e, p, t):
    if len(p) != 2:
        raise ParamError("params", "expected 2 params")
    m = market(e, p[0])
    order_id = uint(p[1], "order_id", U64)
    o = m.orders.get(order_id)
    return None if o is None else order_dict(o.snap())


def order_depth(e, p, t):
    if len(p) != 3:
        raise ParamError("params", "expected 3 params")
    m = market(e, p[0])
    limit = limit_param(p[1])
    interval = parse_trunc(p[2], "interval", m.exp_money)
    if interval < 0:
        raise ParamError("interval", "must be >= 0")
    return {
        "asks": depth_side(m.asks, limit, interval, True),
        "bids": depth_side(m.bids, limit, interval, False),
    }


def market_list(e, p, t):
    return [{
        "name": m.name, "stock": m.stock, "money": m.money, "fee_prec": m.fee_prec,
        "stock_prec": m.stock_prec, "money_prec": m.money_prec,
        "min_amount": fmt(m.min_amount),
    } for m in e.markets.values()]


def market_summary(e, p, t):
    if p:
        markets = [market(e, x) for x in p]
    else:
        markets = list(e.markets.values())
    res = []
    for m in markets:
        ask_amount = ZERO
        for lvl in m.asks.values():
            ask_amount += lvl.total
        bid_amount = ZERO
        for lvl in m.bids.values():
            bid_amount += lvl.total
        res.append({"name": m.name, "ask_count": m.n_asks, "ask_amount": fmt(ask_amount),
                    "bid_count": m.n_bids, "bid_amount": fmt(bid_amount)})
    return res
