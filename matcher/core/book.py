"""The order book: resting orders, price levels, the open-order indexes (by id, by
user, by client order id) and book walks for depth / order.book / fill-or-kill.

Per side a ``SortedDict`` price -> :class:`Level` (FIFO ``OrderedDict`` of orders + the
sum of their ``left``); best ask = first key, best bid = last key, and each market caches
its best level of each side (``best_ask``/``best_bid``, None when the side is empty), so
matching and the crossing check never search the sorted keys. Placing at an existing
price, cancelling and filling are O(1) apart from a new/emptied price level (O(log n)).
"""
from __future__ import annotations

from collections import OrderedDict
from itertools import islice

from .balances import move
from .numbers import ZERO, fmt
from .params import DAY_US, CmdError

ASK = 1
BID = 2
LIMIT_ORDER = 1
MARKET_ORDER = 2


class Level:
    """Orders resting at one price, in time (= id) order, and the sum of their left."""

    __slots__ = ("price", "orders", "total")

    def __init__(self, price):
        self.price = price
        self.orders = OrderedDict()
        self.total = ZERO


class Order:
    """A resting order (takers only become Order objects when they rest)."""

    __slots__ = (
        "id", "type", "side", "ctime", "mtime", "user", "mname", "source",
        "price", "amount", "taker_fee", "maker_fee", "left", "freeze", "deal_stock",
        "deal_money", "deal_fee", "cid", "acct",
    )

    def snap(self):
        """Immutable snapshot for events.order_dict (OrderEvent)."""
        return (self.id, self.mname, self.source, self.type, self.side, self.user,
                self.ctime, self.mtime, self.price, self.amount, self.taker_fee,
                self.maker_fee, self.left, self.deal_stock, self.deal_money,
                self.deal_fee, self.cid)


def insert(e, m, o):
    """Put a resting order into its level and the indexes (no balance change)."""
    p = o.price
    if o.side == ASK:
        book = m.asks
        m.n_asks += 1
        lvl = book.get(p)
        if lvl is None:
            lvl = book[p] = Level(p)
            b = m.best_ask
            if b is None or p < b.price:
                m.best_ask = lvl
    else:
        book = m.bids
        m.n_bids += 1
        lvl = book.get(p)
        if lvl is None:
            lvl = book[p] = Level(p)
            b = m.best_bid
            if b is None or p > b.price:
                m.best_bid = lvl
    oid = o.id
    lvl.orders[oid] = o
    lvl.total += o.left
    m.orders[oid] = o
    u = m.users.get(o.user)
    if u is None:
        m.users[o.user] = {oid: o}
    else:
        u[oid] = o
    if o.cid is not None:
        e.open_cids[(o.user, o.cid)] = o


def remove(e, m, o, t):
    """Finish a resting order: out of book and indexes, unfreeze the remainder."""
    p = o.price
    oid = o.id
    if o.side == ASK:
        book = m.asks
        m.n_asks -= 1
        lvl = book[p]
        orders = lvl.orders
        del orders[oid]
        if orders:
            if o.left:
                lvl.total -= o.left
        else:
            del book[p]
            if m.best_ask is lvl:
                m.best_ask = book.peekitem(0)[1] if book else None
    else:
        book = m.bids
        m.n_bids -= 1
        lvl = book[p]
        orders = lvl.orders
        del orders[oid]
        if orders:
            if o.left:
                lvl.total -= o.left
        else:
            del book[p]
            if m.best_bid is lvl:
                m.best_bid = book.peekitem(-1)[1] if book else None
    del m.orders[oid]
    u = m.users[o.user]
    del u[oid]
    if not u:
        del m.users[o.user]
    if o.cid is not None:
        k = (o.user, o.cid)
        del e.open_cids[k]
        remember_cid(e, k, oid, t)
    if o.freeze:
        acct = o.acct
        move(acct.frz, acct.avail, m.sa if o.side == ASK else m.ma, o.freeze)  # unfreeze
        o.freeze = ZERO


# ---------------------------------------------------------------- client order ids

def remember_cid(e, k, order_id, t):
    """A finished order's client order id stays taken for 24 h of command time."""
    rc = e.recent_cids
    if k in rc:
        del rc[k]
    rc[k] = (order_id, t)
    # purge expired entries (deterministic: only on successful placements/finishes)
    lim = t - DAY_US
    while rc:
        first = next(iter(rc))
        if rc[first][1] <= lim:
            del rc[first]
        else:
            break


def check_cid(e, uid, cid, t, code):
    k = (uid, cid)
    o = e.open_cids.get(k)
    if o is not None:
        raise CmdError(code, "duplicate client order id", {"order_id": o.id})
    r = e.recent_cids.get(k)
    if r is not None and t - r[1] < DAY_US:
        raise CmdError(code, "duplicate client order id", {"order_id": r[0]})


# ---------------------------------------------------------------- walks

def iter_side(book, is_ask):
    """Resting orders of one side, best first (price-time priority)."""
    levels = book.values() if is_ask else reversed(book.values())
    for lvl in levels:
        yield from lvl.orders.values()


def iter_side_from(book, is_ask, skip):
    """iter_side after skipping ``skip`` orders (whole levels skipped by their size)."""
    levels = book.values() if is_ask else reversed(book.values())
    for lvl in levels:
        n = len(lvl.orders)
        if skip >= n:
            skip -= n
            continue
        yield from islice(lvl.orders.values(), skip, None)
        skip = 0


def depth_side(lv, limit, interval, is_ask):
    """[[price, amount], …] of one side, best first, merged into ``interval`` buckets
    (asks rounded up, bids down) when interval > 0."""
    out = []
    if not limit or not lv:
        return out
    keys = lv.keys() if is_ask else reversed(lv.keys())
    if not interval:
        for price in islice(keys, limit):
            out.append([fmt(price), fmt(lv[price].total)])
        return out
    cur = None
    acc = None
    for price in keys:
        q, r = divmod(price, interval)
        b = q * interval
        if is_ask and r:
            b += interval
        if cur is not None and b == cur:
            acc += lv[price].total
            continue
        if cur is not None:
            out.append([fmt(cur), fmt(acc)])
            if len(out) >= limit:
                return out
        cur = b
        acc = lv[price].total
    if cur is not None:
        out.append([fmt(cur), fmt(acc)])
    return out
