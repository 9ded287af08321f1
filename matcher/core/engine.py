"""The matching engine: a deterministic, pure-Python state machine.

See docs/matcher-core.md for the contract and ../shared/spec/matching.md for the
semantics. Nothing here does I/O; every time comes from the command's ``time_us``.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from decimal import Decimal, getcontext, setcontext
from itertools import islice

from sortedcontainers import SortedDict

from .events import BalanceEvent, DealEvent, OrderEvent, order_dict
from .numbers import (
    CTX,
    EXP,
    ONE,
    ZERO,
    ParamError,
    decimals_of,
    fmt,
    parse_decimal,
    parse_trunc,
)

ASK = 1
BID = 2
LIMIT_ORDER = 1
MARKET_ORDER = 2
MAKER = 1
TAKER = 2
EV_PUT = 1
EV_UPDATE = 2
EV_FINISH = 3

U32 = 2**32 - 1
U64 = 2**64 - 1
DAY_US = 86_400 * 1_000_000
MAX_LIST = 101
MAX_PREC = 20
STATE_VERSION = 1

# self-trade prevention modes
STP_NONE = 0
STP_CANCEL_NEWEST = 1
STP_CANCEL_OLDEST = 2
_STP = {"none": STP_NONE, "cancel_newest": STP_CANCEL_NEWEST, "cancel_oldest": STP_CANCEL_OLDEST}
_TIF = ("GTC", "IOC", "FOK")

_NAME_RE = re.compile(r"[A-Z0-9]{1,15}\Z")
_CID_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,36}\Z")

SUCCESS = {"status": "success"}


class CmdError(Exception):
    """A method-specific error (code >= 10)."""

    __slots__ = ("code", "message", "data")

    def __init__(self, code, message, data=None):
        self.code = code
        self.message = message
        self.data = data


class Outcome:
    __slots__ = ("error", "result", "events", "log", "oper_id")

    def __init__(self, error=None, result=None, events=None, log=None, oper_id=None):
        self.error = error
        self.result = result
        self.events = events if events is not None else []
        self.log = log
        self.oper_id = oper_id

    def __repr__(self):
        return (f"Outcome(error={self.error!r}, result={self.result!r}, "
                f"events={len(self.events)}, log={self.log!r}, oper_id={self.oper_id!r})")


class Asset:
    __slots__ = ("name", "prec_save", "prec_show", "exp_save", "exp_show", "zero")

    def __init__(self, name, prec_save, prec_show):
        self.name = name
        self.prec_save = prec_save
        self.prec_show = prec_show
        self.exp_save = EXP[prec_save]
        self.exp_show = EXP[prec_show]
        # x + zero == x.quantize(exp_save) for every x with exponent >= -prec_save (all
        # changes the engine applies: the market precisions are bounded by prec_save)
        self.zero = ZERO.scaleb(-prec_save, CTX)


class Market:
    __slots__ = (
        "name", "stock", "money", "stock_prec", "money_prec", "fee_prec", "min_amount",
        "listed", "sa", "ma", "exp_stock", "exp_money", "exp_fee", "unit_stock",
        "asks", "bids", "n_asks", "n_bids", "orders", "users", "best_ask", "best_bid",
        "amounts", "prices", "rates",
    )

    def __init__(self, name, sa, ma, stock_prec, money_prec, fee_prec, min_amount, listed):
        self.name = name
        self.stock = sa.name
        self.money = ma.name
        self.sa = sa
        self.ma = ma
        self.stock_prec = stock_prec
        self.money_prec = money_prec
        self.fee_prec = fee_prec
        self.min_amount = min_amount
        self.listed = listed
        self.exp_stock = EXP[stock_prec]
        self.exp_money = EXP[money_prec]
        self.exp_fee = EXP[fee_prec]
        self.unit_stock = EXP[stock_prec]
        # price -> Level; best ask = first key, best bid = last key
        self.asks = SortedDict()
        self.bids = SortedDict()
        # cached best levels (None when the side is empty)
        self.best_ask = None
        self.best_bid = None
        # parsed request strings of valid values: str -> (Decimal, str(), fmt())
        self.amounts = {}  # truncated to stock_prec, > 0
        self.prices = {}  # truncated to money_prec, > 0
        self.rates = {}  # truncated to fee_prec, 0 <= rate < 1
        self.n_asks = 0
        self.n_bids = 0
        self.orders = {}  # id -> Order (open orders of this market)
        self.users = {}  # user id -> {id: Order} (insertion = id ascending)


class Level:
    """Orders resting at one price, in time (= id) order, and the sum of their left."""

    __slots__ = ("price", "orders", "total")

    def __init__(self, price):
        self.price = price
        self.orders = OrderedDict()
        self.total = ZERO


class Account:
    __slots__ = ("uid", "avail", "frz")

    def __init__(self, uid):
        self.uid = uid
        self.avail = {}  # asset name -> Decimal > 0
        self.frz = {}


class Order:
    __slots__ = (
        "id", "type", "side", "ctime", "mtime", "user", "mname", "source",
        "price", "amount", "taker_fee", "maker_fee", "left", "freeze", "deal_stock",
        "deal_money", "deal_fee", "cid", "acct",
    )

    def snap(self):
        return (self.id, self.mname, self.source, self.type, self.side, self.user,
                self.ctime, self.mtime, self.price, self.amount, self.taker_fee,
                self.maker_fee, self.left, self.deal_stock, self.deal_money,
                self.deal_fee, self.cid)


def _uint(v, param, maxv):
    if type(v) is not int or v < 0 or v > maxv:
        raise ParamError(param, f"must be an integer 0..{maxv}")
    return v


def _int_range(v, param, lo, hi):
    if type(v) is not int or v < lo or v > hi:
        raise ParamError(param, f"must be an integer {lo}..{hi}")
    return v


def _offset(v):
    if type(v) is not int or v < 0:
        raise ParamError("offset", "must be an integer >= 0")
    return v


def _limit(v):
    if type(v) is not int or v < 0 or v > MAX_LIST:
        raise ParamError("limit", "must be an integer 0..101")
    return v


def _source(v):
    if type(v) is not str:
        raise ParamError("source", "must be a string")
    if len(v) > 30 or (not v.isascii() and len(v.encode()) > 30):
        raise ParamError("source", "at most 30 bytes")
    return v


_CACHE_MAX = 1 << 15


def _remember(cache, v, d):
    """Cache a parsed request string (a pure function of the string: no behaviour)."""
    r = (d, str(d), fmt(d))
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[v] = r
    return r


class Engine:
    """Deterministic matching engine; see docs/matcher-core.md."""

    def __init__(self):
        self.assets = {}  # name -> Asset, creation order
        self.markets = {}  # name -> Market, creation order
        self.pairs = {}  # (stock, money) -> market name
        self.accounts = {}  # uid -> Account
        self.fee_account = 0
        self.oper_seq = 0
        self.order_seq = 0
        self.deal_seq = 0
        self.event_seq = 0
        # balance.update idempotency: (uid, asset, business[:32 bytes] as latin-1 str,
        # business_id) -> time_us of the successful update (insertion = time order)
        self.update_keys = OrderedDict()
        # client_order_id of finished orders: (uid, cid) -> (order_id, time_us)
        self.recent_cids = OrderedDict()
        # client_order_id of open orders: (uid, cid) -> Order
        self.open_cids = {}
        self._handlers = {
            "balance.query": self._balance_query,
            "balance.update": self._balance_update,
            "asset.list": self._asset_list,
            "asset.summary": self._asset_summary,
            "order.put_limit": self._put_limit,
            "order.put_market": self._put_market,
            "order.cancel": self._cancel,
            "order.cancel_all": self._cancel_all,
            "order.book": self._order_book,
            "order.depth": self._order_depth,
            "order.pending": self._order_pending,
            "order.pending_detail": self._order_pending_detail,
            "market.list": self._market_list,
            "market.summary": self._market_summary,
            "asset.put": self._asset_put,
            "market.put": self._market_put,
            "config.fee_account": self._config_fee_account,
        }

    METHODS = (
        "balance.query", "balance.update", "asset.list", "asset.summary",
        "order.put_limit", "order.put_market", "order.cancel", "order.cancel_all",
        "order.book", "order.depth", "order.pending", "order.pending_detail",
        "market.list", "market.summary", "asset.put", "market.put", "config.fee_account",
    )
    MUTATING = frozenset((
        "balance.update", "order.put_limit", "order.put_market", "order.cancel",
        "order.cancel_all", "asset.put", "market.put", "config.fee_account",
    ))

    # ------------------------------------------------------------------ entry point

    def execute(self, method, params, time_us):
        h = self._handlers.get(method)
        if h is None:
            return Outcome((4, "method not found", None))
        if type(params) is not list:
            return Outcome((1, "invalid argument", {"param": "params", "reason": "must be an array"}))
        old = getcontext()
        setcontext(CTX)
        try:
            return h(params, time_us)
        except ParamError as e:
            return Outcome((1, "invalid argument", {"param": e.param, "reason": e.reason}))
        except CmdError as e:
            return Outcome((e.code, e.message, e.data))
        finally:
            setcontext(old)

    # ------------------------------------------------------------------ helpers

    def _market(self, v, for_orders=False):
        m = self.markets.get(v) if type(v) is str else None
        if m is None:
            raise ParamError("market", "unknown market")
        if for_orders and not m.listed:
            raise ParamError("market", "market not listed")
        return m

    def _asset(self, v, param="asset"):
        a = self.assets.get(v) if type(v) is str else None
        if a is None:
            raise ParamError(param, "unknown asset")
        return a

    def _next_seq(self):
        self.event_seq += 1
        return self.event_seq

    def _account(self, uid):
        a = self.accounts.get(uid)
        if a is None:
            a = self.accounts[uid] = Account(uid)
        return a

    @staticmethod
    def _chg(acct, a, x, frz):
        """Apply the exact change x to available (frz False) or freeze of asset a,
        truncate to prec_save, delete a zero entry; return the asset's total.

        Every change has an exponent >= -prec_save, so ``v + x`` is already at
        precision (balances are stored with exponent -prec_save) and a new entry only
        needs the exponent: ``x + a.zero`` (== ``x.quantize(a.exp_save)``)."""
        name = a.name
        if frz:
            d = acct.frz
            o = acct.avail.get(name)
        else:
            d = acct.avail
            o = acct.frz.get(name)
        v = d.get(name)
        nv = x + a.zero if v is None else v + x
        if nv:
            d[name] = nv
        elif v is not None:
            del d[name]
        return nv if o is None else nv + o

    @staticmethod
    def _freeze(acct, a, x):
        name = a.name
        av = acct.avail
        nv = av[name] - x
        if nv:
            av[name] = nv
        else:
            del av[name]
        fz = acct.frz
        v = fz.get(name)
        nv = x + a.zero if v is None else v + x
        if nv:
            fz[name] = nv
        elif v is not None:
            del fz[name]

    @staticmethod
    def _unfreeze(acct, a, x):
        name = a.name
        fz = acct.frz
        nv = fz[name] - x
        if nv:
            fz[name] = nv
        else:
            del fz[name]
        av = acct.avail
        v = av.get(name)
        nv = x + a.zero if v is None else v + x
        if nv:
            av[name] = nv
        elif v is not None:
            del av[name]

    def _done(self, result, events, log):
        self.oper_seq += 1
        return Outcome(None, result, events, log, self.oper_seq)

    # ------------------------------------------------------------------ book

    def _insert(self, m, o):
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
            self.open_cids[(o.user, o.cid)] = o

    def _remove(self, m, o, t):
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
            del self.open_cids[k]
            self._remember_cid(k, oid, t)
        if o.freeze:
            self._unfreeze(o.acct, m.sa if o.side == ASK else m.ma, o.freeze)
            o.freeze = ZERO

    def _remember_cid(self, k, order_id, t):
        rc = self.recent_cids
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

    def _check_cid(self, uid, cid, t, code):
        k = (uid, cid)
        o = self.open_cids.get(k)
        if o is not None:
            raise CmdError(code, "duplicate client order id", {"order_id": o.id})
        r = self.recent_cids.get(k)
        if r is not None and t - r[1] < DAY_US:
            raise CmdError(code, "duplicate client order id", {"order_id": r[0]})

    # ------------------------------------------------------------------ matching

    def _take(self, m, side, mbuy, lim, left, rate, tid, tu, T, stp, t, ev):
        """Match a taker against the opposite side, best price first, each fill at the
        maker's price. The taker is not an Order object (yet): its running values are
        locals. Per fill: deal event, balance rows (taker gives, taker receives, taker
        fee [, fee credit], maker gives (from freeze), maker receives, maker fee
        [, fee credit]), maker update/finish.

        Returns (left, deal_stock, deal_money, deal_fee, stopped); ``stopped`` is True
        when self-trade prevention (cancel_newest) stopped the taker."""
        sa = m.sa
        ma = m.ma
        sn = sa.name
        mn = ma.name
        mkt = m.name
        ask_taker = side == ASK
        # X: what the taker gives (from available) and the maker receives (+ maker fee)
        # Y: what the taker receives (+ taker fee) and the maker gives (from freeze)
        if ask_taker:
            xn, zx, yn, zy = sn, sa.zero, mn, ma.zero
        else:
            xn, zx, yn, zy = mn, ma.zero, sn, sa.zero
        fa = self.fee_account
        F = self.accounts.get(fa) if fa else None
        Tav = T.avail
        Tfz = T.frz
        ds = dm = df = ZERO
        deal_id = self.deal_seq
        seq = self.event_seq
        stopped = False
        append = ev.append
        exp_stock = m.exp_stock
        users = m.users
        while left:
            lvl = m.best_bid if ask_taker else m.best_ask
            if lvl is None:
                break
            price = lvl.price
            if lim is not None:
                if ask_taker:
                    if price < lim:
                        break
                elif price > lim:
                    break
            maker = next(iter(lvl.orders.values()))
            mu = maker.user
            if stp and mu == tu:
                if stp == STP_CANCEL_NEWEST:
                    stopped = True
                    break
                # cancel_oldest: the resting order goes, matching continues
                seq += 1
                append(OrderEvent(seq, t, EV_FINISH, maker.snap(), sn, mn, maker.deal_stock > 0))
                self._remove(m, maker, t)
                continue
            mleft = maker.left
            if mbuy:
                qty = (left / price).quantize(exp_stock)
                while qty * price > left:
                    qty -= exp_stock
                if qty > mleft:
                    qty = mleft
                if qty <= 0:
                    break
            else:
                qty = left if left < mleft else mleft
            lvl.total -= qty
            deal = price * qty
            deal_id += 1
            mid = maker.id
            seq += 1
            if ask_taker:
                mrate = maker.maker_fee
                tf = deal * rate  # ask fee (money)
                mf = qty * mrate  # bid fee (stock)
                append(DealEvent(seq, t, mkt, sn, mn, deal_id, price, qty, deal, side,
                                 tid, mid, tu, mu, tf, mf, TAKER, MAKER))
                gx = qty
                gy = deal
            else:
                mrate = maker.maker_fee
                tf = qty * rate  # bid fee (stock)
                mf = deal * mrate  # ask fee (money)
                append(DealEvent(seq, t, mkt, sn, mn, deal_id, price, qty, deal, side,
                                 mid, tid, mu, tu, mf, tf, MAKER, TAKER))
                gx = deal
                gy = qty
            # ---- taker gives X from available
            tr = (qty, tid, mkt, price, None, None)
            x = -gx
            v = Tav.get(xn)
            nv = x + zx if v is None else v + x
            if nv:
                Tav[xn] = nv
            elif v is not None:
                del Tav[xn]
            o = Tfz.get(xn)
            seq += 1
            append(BalanceEvent(seq, t, tu, xn, "trade", x, nv if o is None else nv + o,
                                None, tr))
            # ---- taker receives Y
            v = Tav.get(yn)
            nv = gy + zy if v is None else v + gy
            if nv:
                Tav[yn] = nv
            elif v is not None:
                del Tav[yn]
            o = Tfz.get(yn)
            seq += 1
            append(BalanceEvent(seq, t, tu, yn, "trade", gy, nv if o is None else nv + o,
                                None, tr))
            # ---- taker pays its fee in Y
            if tf:
                x = -tf
                v = Tav.get(yn)
                nv = x + zy if v is None else v + x
                if nv:
                    Tav[yn] = nv
                elif v is not None:
                    del Tav[yn]
                o = Tfz.get(yn)
                seq += 1
                append(BalanceEvent(seq, t, tu, yn, "trade", x, nv if o is None else nv + o,
                                    None, (qty, tid, mkt, price, rate, None)))
                if fa:
                    if F is None:
                        F = self._account(fa)
                    d = F.avail
                    v = d.get(yn)
                    nv = tf + zy if v is None else v + tf
                    if nv:
                        d[yn] = nv
                    elif v is not None:
                        del d[yn]
                    o = F.frz.get(yn)
                    seq += 1
                    append(BalanceEvent(seq, t, fa, yn, "fee", tf,
                                        nv if o is None else nv + o, None,
                                        (qty, tid, mkt, price, rate, tu)))
            # ---- maker gives Y from freeze
            M = maker.acct
            Mav = M.avail
            Mfz = M.frz
            tr = (qty, mid, mkt, price, None, None)
            x = -gy
            v = Mfz.get(yn)
            nv = x + zy if v is None else v + x
            if nv:
                Mfz[yn] = nv
            elif v is not None:
                del Mfz[yn]
            maker.freeze -= gy
            o = Mav.get(yn)
            seq += 1
            append(BalanceEvent(seq, t, mu, yn, "trade", x, nv if o is None else nv + o,
                                None, tr))
            # ---- maker receives X
            v = Mav.get(xn)
            nv = gx + zx if v is None else v + gx
            if nv:
                Mav[xn] = nv
            elif v is not None:
                del Mav[xn]
            o = Mfz.get(xn)
            seq += 1
            append(BalanceEvent(seq, t, mu, xn, "trade", gx, nv if o is None else nv + o,
                                None, tr))
            # ---- maker pays its fee in X
            if mf:
                x = -mf
                v = Mav.get(xn)
                nv = x + zx if v is None else v + x
                if nv:
                    Mav[xn] = nv
                elif v is not None:
                    del Mav[xn]
                o = Mfz.get(xn)
                seq += 1
                append(BalanceEvent(seq, t, mu, xn, "trade", x, nv if o is None else nv + o,
                                    None, (qty, mid, mkt, price, mrate, None)))
                if fa:
                    if F is None:
                        F = self._account(fa)
                    d = F.avail
                    v = d.get(xn)
                    nv = mf + zx if v is None else v + mf
                    if nv:
                        d[xn] = nv
                    elif v is not None:
                        del d[xn]
                    o = F.frz.get(xn)
                    seq += 1
                    append(BalanceEvent(seq, t, fa, xn, "fee", mf,
                                        nv if o is None else nv + o, None,
                                        (qty, mid, mkt, price, mrate, mu)))
            # ---- accumulators
            df += tf
            maker.deal_fee += mf
            left -= deal if mbuy else qty
            ds += qty
            dm += deal
            maker.left = mleft = mleft - qty
            maker.deal_stock += qty
            maker.deal_money += deal
            maker.mtime = t
            seq += 1
            if mleft:
                append(OrderEvent(seq, t, EV_UPDATE, maker.snap(), sn, mn, False))
            else:
                append(OrderEvent(seq, t, EV_FINISH, maker.snap(), sn, mn, True))
                if maker.cid is not None or maker.freeze:
                    self._remove(m, maker, t)
                    continue
                # _remove inlined for the common case: the maker is first at the best level
                orders = lvl.orders
                del orders[mid]
                if not orders:
                    if ask_taker:
                        book = m.bids
                        book.popitem(-1)
                        m.best_bid = book.peekitem(-1)[1] if book else None
                    else:
                        book = m.asks
                        book.popitem(0)
                        m.best_ask = book.peekitem(0)[1] if book else None
                if ask_taker:
                    m.n_bids -= 1
                else:
                    m.n_asks -= 1
                del m.orders[mid]
                u = users[mu]
                del u[mid]
                if not u:
                    del users[mu]
        self.deal_seq = deal_id
        self.event_seq = seq
        return left, ds, dm, df, stopped

    @staticmethod
    def _iter_side(book, is_ask):
        """Resting orders of one side, best first (price-time priority)."""
        levels = book.values() if is_ask else reversed(book.values())
        for lvl in levels:
            yield from lvl.orders.values()

    def _fok_fillable(self, m, side, price, amount, uid, stp):
        need = amount
        for mk in self._iter_side(m.bids if side == ASK else m.asks, side == BID):
            p = mk.price
            if side == ASK:
                if p < price:
                    return False
            elif p > price:
                return False
            if stp and mk.user == uid:
                if stp == STP_CANCEL_NEWEST:
                    return False
                continue
            need -= mk.left
            if need <= 0:
                return True
        return False

    def _options(self, v, is_limit):
        if type(v) is not dict:
            raise ParamError("options", "must be an object")
        tif = "GTC"
        post = False
        stp = STP_NONE
        cid = None
        norm = {}
        for k, x in v.items():
            if k == "time_in_force" and is_limit:
                if type(x) is not str or x not in _TIF:
                    raise ParamError("options.time_in_force", "must be GTC, IOC or FOK")
                tif = x
            elif k == "post_only" and is_limit:
                if type(x) is not bool:
                    raise ParamError("options.post_only", "must be a boolean")
                post = x
            elif k == "self_trade":
                if type(x) is not str or x not in _STP:
                    raise ParamError("options.self_trade",
                                     "must be none, cancel_newest or cancel_oldest")
                stp = _STP[x]
            elif k == "client_order_id":
                if type(x) is not str or _CID_RE.match(x) is None:
                    raise ParamError("options.client_order_id",
                                     "1-36 characters [A-Za-z0-9_.:-]")
                cid = x
            else:
                raise ParamError("options", f"unknown option {k!r}")
            norm[k] = x
        if post and tif != "GTC":
            raise ParamError("options.post_only", "only with time_in_force GTC")
        return tif, post, stp, cid, norm

    # ------------------------------------------------------------------ orders

    def _amount(self, m, v):
        """The order amount param (truncated to stock_prec, > 0) as (Decimal, str, fmt)."""
        r = m.amounts.get(v) if type(v) is str else None
        if r is None:
            d = parse_trunc(v, "amount", m.exp_stock)
            if d <= 0:
                raise ParamError("amount", "must be > 0")
            r = _remember(m.amounts, v, d)
        return r

    def _price(self, m, v):
        r = m.prices.get(v) if type(v) is str else None
        if r is None:
            d = parse_trunc(v, "price", m.exp_money)
            if d <= 0:
                raise ParamError("price", "must be > 0")
            r = _remember(m.prices, v, d)
        return r

    @staticmethod
    def _rate(v, param, m):
        r = m.rates.get(v) if type(v) is str else None
        if r is None:
            d = parse_trunc(v, param, m.exp_fee)
            if d < 0 or d >= ONE:
                raise ParamError(param, "must be 0 <= rate < 1")
            r = _remember(m.rates, v, d)
        return r

    def _put_limit(self, p, t):
        n = len(p)
        if n != 8 and n != 9:
            raise ParamError("params", "expected 8 params (9 with options)")
        uid = p[0]
        if type(uid) is not int or uid < 0 or uid > U32:
            raise ParamError("user_id", "must be an integer 0..4294967295")
        m = p[1]
        m = self.markets.get(m) if type(m) is str else None
        if m is None:
            raise ParamError("market", "unknown market")
        if not m.listed:
            raise ParamError("market", "market not listed")
        side = p[2]
        if type(side) is not int or (side != ASK and side != BID):
            raise ParamError("side", "must be 1 or 2")
        v = p[3]
        r = m.amounts.get(v) if type(v) is str else None
        amount, amount_s, amount_f = r if r is not None else self._amount(m, v)
        v = p[4]
        r = m.prices.get(v) if type(v) is str else None
        price, price_s, price_f = r if r is not None else self._price(m, v)
        rates = m.rates
        v = p[5]
        r = rates.get(v) if type(v) is str else None
        taker_fee, tf_s, tf_f = r if r is not None else self._rate(v, "taker_fee_rate", m)
        v = p[6]
        r = rates.get(v) if type(v) is str else None
        maker_fee, mf_s, mf_f = r if r is not None else self._rate(v, "maker_fee_rate", m)
        source = p[7]
        if type(source) is not str or len(source) > 30 or not source.isascii():
            source = _source(source)
        if n == 9:
            tif, post, stp, cid, norm = self._options(p[8], True)
            if cid is not None:
                self._check_cid(uid, cid, t, 14)
        else:
            tif = "GTC"
            post = False
            stp = STP_NONE
            cid = norm = None
        acct = self.accounts.get(uid)
        if side == ASK:
            have = acct.avail.get(m.stock) if acct is not None else None
            if have is None or have < amount:
                raise CmdError(10, "balance not enough")
        else:
            have = acct.avail.get(m.money) if acct is not None else None
            if have is None or have < amount * price:
                raise CmdError(10, "balance not enough")
        if amount < m.min_amount:
            raise CmdError(11, "amount too small")
        if side == ASK:
            best = m.best_bid
            crosses = best is not None and best.price >= price
        else:
            best = m.best_ask
            crosses = best is not None and best.price <= price
        if post and crosses:
            raise CmdError(12, "order would trade")
        if tif == "FOK" and not self._fok_fillable(m, side, price, amount, uid, stp):
            raise CmdError(13, "fill or kill not satisfied")

        # ---- all checks passed: mutate
        self.order_seq = oid = self.order_seq + 1
        ev = []
        if crosses:
            left, ds, dm, df, stopped = self._take(m, side, False, price, amount, taker_fee,
                                                   oid, uid, acct, stp, t, ev)
        else:
            left = amount
            ds = dm = df = ZERO
            stopped = False
        mname = m.name
        seq = self.event_seq = self.event_seq + 1
        if not left or stopped or tif != "GTC":
            ev.append(OrderEvent(seq, t, EV_FINISH,
                                 (oid, mname, source, LIMIT_ORDER, side, uid, t, t, price,
                                  amount, taker_fee, maker_fee, left, ds, dm, df, cid),
                                 m.stock, m.money, ds > 0))
            if cid is not None:
                self._remember_cid((uid, cid), oid, t)
        else:
            ev.append(OrderEvent(seq, t, EV_PUT,
                                 (oid, mname, source, LIMIT_ORDER, side, uid, t, t, price,
                                  amount, taker_fee, maker_fee, left, ds, dm, df, cid),
                                 m.stock, m.money, False))
            o = Order()
            o.id = oid
            o.type = LIMIT_ORDER
            o.side = side
            o.ctime = o.mtime = t
            o.user = uid
            o.mname = mname
            o.source = source
            o.price = price
            o.amount = amount
            o.taker_fee = taker_fee
            o.maker_fee = maker_fee
            o.left = left
            o.deal_stock = ds
            o.deal_money = dm
            o.deal_fee = df
            o.cid = cid
            o.acct = acct
            # ---- _insert and _freeze inlined
            if side == ASK:
                o.freeze = f = left
                a = m.sa
                book = m.asks
                m.n_asks += 1
                lvl = book.get(price)
                if lvl is None:
                    lvl = book[price] = Level(price)
                    b = m.best_ask
                    if b is None or price < b.price:
                        m.best_ask = lvl
            else:
                o.freeze = f = price * left
                a = m.ma
                book = m.bids
                m.n_bids += 1
                lvl = book.get(price)
                if lvl is None:
                    lvl = book[price] = Level(price)
                    b = m.best_bid
                    if b is None or price > b.price:
                        m.best_bid = lvl
            lvl.orders[oid] = o
            lvl.total += left
            m.orders[oid] = o
            u = m.users.get(uid)
            if u is None:
                m.users[uid] = {oid: o}
            else:
                u[oid] = o
            if cid is not None:
                self.open_cids[(uid, cid)] = o
            name = a.name
            av = acct.avail
            nv = av[name] - f
            if nv:
                av[name] = nv
            else:
                del av[name]
            fz = acct.frz
            v = fz.get(name)
            nv = f + a.zero if v is None else v + f
            if nv:
                fz[name] = nv
            elif v is not None:
                del fz[name]
        log = [uid, mname, side, amount_s, price_s, tf_s, mf_s, source]
        if norm is not None:
            log.append(norm)
        ct = t / 1e6
        res = {
            "id": oid, "market": mname, "source": source, "type": LIMIT_ORDER, "side": side,
            "user": uid, "ctime": ct, "mtime": ct, "price": price_f, "amount": amount_f,
            "taker_fee": tf_f, "maker_fee": mf_f,
            "left": amount_f if left is amount else fmt(left),
            "deal_stock": "0" if ds is ZERO else fmt(ds),
            "deal_money": "0" if dm is ZERO else fmt(dm),
            "deal_fee": "0" if df is ZERO else fmt(df),
        }
        if cid is not None:
            res["client_order_id"] = cid
        self.oper_seq += 1
        return Outcome(None, res, ev, log, self.oper_seq)

    def _put_market(self, p, t):
        n = len(p)
        if n != 6 and n != 7:
            raise ParamError("params", "expected 6 params (7 with options)")
        uid = _uint(p[0], "user_id", U32)
        m = self._market(p[1], True)
        side = p[2]
        if type(side) is not int or (side != ASK and side != BID):
            raise ParamError("side", "must be 1 or 2")
        # C quirk: a market buy's amount (money) is truncated to stock_prec too
        amount, amount_s, amount_f = self._amount(m, p[3])
        taker_fee, tf_s, tf_f = self._rate(p[4], "taker_fee_rate", m)
        source = _source(p[5])
        if n == 7:
            _, _, stp, cid, norm = self._options(p[6], False)
            if cid is not None:
                self._check_cid(uid, cid, t, 13)
        else:
            stp = STP_NONE
            cid = norm = None
        acct = self.accounts.get(uid)
        have = None
        if acct is not None:
            have = acct.avail.get(m.stock if side == ASK else m.money)
        if have is None or have < amount:
            raise CmdError(10, "balance not enough")
        if side == ASK:
            if m.best_bid is None:
                raise CmdError(12, "no enough trader")
            if amount < m.min_amount:
                raise CmdError(11, "amount too small")
        else:
            if m.best_ask is None:
                raise CmdError(12, "no enough trader")
            if amount < m.best_ask.price * m.min_amount:
                raise CmdError(11, "amount too small")

        self.order_seq = oid = self.order_seq + 1
        ev = []
        left, ds, dm, df, _ = self._take(m, side, side == BID, None, amount, taker_fee,
                                         oid, uid, acct, stp, t, ev)
        snap = (oid, m.name, source, MARKET_ORDER, side, uid, t, t, ZERO, amount, taker_fee,
                ZERO, left, ds, dm, df, cid)
        seq = self.event_seq = self.event_seq + 1
        ev.append(OrderEvent(seq, t, EV_FINISH, snap, m.stock, m.money, True))
        if cid is not None:
            self._remember_cid((uid, cid), oid, t)
        log = [uid, m.name, side, amount_s, tf_s, source]
        if norm is not None:
            log.append(norm)
        self.oper_seq += 1
        return Outcome(None, order_dict(snap), ev, log, self.oper_seq)

    def _cancel(self, p, t):
        if len(p) != 3:
            raise ParamError("params", "expected 3 params")
        uid = _uint(p[0], "user_id", U32)
        m = self._market(p[1])
        order_id = _uint(p[2], "order_id", U64)
        o = m.orders.get(order_id)
        if o is None:
            raise CmdError(10, "order not found")
        if o.user != uid:
            raise CmdError(11, "user not match")
        snap = o.snap()
        seq = self.event_seq = self.event_seq + 1
        ev = [OrderEvent(seq, t, EV_FINISH, snap, m.stock, m.money, o.deal_stock > 0)]
        self._remove(m, o, t)
        return self._done(order_dict(snap), ev, [uid, m.name, order_id])

    def _cancel_all(self, p, t):
        n = len(p)
        if n != 2 and n != 3:
            raise ParamError("params", "expected 2 or 3 params")
        uid = _uint(p[0], "user_id", U32)
        m = self._market(p[1])
        side = 0
        if n == 3:
            side = p[2]
            if type(side) is not int or side not in (0, ASK, BID):
                raise ParamError("side", "must be 0, 1 or 2")
        ids = []
        ev = []
        u = m.users.get(uid)
        if u:
            for o in list(u.values()):
                if side and o.side != side:
                    continue
                seq = self.event_seq = self.event_seq + 1
                ev.append(OrderEvent(seq, t, EV_FINISH, o.snap(), m.stock, m.money,
                                     o.deal_stock > 0))
                self._remove(m, o, t)
                ids.append(o.id)
        log = [uid, m.name] if n == 2 else [uid, m.name, side]
        return self._done({"count": len(ids), "orders": ids}, ev, log)

    # ------------------------------------------------------------------ balances

    def _balance_update(self, p, t):
        if len(p) != 6:
            raise ParamError("params", "expected 6 params")
        uid = _uint(p[0], "user_id", U32)
        a = self._asset(p[1])
        business = p[2]
        if type(business) is not str:
            raise ParamError("business", "must be a string")
        if len(business) > 30:
            raise ParamError("business", "at most 30 characters")
        if "," in business:
            raise ParamError("business", "must not contain a comma")
        business_id = _uint(p[3], "business_id", U64)
        change = parse_trunc(p[4], "change", a.exp_show)
        if not change:
            change = change.copy_abs()
        detail = p[5]
        if type(detail) is not dict:
            raise ParamError("detail", "must be an object")
        key = (uid, a.name, business.encode()[:32].decode("latin-1"), business_id)
        keys = self.update_keys
        kt = keys.get(key)
        if kt is not None and t - kt < DAY_US:
            raise CmdError(10, "repeat update")
        acct = self.accounts.get(uid)
        if change < 0:
            have = acct.avail.get(a.name) if acct is not None else None
            if have is None or have < -change:
                raise CmdError(11, "balance not enough")
        if acct is None:
            acct = self._account(uid)
        tot = self._chg(acct, a, change, False)
        d = dict(detail)
        d["id"] = business_id
        seq = self.event_seq = self.event_seq + 1
        ev = [BalanceEvent(seq, t, uid, a.name, business, change, tot, d)]
        if kt is not None:
            del keys[key]
        keys[key] = t
        lim = t - DAY_US
        while keys:
            first = next(iter(keys))
            if keys[first] <= lim:
                del keys[first]
            else:
                break
        return self._done(SUCCESS.copy(), ev, [uid, a.name, business, business_id, str(change), detail])

    def _balance_query(self, p, t):
        if not p:
            raise ParamError("params", "expected user_id")
        uid = p[0]
        if type(uid) is not int or uid < 1 or uid > U32:
            raise ParamError("user_id", "must be an integer 1..4294967295")
        if len(p) == 1:
            assets = list(self.assets.values())
        else:
            assets = [self._asset(x) for x in p[1:]]
        acct = self.accounts.get(uid)
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
        return Outcome(None, res)

    def _asset_list(self, p, t):
        return Outcome(None, [{"name": a.name, "prec": a.prec_show} for a in self.assets.values()])

    def _asset_summary(self, p, t):
        if p:
            assets = [self._asset(x) for x in p]
        else:
            assets = list(self.assets.values())
        res = []
        accts = self.accounts.values()
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
        return Outcome(None, res)

    # ------------------------------------------------------------------ order queries

    def _order_book(self, p, t):
        if len(p) != 4:
            raise ParamError("params", "expected 4 params")
        m = self._market(p[0])
        side = p[1]
        if type(side) is not int or (side != ASK and side != BID):
            raise ParamError("side", "must be 1 or 2")
        offset = _offset(p[2])
        limit = _limit(p[3])
        if side == ASK:
            book = m.asks
            total = m.n_asks
        else:
            book = m.bids
            total = m.n_bids
        orders = []
        if limit and offset < total:
            skip = offset  # whole levels before the offset are skipped by their size
            for o in self._iter_side_from(book, side == ASK, skip):
                orders.append(order_dict(o.snap()))
                if len(orders) >= limit:
                    break
        return Outcome(None, {"offset": offset, "limit": limit, "total": total, "orders": orders})

    @staticmethod
    def _iter_side_from(book, is_ask, skip):
        levels = book.values() if is_ask else reversed(book.values())
        for lvl in levels:
            n = len(lvl.orders)
            if skip >= n:
                skip -= n
                continue
            yield from islice(lvl.orders.values(), skip, None)
            skip = 0

    def _order_pending(self, p, t):
        if len(p) != 4:
            raise ParamError("params", "expected 4 params")
        uid = _uint(p[0], "user_id", U32)
        m = self._market(p[1])
        offset = _offset(p[2])
        limit = _limit(p[3])
        u = m.users.get(uid)
        total = len(u) if u else 0
        recs = []
        if u and limit and offset < total:
            recs = [order_dict(o.snap()) for o in islice(reversed(u.values()), offset, offset + limit)]
        return Outcome(None, {"limit": limit, "offset": offset, "total": total, "records": recs})

    def _order_pending_detail(self, p, t):
        if len(p) != 2:
            raise ParamError("params", "expected 2 params")
        m = self._market(p[0])
        order_id = _uint(p[1], "order_id", U64)
        o = m.orders.get(order_id)
        return Outcome(None, None if o is None else order_dict(o.snap()))

    def _order_depth(self, p, t):
        if len(p) != 3:
            raise ParamError("params", "expected 3 params")
        m = self._market(p[0])
        limit = _limit(p[1])
        interval = parse_trunc(p[2], "interval", m.exp_money)
        if interval < 0:
            raise ParamError("interval", "must be >= 0")
        return Outcome(None, {
            "asks": self._depth_side(m.asks, limit, interval, True),
            "bids": self._depth_side(m.bids, limit, interval, False),
        })

    @staticmethod
    def _depth_side(lv, limit, interval, is_ask):
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

    # ------------------------------------------------------------------ markets

    def _market_list(self, p, t):
        return Outcome(None, [{
            "name": m.name, "stock": m.stock, "money": m.money, "fee_prec": m.fee_prec,
            "stock_prec": m.stock_prec, "money_prec": m.money_prec,
            "min_amount": fmt(m.min_amount),
        } for m in self.markets.values()])

    def _market_summary(self, p, t):
        if p:
            markets = [self._market(x) for x in p]
        else:
            markets = list(self.markets.values())
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
        return Outcome(None, res)

    # ------------------------------------------------------------------ configuration

    def _asset_put(self, p, t):
        if len(p) != 3:
            raise ParamError("params", "expected 3 params")
        name = p[0]
        if type(name) is not str or _NAME_RE.match(name) is None:
            raise ParamError("name", "must match [A-Z0-9]{1,15}")
        prec_save = _int_range(p[1], "prec_save", 0, MAX_PREC)
        prec_show = _int_range(p[2], "prec_show", 0, MAX_PREC)
        if prec_show > prec_save:
            raise ParamError("prec_show", "must be <= prec_save")
        a = self.assets.get(name)
        if a is None:
            self.assets[name] = Asset(name, prec_save, prec_show)
        else:
            if prec_save != a.prec_save:
                raise ParamError("prec_save", "fixed once the asset exists")
            a.prec_show = prec_show
            a.exp_show = EXP[prec_show]
        return self._done(SUCCESS.copy(), [], [name, prec_save, prec_show])

    def _market_put(self, p, t):
        if len(p) != 8:
            raise ParamError("params", "expected 8 params")
        name = p[0]
        if type(name) is not str or _NAME_RE.match(name) is None:
            raise ParamError("name", "must match [A-Z0-9]{1,15}")
        sa = self._asset(p[1], "stock")
        ma = self._asset(p[2], "money")
        if sa is ma:
            raise ParamError("money", "must differ from stock")
        sp = _int_range(p[3], "stock_prec", 0, MAX_PREC)
        mp = _int_range(p[4], "money_prec", 0, MAX_PREC)
        fp = _int_range(p[5], "fee_prec", 0, MAX_PREC)
        min_amount = parse_decimal(p[6], "min_amount")
        if min_amount <= 0:
            raise ParamError("min_amount", "must be > 0")
        if decimals_of(min_amount) > sp:
            raise ParamError("min_amount", "more decimals than stock_prec")
        min_amount = min_amount.quantize(EXP[sp])
        listed = p[7]
        if type(listed) is not bool:
            raise ParamError("listed", "must be a boolean")
        m = self.markets.get(name)
        if m is None:
            if ma.prec_save < sp + mp + fp:
                raise ParamError("money_prec", "prec_save(money) must be >= stock_prec + money_prec + fee_prec")
            if sa.prec_save < sp + fp:
                raise ParamError("stock_prec", "prec_save(stock) must be >= stock_prec + fee_prec")
            other = self.pairs.get((sa.name, ma.name))
            if other is not None:
                raise ParamError("stock", f"market {other} already trades this pair")
            self.markets[name] = Market(name, sa, ma, sp, mp, fp, min_amount, listed)
            self.pairs[(sa.name, ma.name)] = name
        else:
            if (sa.name, ma.name) != (m.stock, m.money):
                raise ParamError("stock", "the pair is fixed once the market exists")
            if (sp, mp, fp) != (m.stock_prec, m.money_prec, m.fee_prec):
                raise ParamError("stock_prec", "precisions are fixed once the market exists")
            m.min_amount = min_amount
            m.listed = listed
        return self._done(SUCCESS.copy(), [],
                          [name, sa.name, ma.name, sp, mp, fp, str(min_amount), listed])

    def _config_fee_account(self, p, t):
        if len(p) != 1:
            raise ParamError("params", "expected 1 param")
        self.fee_account = _uint(p[0], "user_id", U32)
        return self._done(SUCCESS.copy(), [], [self.fee_account])

    # ------------------------------------------------------------------ state

    def dump_state(self) -> dict:
        """JSON-able full state (decimals as exact strings)."""
        balances = []
        for uid in sorted(self.accounts):
            acct = self.accounts[uid]
            for name in sorted(set(acct.avail) | set(acct.frz)):
                v = acct.avail.get(name)
                f = acct.frz.get(name)
                balances.append({"user": uid, "asset": name,
                                 "available": "0" if v is None else str(v),
                                 "freeze": "0" if f is None else str(f)})
        orders = []
        for m in self.markets.values():
            for o in m.orders.values():
                orders.append(o)
        orders.sort(key=lambda o: o.id)
        return {
            "version": STATE_VERSION,
            "counters": {"oper_seq": self.oper_seq, "order_seq": self.order_seq,
                         "deal_seq": self.deal_seq, "event_seq": self.event_seq},
            "fee_account": self.fee_account,
            "assets": [{"name": a.name, "prec_save": a.prec_save, "prec_show": a.prec_show}
                       for a in self.assets.values()],
            "markets": [{"name": m.name, "stock": m.stock, "money": m.money,
                         "stock_prec": m.stock_prec, "money_prec": m.money_prec,
                         "fee_prec": m.fee_prec, "min_amount": str(m.min_amount),
                         "listed": m.listed} for m in self.markets.values()],
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
            "update_keys": [[k[0], k[1], k[2], k[3], v] for k, v in self.update_keys.items()],
            "recent_client_order_ids": [[k[0], k[1], v[0], v[1]]
                                        for k, v in self.recent_cids.items()],
        }

    @classmethod
    def load_state(cls, d: dict) -> "Engine":
        old = getcontext()
        setcontext(CTX)
        try:
            return cls._load(d)
        finally:
            setcontext(old)

    @classmethod
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
            acct = e._account(b["user"])
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
            o.acct = e._account(o.user)
            e._insert(m, o)
        for uid, asset, business, business_id, tu in d["update_keys"]:
            e.update_keys[(uid, asset, business, business_id)] = tu
        for uid, cid, oid, tu in d["recent_client_order_ids"]:
            e.recent_cids[(uid, cid)] = (oid, tu)
        return e

    def state_hash(self) -> str:
        s = json.dumps(self.dump_state(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(s.encode()).hexdigest()
