"""Engine state: ``dump_state`` (JSON-able, decimals as exact strings), ``load_state``
and ``state_hash`` (sha256 of the canonical version-1 dump). Layout: docs/matcher-core.md
"Implementation notes" (version 1); versions 2 and 3 differ only in how orders are held:

- version 3 (written by ``dump_state``): no ``orders``; ``books`` instead, one per market
  with resting orders (in market order): ``{"market": name, "levels": [[side, count],
  …], "by_id": [...], "columns": {field: [...]}}``. The orders are stored level by level
  — the asks' levels by ascending price, then the bids' by ascending price, each level's
  orders in id (= FIFO) order; ``levels`` gives each level's side and order count in that
  order, ``by_id`` the positions of the orders in id order. ``columns`` holds one list
  per field of ``ORDER_FIELDS`` except ``market`` and ``side`` (implied): the decimal
  fields as indexes into the state's ``decimals`` (distinct exact strings),
  ``source`` as indexes into ``strings``, ``client_order_id`` likewise (-1: none).
  Loading it needs no per-order parsing or grouping: columns map through the tables in C,
  each level's FIFO and each market's id index are filled in one ``update`` each.
- version 2 (still accepted): ``orders`` is a list of rows (lists) in the order of
  ``ORDER_FIELDS`` (the version-1 keys, ``market`` = the market name, ``client_order_id``
  = null when none), sorted by id; ``order_fields`` names the columns.
- version 1 (``dump_state_v1``; still accepted): ``orders`` is a list of objects with
  those keys.

Everything else (counters, assets, markets, ``balances`` as objects, ``update_keys``,
``recent_client_order_ids``) is the same in every version.

``state_hash`` is defined on the version-1 canonical JSON (``json.dumps(dump_state_v1(e),
sort_keys=True, separators=(",", ":"))``) whatever layout is dumped; ``_canonical_parts``
writes that text directly (no per-order dicts), byte for byte.

Loading rebuilds exactly what inserting the orders one by one in id order (``book.insert``)
would: the same accounts (in the same creation order), per-market order / user indexes in
id order, each level's FIFO in id order with ``total`` = 0 + Σ left in id order, and the
same ``Level.price`` / key objects (the price of the level's first order). The levels of a
side are built at once and handed to the ``SortedDict`` as one batch, and decimal strings
are parsed once per distinct string (Decimals are immutable, sharing them is invisible).
dump / load / hash run with the cyclic GC paused (``_NoGC``).
"""
from __future__ import annotations

import gc
import hashlib
import json
from collections import OrderedDict
from decimal import Decimal, getcontext, setcontext
from json.encoder import encode_basestring_ascii as _jstr
from itertools import accumulate
from operator import add as add_, attrgetter, itemgetter, lt, sub

from sortedcontainers import SortedDict

from .balances import Account
from .book import ASK, BID, Level, Order
from .config import Asset, Market
from .numbers import CTX, ZERO

STATE_VERSION = 3
ORDER_FIELDS = ("id", "market", "type", "side", "user", "ctime_us", "mtime_us", "source",
                "price", "amount", "taker_fee", "maker_fee", "left", "freeze", "deal_stock",
                "deal_money", "deal_fee", "client_order_id")

_by_id = attrgetter("id")
_first = itemgetter(0)


# ------------------------------------------------------------------------------ dump

def _head(e, version):
    return {
        "version": version,
        "counters": {"oper_seq": e.oper_seq, "order_seq": e.order_seq,
                     "deal_seq": e.deal_seq, "event_seq": e.event_seq},
        "fee_account": e.fee_account,
        "assets": [{"name": a.name, "prec_save": a.prec_save, "prec_show": a.prec_show}
                   for a in e.assets.values()],
        "markets": [{"name": m.name, "stock": m.stock, "money": m.money,
                     "stock_prec": m.stock_prec, "money_prec": m.money_prec,
                     "fee_prec": m.fee_prec, "min_amount": str(m.min_amount),
                     "listed": m.listed} for m in e.markets.values()],
    }


def _balance_rows(e):
    """(user, asset, available str, freeze str) sorted by user, asset."""
    out = []
    accounts = e.accounts
    for uid in sorted(accounts):
        acct = accounts[uid]
        av = acct.avail
        fz = acct.frz
        if not fz:
            names = sorted(av)
        elif not av:
            names = sorted(fz)
        else:
            names = sorted(av.keys() | fz.keys())
        for name in names:
            v = av.get(name)
            f = fz.get(name)
            out.append((uid, name, "0" if v is None else str(v), "0" if f is None else str(f)))
    return out


def _sorted_orders(e):
    """Every resting Order, by id (each market's ``orders`` is already in id order)."""
    ms = [m.orders for m in e.markets.values() if m.orders]
    if len(ms) == 1:
        return list(ms[0].values())
    out = []
    for d in ms:
        out.extend(d.values())
    out.sort(key=_by_id)
    return out


def _order_rows(orders):
    """[id, market, type, side, user, ctime_us, mtime_us, source, price, amount,
    taker_fee, maker_fee, left, freeze, deal_stock, deal_money, deal_fee,
    client_order_id] per order (ORDER_FIELDS), decimals as exact strings."""
    return [[o.id, o.mname, o.type, o.side, o.user, o.ctime, o.mtime, o.source,
             str(o.price), str(o.amount), str(o.taker_fee), str(o.maker_fee), str(o.left),
             str(o.freeze), str(o.deal_stock), str(o.deal_money), str(o.deal_fee), o.cid]
            for o in orders]


class _NoGC:
    """Cyclic GC off while a whole state is built or walked: the millions of new
    containers would otherwise trigger repeated full collections over the (large,
    acyclic) book. Restores the previous setting; nothing here makes cycles to collect.
    With ``settle``, the new objects are moved to the oldest generation on the way out
    (``freeze`` + ``unfreeze``, no scan), when nothing else is frozen: otherwise the first
    allocation after ``gc.enable`` would collect the young generation holding the whole
    new book (≈ 1 s for a million orders)."""

    __slots__ = ("was", "settle")

    def __init__(self, settle=False):
        self.settle = settle

    def __enter__(self):
        self.was = gc.isenabled()
        if self.was:
            gc.disable()

    def __exit__(self, *exc):
        if self.was:
            if self.settle and not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def dump_state(e) -> dict:
    """JSON-able full state (decimals as exact strings), layout version 2."""
    with _NoGC():
        return _dump(e)


def _dump(e):
    d = _head(e, STATE_VERSION)
    d["balances"] = [{"user": u, "asset": a, "available": v, "freeze": f}
                     for u, a, v, f in _balance_rows(e)]
    decimals = _Index()
    strings = _Index()
    d["books"] = [_book(m, decimals, strings) for m in e.markets.values() if m.orders]
    d["decimals"] = list(decimals)
    d["strings"] = list(strings)
    d["update_keys"] = [[k[0], k[1], k[2], k[3], v] for k, v in e.update_keys.items()]
    d["recent_client_order_ids"] = [[k[0], k[1], v[0], v[1]] for k, v in e.recent_cids.items()]
    return d


class _Index(dict):
    """value -> its position in first-seen order (the table is ``list(self)``)."""

    def __missing__(self, k):
        v = self[k] = len(self)
        return v


# version-3 columns: (field, Order attribute, table) — table "d": decimals, "s": strings;
# "id" and "ctime_us" are stored as differences to the previous order's, "mtime_us" as the
# difference to the order's ctime (small numbers: a smaller text, parsed faster)
_COLUMNS = (("id", "id", None), ("type", "type", None), ("user", "user", None),
            ("ctime_us", "ctime", None), ("mtime_us", "mtime", None), ("source", "source", "s"),
            ("client_order_id", "cid", "s"), ("price", "price", "d"), ("amount", "amount", "d"),
            ("taker_fee", "taker_fee", "d"), ("maker_fee", "maker_fee", "d"),
            ("left", "left", "d"), ("freeze", "freeze", "d"), ("deal_stock", "deal_stock", "d"),
            ("deal_money", "deal_money", "d"), ("deal_fee", "deal_fee", "d"))
_ROW = attrgetter(*(attr for _, attr, _ in _COLUMNS))


def _deltas(vals):
    return list(map(sub, vals, [0, *vals[:-1]])) if vals else []


def _book(m, decimals, strings):
    """One market's orders in layout version 3. Each order is read once (rows, then
    transposed): a pass per field over a million scattered objects is several times
    slower."""
    rows = list(map(_ROW, m.orders.values()))  # id order
    cols = {}
    dec = decimals.__getitem__
    txt = strings.__getitem__
    for (field, _, table), vals in zip(_COLUMNS, zip(*rows) if rows else [()] * len(_COLUMNS)):
        if table == "d":
            vals = list(map(dec, map(str, vals)))
        elif table == "s":
            vals = [-1 if v is None else txt(v) for v in vals]
        else:
            vals = list(vals)
        cols[field] = vals
    ids = cols["id"]
    cols["mtime_us"] = list(map(sub, cols["mtime_us"], cols["ctime_us"]))
    cols["ctime_us"] = _deltas(cols["ctime_us"])
    cols["id"] = _deltas(ids)
    levels = []
    level_ids = []
    for side, book in ((ASK, m.asks), (BID, m.bids)):
        for lvl in book.values():
            if lvl.orders:
                level_ids += lvl.orders.keys()
                levels.append([side, len(lvl.orders)])
    position = dict(zip(ids, range(len(ids))))
    return {"market": m.name, "levels": levels, "by_level": list(map(position.__getitem__, level_ids)),
            "columns": cols}


def dump_state_v2(e) -> dict:
    """The same state in layout version 2 (orders as rows sorted by id; what snapshots
    before version 3 hold)."""
    with _NoGC():
        d = _head(e, 2)
        d["balances"] = [{"user": u, "asset": a, "available": v, "freeze": f}
                         for u, a, v, f in _balance_rows(e)]
        d["order_fields"] = list(ORDER_FIELDS)
        d["orders"] = _order_rows(_sorted_orders(e))
        d["update_keys"] = [[k[0], k[1], k[2], k[3], v] for k, v in e.update_keys.items()]
        d["recent_client_order_ids"] = [[k[0], k[1], v[0], v[1]] for k, v in e.recent_cids.items()]
        return d


def dump_state_v1(e) -> dict:
    """The same state in layout version 1 (orders as objects); state_hash's definition."""
    d = _head(e, 1)
    d["balances"] = [{"user": u, "asset": a, "available": v, "freeze": f}
                     for u, a, v, f in _balance_rows(e)]
    d["orders"] = [dict(zip(ORDER_FIELDS, r)) for r in _order_rows(_sorted_orders(e))]
    d["update_keys"] = [[k[0], k[1], k[2], k[3], v] for k, v in e.update_keys.items()]
    d["recent_client_order_ids"] = [[k[0], k[1], v[0], v[1]] for k, v in e.recent_cids.items()]
    return d


# ------------------------------------------------------------------------------ hash

def _dumps(x):
    return json.dumps(x, sort_keys=True, separators=(",", ":"))


class _JStr(dict):
    """str -> its JSON text as json.dumps writes it (ensure_ascii), None -> null."""

    def __missing__(self, k):
        v = self[k] = "null" if k is None else _jstr(k)
        return v


# order object of the v1 dump with sorted keys; decimals (str(Decimal): digits, '.', 'E',
# '+', '-') and the ints need no escaping, market / source / client_order_id go through
# the json encoder (cached per distinct string)
_ORDER_FMT = ('{"amount":"%s","client_order_id":%s,"ctime_us":%d,"deal_fee":"%s",'
              '"deal_money":"%s","deal_stock":"%s","freeze":"%s","id":%d,"left":"%s",'
              '"maker_fee":"%s","market":%s,"mtime_us":%d,"price":"%s","side":%d,'
              '"source":%s,"taker_fee":"%s","type":%d,"user":%d}')
_BALANCE_FMT = '{"asset":%s,"available":"%s","freeze":"%s","user":%d}'
_CHUNK = 20_000


def _canonical_parts(e):
    """The v1 canonical JSON text, in pieces (joined = _dumps(dump_state_v1(e)))."""
    js = _JStr()
    head = _head(e, 1)
    yield '{"assets":' + _dumps(head["assets"]) + ',"balances":['
    rows = _balance_rows(e)
    fmt_b = _BALANCE_FMT
    for i in range(0, len(rows), _CHUNK):
        yield ("," if i else "") + ",".join(
            [fmt_b % (js[a], v, f, u) for u, a, v, f in rows[i:i + _CHUNK]])
    yield ('],"counters":' + _dumps(head["counters"]) + ',"fee_account":'
           + _dumps(head["fee_account"]) + ',"markets":' + _dumps(head["markets"])
           + ',"orders":[')
    orders = _sorted_orders(e)
    fmt_o = _ORDER_FMT
    for i in range(0, len(orders), _CHUNK):
        yield ("," if i else "") + ",".join([
            fmt_o % (str(o.amount), js[o.cid], o.ctime, str(o.deal_fee), str(o.deal_money),
                     str(o.deal_stock), str(o.freeze), o.id, str(o.left), str(o.maker_fee),
                     js[o.mname], o.mtime, str(o.price), o.side, js[o.source],
                     str(o.taker_fee), o.type, o.user)
            for o in orders[i:i + _CHUNK]])
    yield ('],"recent_client_order_ids":'
           + _dumps([[k[0], k[1], v[0], v[1]] for k, v in e.recent_cids.items()])
           + ',"update_keys":'
           + _dumps([[k[0], k[1], k[2], k[3], v] for k, v in e.update_keys.items()])
           + ',"version":1}')


def state_hash(e) -> str:
    """sha256 of the canonical JSON of the version-1 dump."""
    h = hashlib.sha256()
    with _NoGC():
        for part in _canonical_parts(e):
            h.update(part.encode())
    return h.hexdigest()


# ------------------------------------------------------------------------------ load

def load_state(cls, d: dict):
    """A new ``cls`` (Engine) with the dumped state (version 1 or 2; run inside the core's
    context)."""
    old = getcontext()
    setcontext(CTX)
    try:
        with _NoGC(settle=True):
            return _load(cls, d)
    finally:
        setcontext(old)


class _DecCache(dict):
    """str -> Decimal(str), parsed once per distinct string."""

    def __missing__(self, k):
        v = self[k] = Decimal(k)
        return v


def _order_rows_of(d):
    """The dump's orders as rows in ORDER_FIELDS order (version 2: as stored)."""
    version = d.get("version")
    if version == 2:
        if tuple(d.get("order_fields", ORDER_FIELDS)) != ORDER_FIELDS:
            raise ValueError(f"unsupported order fields {d.get('order_fields')!r}")
        return d["orders"]
    if version == 1:
        return list(_v1_rows(d["orders"]))
    raise ValueError(f"unsupported state version {version!r}")


def _v1_rows(orders):
    for od in orders:
        yield (od["id"], od["market"], od["type"], od["side"], od["user"], od["ctime_us"],
               od["mtime_us"], od["source"], od["price"], od["amount"], od["taker_fee"],
               od["maker_fee"], od["left"], od["freeze"], od["deal_stock"],
               od["deal_money"], od["deal_fee"], od.get("client_order_id"))


def _load_common(cls, d):
    """A new engine with everything but the orders."""
    e = cls()
    c = d["counters"]
    e.oper_seq = c["oper_seq"]
    e.order_seq = c["order_seq"]
    e.deal_seq = c["deal_seq"]
    e.event_seq = c["event_seq"]
    e.fee_account = d["fee_account"]
    for a in d["assets"]:
        e.assets[a["name"]] = Asset(a["name"], a["prec_save"], a["prec_show"])
    markets = e.markets
    for m in d["markets"]:
        mk = Market(m["name"], e.assets[m["stock"]], e.assets[m["money"]],
                    m["stock_prec"], m["money_prec"], m["fee_prec"], Decimal(m["min_amount"]),
                    m["listed"])
        markets[mk.name] = mk
        e.pairs[(mk.stock, mk.money)] = mk.name

    accounts = e.accounts
    D = Decimal
    acct = None
    last = None
    for b in d["balances"]:
        uid = b["user"]
        if uid != last:
            acct = accounts.get(uid)
            if acct is None:
                acct = accounts[uid] = Account(uid)
            last = uid
        v = b["available"]
        if v != "0":
            acct.avail[b["asset"]] = D(v)
        v = b["freeze"]
        if v != "0":
            acct.frz[b["asset"]] = D(v)
    for uid, asset, business, business_id, tu in d["update_keys"]:
        e.update_keys[(uid, asset, business, business_id)] = tu
    for uid, cid, oid, tu in d["recent_client_order_ids"]:
        e.recent_cids[(uid, cid)] = (oid, tu)
    return e


def _load(cls, d, rows=None):
    """``rows``: the order rows already sorted by id (the retry of a dump whose orders
    are not in id order; dump_state writes them sorted)."""
    if d.get("version") == 3:
        e = _load_common(cls, d)
        _load_books(e, d)
        return e
    check = rows is None
    if check:
        rows = _order_rows_of(d)
    e = _load_common(cls, d)
    accounts = e.accounts
    markets = e.markets

    # repeated decimal strings (prices, amounts, fee rates, the zero deal values) parsed
    # once per distinct string; left is usually the amount and an ask's freeze its left
    # (same string -> the same immutable Decimal); a bid's freeze is mostly unique
    dec = _DecCache()
    D = Decimal
    # per market: (asks {price str: level FIFO}, bids {…}, orders by id, orders by user)
    books = {name: ({}, {}, m.orders, m.users) for name, m in markets.items()}
    open_cids = e.open_cids
    new = Order
    get_acct = accounts.get
    last = float("-inf")
    for (oid, mname, typ, side, uid, ct, mt, src, price, amount, tf, mf, left, frz, ds, dm,
         df, cid) in rows:
        if oid <= last and check:
            # not in id order: start again with the rows sorted (stable, as before)
            return _load(cls, d, sorted(rows, key=_first))
        last = oid
        asks, bids, by_id, users = books[mname]
        o = new()
        o.id = oid
        o.type = typ
        o.side = side
        o.user = uid
        o.ctime = ct
        o.mtime = mt
        o.mname = mname
        o.source = src
        o.cid = cid
        o.price = dec[price]
        o.amount = v = dec[amount]
        if left != amount:
            v = D(left)
        o.left = v
        o.freeze = v if frz == left else D(frz)
        o.taker_fee = dec[tf]
        o.maker_fee = dec[mf]
        o.deal_stock = dec[ds]
        o.deal_money = dec[dm]
        o.deal_fee = dec[df]
        a = get_acct(uid)
        if a is None:
            a = accounts[uid] = Account(uid)
        o.acct = a
        g = asks if side == ASK else bids
        fifo = g.get(price)
        if fifo is None:
            g[price] = OrderedDict([(oid, o)])
        else:
            fifo[oid] = o
        by_id[oid] = o
        u = users.get(uid)
        if u is None:
            users[uid] = {oid: o}
        else:
            u[oid] = o
        if cid is not None:
            open_cids[(uid, cid)] = o
    del dec

    for name, (asks, bids, _, _) in books.items():
        m = markets[name]
        m.asks, m.n_asks = _side(asks)
        m.bids, m.n_bids = _side(bids)
        m.best_ask = m.asks.peekitem(0)[1] if m.asks else None
        m.best_bid = m.bids.peekitem(-1)[1] if m.bids else None
    return e


def _load_books(e, d):
    """The orders of a version-3 dump (``_book``): built as ``book.insert`` in id order
    would, with most of the per-order work done by C loops (``map`` through the tables,
    one ``update`` per level FIFO and per id index)."""
    decs = [Decimal(x) for x in d["decimals"]]
    dec = decs.__getitem__
    txt = [*d["strings"], None].__getitem__  # index -1: none
    accounts = e.accounts
    markets = e.markets
    books = []
    for b in d["books"]:
        cols = b["columns"]
        n = len(cols["id"])
        if len(b["by_level"]) != n or any(len(cols[f]) != n for f, _, _ in _COLUMNS):
            raise ValueError(f"book of {b['market']}: columns of unequal length")
        if n and min(cols["id"]) < 1:
            raise ValueError(f"book of {b['market']}: order ids not in increasing order")
        ids = list(accumulate(cols["id"]))
        ctimes = list(accumulate(cols["ctime_us"]))
        books.append((markets[b["market"]], b, cols, ids, ctimes))
    # accounts of order owners without balances: created in id order (as insert does)
    missing = sorted({(oid, uid) for _, _, cols, ids, _ in books
                      for oid, uid in zip(ids, cols["user"]) if uid not in accounts})
    for _, uid in missing:
        if uid not in accounts:
            accounts[uid] = Account(uid)
    cid_orders = []
    new = Order
    for m, b, cols, ids, ctimes in books:
        mname = m.name
        # the side of each order, from the levels
        by_level = b["by_level"]
        sides = [0] * len(ids)
        pos = 0
        for side, count in b["levels"]:
            for i in by_level[pos:pos + count]:
                sides[i] = side
            pos += count
        if pos != len(ids) or 0 in sides:
            raise ValueError(f"book of {mname}: levels do not hold every order once")
        objs = []
        add = objs.append
        index = m.orders
        users = m.users
        for (oid, typ, side, uid, ct, mt, src, cid, price, amount, tf, mf, left, frz, ds, dm,
             df, acct) in zip(ids, cols["type"], sides, cols["user"], ctimes,
                              map(add_, ctimes, cols["mtime_us"]), map(txt, cols["source"]),
                              map(txt, cols["client_order_id"]), map(dec, cols["price"]),
                              map(dec, cols["amount"]), map(dec, cols["taker_fee"]),
                              map(dec, cols["maker_fee"]), map(dec, cols["left"]),
                              map(dec, cols["freeze"]), map(dec, cols["deal_stock"]),
                              map(dec, cols["deal_money"]), map(dec, cols["deal_fee"]),
                              map(accounts.__getitem__, cols["user"])):
            o = new()
            o.id = oid
            o.type = typ
            o.side = side
            o.user = uid
            o.ctime = ct
            o.mtime = mt
            o.mname = mname
            o.source = src
            o.cid = cid
            o.price = price
            o.amount = amount
            o.left = left
            o.freeze = frz
            o.taker_fee = tf
            o.maker_fee = mf
            o.deal_stock = ds
            o.deal_money = dm
            o.deal_fee = df
            o.acct = acct
            add(o)
            u = users.get(uid)
            if u is None:
                users[uid] = {oid: o}
            else:
                u[oid] = o
            if cid is not None:
                cid_orders.append((oid, o))
        index.update(zip(ids, objs))
        # levels: each FIFO in id order, keyed by the price of its first order, total =
        # 0 + the lefts in id order
        asks = []
        bids = []
        pos = 0
        prev = None
        for side, count in b["levels"]:
            end = pos + count
            at = by_level[pos:end]
            first = objs[at[0]]
            if (prev is not None and (side, first.price) <= prev) or not all(map(lt, at, at[1:])):
                raise ValueError(f"book of {mname}: levels out of order")
            prev = (side, first.price)
            fifo = list(map(objs.__getitem__, at))
            lvl = Level(first.price)
            lvl.orders.update(zip(map(ids.__getitem__, at), fifo))
            lvl.total = sum(map(_left, fifo), ZERO)
            (asks if side == ASK else bids).append((first.price, lvl))
            pos = end
        m.asks = SortedDict(asks)
        m.bids = SortedDict(bids)
        m.n_asks = sum(len(lvl.orders) for _, lvl in asks)
        m.n_bids = len(objs) - m.n_asks
        m.best_ask = m.asks.peekitem(0)[1] if asks else None
        m.best_bid = m.bids.peekitem(-1)[1] if bids else None
    cid_orders.sort(key=_first)
    open_cids = e.open_cids
    for _, o in cid_orders:
        open_cids[(o.user, o.cid)] = o


_left = attrgetter("left")


def _side(groups):
    """{price str: FIFO OrderedDict id -> order, in id order} -> (SortedDict price ->
    Level, order count), as inserting the orders one by one in id order builds it."""
    byval = {}
    n = 0
    for fifo in groups.values():
        n += len(fifo)
        p = next(iter(fifo.values())).price
        prev = byval.get(p)
        if prev is None:
            byval[p] = fifo
        else:
            # the same price written differently ("1.5" / "1.50"): one level, in id
            # order, keyed by the price of its first order
            byval[p] = OrderedDict(sorted([*prev.items(), *fifo.items()], key=_first))
    levels = []
    for fifo in byval.values():
        t = ZERO
        for o in fifo.values():
            t += o.left
        p = next(iter(fifo.values())).price
        lvl = Level(p)
        lvl.orders = fifo
        lvl.total = t
        levels.append((p, lvl))
    return SortedDict(levels), n
