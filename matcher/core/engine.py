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
    __slots__ = ("name", "prec_save", "prec_show", "exp_save", "exp_show")

    def __init__(self, name, prec_save, prec_show):
        self.name = name
        self.prec_save = prec_save
        self.prec_show = prec_show
        self.exp_save = EXP[prec_save]
        self.exp_show = EXP[prec_show]


class Market:
    __slots__ = (
        "name", "stock", "money", "stock_prec", "money_prec", "fee_prec", "min_amount",
        "listed", "sa", "ma", "exp_stock", "exp_money", "exp_fee", "unit_stock",
        "asks", "bids", "n_asks", "n_bids", "orders", "users",
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
        self.n_asks = 0
        self.n_bids = 0
        self.orders = {}  # id -> Order (open orders of this market)
        self.users = {}  # user id -> {id: Order} (insertion = id ascending)


class Level:
    """Orders resting at one price, in time (= id) order, and the sum of their left."""

    __slots__ = ("orders", "total")

    def __init__(self):
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
        "id", "type", "side", "ctime", "mtime", "user", "market", "mname", "source",
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

    @staticmethod
    def _rate(v, param, m):
        r = parse_trunc(v, param, m.exp_fee)
        if r < 0 or r >= ONE:
            raise ParamError(param, "must be 0 <= rate < 1")
        return r

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
        truncate to prec_save, delete a zero entry; return the asset's total."""
        name = a.name
        if frz:
            d = acct.frz
            o = acct.avail.get(name)
        else:
            d = acct.avail
            o = acct.frz.get(name)
        v = d.get(name)
        nv = (x if v is None else v + x).quantize(a.exp_save)
        if nv:
            d[name] = nv
        elif v is not None:
            del d[name]
        return nv if o is None else nv + o

    def _freeze(self, acct, a, x):
        name = a.name
        av = acct.avail
        nv = (av[name] - x).quantize(a.exp_save)
        if nv:
            av[name] = nv
        else:
            del av[name]
        fz = acct.frz
        v = fz.get(name)
        nv = (x if v is None else v + x).quantize(a.exp_save)
        if nv:
            fz[name] = nv
        elif v is not None:
            del fz[name]

    def _unfreeze(self, acct, a, x):
        name = a.name
        fz = acct.frz
        nv = (fz[name] - x).quantize(a.exp_save)
        if nv:
            fz[name] = nv
        else:
            del fz[name]
        av = acct.avail
        v = av.get(name)
        nv = (x if v is None else v + x).quantize(a.exp_save)
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
        else:
            book = m.bids
            m.n_bids += 1
        lvl = book.get(p)
        if lvl is None:
            lvl = book[p] = Level()
        lvl.orders[o.id] = o
        lvl.total += o.left
        m.orders[o.id] = o
        u = m.users.get(o.user)
        if u is None:
            u = m.users[o.user] = {}
        u[o.id] = o
        if o.cid is not None:
            self.open_cids[(o.user, o.cid)] = o

    def _remove(self, m, o, t):
        """Finish a resting order: out of book and indexes, unfreeze the remainder."""
        p = o.price
        if o.side == ASK:
            book = m.asks
            m.n_asks -= 1
        else:
            book = m.bids
            m.n_bids -= 1
        lvl = book[p]
        del lvl.orders[o.id]
        if lvl.orders:
            if o.left:
                lvl.total -= o.left
        else:
            del book[p]
        del m.orders[o.id]
        u = m.users[o.user]
        del u[o.id]
        if not u:
            del m.users[o.user]
        if o.cid is not None:
            k = (o.user, o.cid)
            del self.open_cids[k]
            self._remember_cid(k, o.id, t)
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

    def _trade(self, m, taker, maker, price, qty, t, ev):
        """One fill at the maker's price; events: deal, balance rows, maker update/finish."""
        deal = price * qty
        self.deal_seq = deal_id = self.deal_seq + 1
        sa = m.sa
        ma = m.ma
        mkt = m.name
        T = taker.acct
        M = maker.acct
        chg = self._chg
        seq = self.event_seq
        if taker.side == ASK:
            ask, bid = taker, maker
            ask_rate = taker.taker_fee
            bid_rate = maker.maker_fee
            ask_role, bid_role = TAKER, MAKER
        else:
            ask, bid = maker, taker
            ask_rate = maker.maker_fee
            bid_rate = taker.taker_fee
            ask_role, bid_role = MAKER, TAKER
        ask_fee = deal * ask_rate
        bid_fee = qty * bid_rate
        seq += 1
        ev.append(DealEvent(seq, t, mkt, sa.name, ma.name, deal_id, price, qty, deal,
                            taker.side, ask.id, bid.id, ask.user, bid.user, ask_fee,
                            bid_fee, ask_role, bid_role))
        tid = taker.id
        mid = maker.id
        tu = taker.user
        mu = maker.user
        fa = self.fee_account
        if taker.side == ASK:
            # taker gives stock (available), receives money, pays fee in money
            tot = chg(T, sa, -qty, False)
            seq += 1
            ev.append(BalanceEvent(seq, t, tu, sa.name, "trade", -qty, tot, None,
                                   (qty, tid, mkt, price, None, None)))
            tot = chg(T, ma, deal, False)
            seq += 1
            ev.append(BalanceEvent(seq, t, tu, ma.name, "trade", deal, tot, None,
                                   (qty, tid, mkt, price, None, None)))
            if ask_fee:
                tot = chg(T, ma, -ask_fee, False)
                seq += 1
                ev.append(BalanceEvent(seq, t, tu, ma.name, "trade", -ask_fee, tot, None,
                                       (qty, tid, mkt, price, ask_rate, None)))
                if fa:
                    tot = chg(self._account(fa), ma, ask_fee, False)
                    seq += 1
                    ev.append(BalanceEvent(seq, t, fa, ma.name, "fee", ask_fee, tot, None,
                                           (qty, tid, mkt, price, ask_rate, tu)))
            # maker gives money from freeze, receives stock, pays fee in stock
            tot = chg(M, ma, -deal, True)
            maker.freeze -= deal
            seq += 1
            ev.append(BalanceEvent(seq, t, mu, ma.name, "trade", -deal, tot, None,
                                   (qty, mid, mkt, price, None, None)))
            tot = chg(M, sa, qty, False)
            seq += 1
            ev.append(BalanceEvent(seq, t, mu, sa.name, "trade", qty, tot, None,
                                   (qty, mid, mkt, price, None, None)))
            if bid_fee:
                tot = chg(M, sa, -bid_fee, False)
                seq += 1
                ev.append(BalanceEvent(seq, t, mu, sa.name, "trade", -bid_fee, tot, None,
                                       (qty, mid, mkt, price, bid_rate, None)))
                if fa:
                    tot = chg(self._account(fa), sa, bid_fee, False)
                    seq += 1
                    ev.append(BalanceEvent(seq, t, fa, sa.name, "fee", bid_fee, tot, None,
                                           (qty, mid, mkt, price, bid_rate, mu)))
            taker.deal_fee += ask_fee
            maker.deal_fee += bid_fee
        else:
            # taker gives money (available), receives stock, pays fee in stock
            tot = chg(T, ma, -deal, False)
            seq += 1
            ev.append(BalanceEvent(seq, t, tu, ma.name, "trade", -deal, tot, None,
                                   (qty, tid, mkt, price, None, None)))
            tot = chg(T, sa, qty, False)
            seq += 1
            ev.append(BalanceEvent(seq, t, tu, sa.name, "trade", qty, tot, None,
                                   (qty, tid, mkt, price, None, None)))
            if bid_fee:
                tot = chg(T, sa, -bid_fee, False)
                seq += 1
                ev.append(BalanceEvent(seq, t, tu, sa.name, "trade", -bid_fee, tot, None,
                                       (qty, tid, mkt, price, bid_rate, None)))
                if fa:
                    tot = chg(self._account(fa), sa, bid_fee, False)
                    seq += 1
                    ev.append(BalanceEvent(seq, t, fa, sa.name, "fee", bid_fee, tot, None,
                                           (qty, tid, mkt, price, bid_rate, tu)))
            # maker gives stock from freeze, receives money, pays fee in money
            tot = chg(M, sa, -qty, True)
            maker.freeze -= qty
            seq += 1
            ev.append(BalanceEvent(seq, t, mu, sa.name, "trade", -qty, tot, None,
                                   (qty, mid, mkt, price, None, None)))
            tot = chg(M, ma, deal, False)
            seq += 1
            ev.append(BalanceEvent(seq, t, mu, ma.name, "trade", deal, tot, None,
                                   (qty, mid, mkt, price, None, None)))
            if ask_fee:
                tot = chg(M, ma, -ask_fee, False)
                seq += 1
                ev.append(BalanceEvent(seq, t, mu, ma.name, "trade", -ask_fee, tot, None,
                                       (qty, mid, mkt, price, ask_rate, None)))
                if fa:
                    tot = chg(self._account(fa), ma, ask_fee, False)
                    seq += 1
                    ev.append(BalanceEvent(seq, t, fa, ma.name, "fee", ask_fee, tot, None,
                                           (qty, mid, mkt, price, ask_rate, mu)))
            taker.deal_fee += bid_fee
            maker.deal_fee += ask_fee
        # accumulators
        if taker.type == MARKET_ORDER and taker.side == BID:
            taker.left -= deal
        else:
            taker.left -= qty
        taker.deal_stock += qty
        taker.deal_money += deal
        taker.mtime = t
        maker.left -= qty
        maker.deal_stock += qty
        maker.deal_money += deal
        maker.mtime = t
        seq += 1
        if maker.left:
            self.event_seq = seq
            ev.append(OrderEvent(seq, t, EV_UPDATE, maker.snap(), sa.name, ma.name, False))
        else:
            self.event_seq = seq
            ev.append(OrderEvent(seq, t, EV_FINISH, maker.snap(), sa.name, ma.name, True))
            self._remove(m, maker, t)

    def _match(self, m, o, stp, t, ev):
        """Match taker o against the opposite side. Returns True when self-trade
        prevention (cancel_newest) stopped the taker."""
        if o.side == ASK:
            book = m.bids
            best = -1
        else:
            book = m.asks
            best = 0
        limit = o.price if o.type == LIMIT_ORDER else None
        mbuy = o.type == MARKET_ORDER and o.side == BID
        side = o.side
        uid = o.user
        trade = self._trade
        while o.left:
            if not book:
                break
            price, lvl = book.peekitem(best)
            if limit is not None:
                if side == ASK:
                    if price < limit:
                        break
                elif price > limit:
                    break
            maker = next(iter(lvl.orders.values()))
            if stp and maker.user == uid:
                if stp == STP_CANCEL_NEWEST:
                    return True
                # cancel_oldest: the resting order goes, matching continues
                seq = self.event_seq = self.event_seq + 1
                ev.append(OrderEvent(seq, t, EV_FINISH, maker.snap(), m.stock, m.money,
                                     maker.deal_stock > 0))
                self._remove(m, maker, t)
                continue
            if mbuy:
                left = o.left
                qty = (left / price).quantize(m.exp_stock)
                while qty * price > left:
                    qty -= m.unit_stock
                if qty > maker.left:
                    qty = maker.left
                if qty <= 0:
                    break
            else:
                qty = o.left if o.left < maker.left else maker.left
            lvl.total -= qty
            trade(m, o, maker, price, qty, t, ev)
        return False

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

    def _put_limit(self, p, t):
        n = len(p)
        if n != 8 and n != 9:
            raise ParamError("params", "expected 8 params (9 with options)")
        uid = p[0]
        if type(uid) is not int or uid < 0 or uid > U32:
            raise ParamError("user_id", "must be an integer 0..4294967295")
        m = self._market(p[1], True)
        side = p[2]
        if type(side) is not int or (side != ASK and side != BID):
            raise ParamError("side", "must be 1 or 2")
        amount = parse_trunc(p[3], "amount", m.exp_stock)
        if amount <= 0:
            raise ParamError("amount", "must be > 0")
        price = parse_trunc(p[4], "price", m.exp_money)
        if price <= 0:
            raise ParamError("price", "must be > 0")
        taker_fee = self._rate(p[5], "taker_fee_rate", m)
        maker_fee = self._rate(p[6], "maker_fee_rate", m)
        source = _source(p[7])
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
        if post:
            if side == ASK:
                if m.bids and m.bids.peekitem(-1)[0] >= price:
                    raise CmdError(12, "order would trade")
            elif m.asks and m.asks.peekitem(0)[0] <= price:
                raise CmdError(12, "order would trade")
        if tif == "FOK" and not self._fok_fillable(m, side, price, amount, uid, stp):
            raise CmdError(13, "fill or kill not satisfied")

        # ---- all checks passed: mutate
        self.order_seq = oid = self.order_seq + 1
        o = Order()
        o.id = oid
        o.type = LIMIT_ORDER
        o.side = side
        o.ctime = o.mtime = t
        o.user = uid
        o.market = m
        o.mname = m.name
        o.source = source
        o.price = price
        o.amount = amount
        o.taker_fee = taker_fee
        o.maker_fee = maker_fee
        o.left = amount
        o.freeze = ZERO
        o.deal_stock = o.deal_money = o.deal_fee = ZERO
        o.cid = cid
        o.acct = acct
        ev = []
        stopped = self._match(m, o, stp, t, ev) if (m.bids if side == ASK else m.asks) else False
        snap = o.snap()
        seq = self.event_seq = self.event_seq + 1
        if not o.left or stopped or tif != "GTC":
            ev.append(OrderEvent(seq, t, EV_FINISH, snap, m.stock, m.money, o.deal_stock > 0))
            if cid is not None:
                self._remember_cid((uid, cid), oid, t)
        else:
            ev.append(OrderEvent(seq, t, EV_PUT, snap, m.stock, m.money, False))
            self._insert(m, o)
            if side == ASK:
                o.freeze = o.left
                self._freeze(acct, m.sa, o.left)
            else:
                o.freeze = f = price * o.left
                self._freeze(acct, m.ma, f)
        log = [uid, m.name, side, str(amount), str(price), str(taker_fee), str(maker_fee), source]
        if norm is not None:
            log.append(norm)
        self.oper_seq += 1
        return Outcome(None, order_dict(snap), ev, log, self.oper_seq)

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
        amount = parse_trunc(p[3], "amount", m.exp_stock)
        if amount <= 0:
            raise ParamError("amount", "must be > 0")
        taker_fee = self._rate(p[4], "taker_fee_rate", m)
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
            if not m.bids:
                raise CmdError(12, "no enough trader")
            if amount < m.min_amount:
                raise CmdError(11, "amount too small")
        else:
            if not m.asks:
                raise CmdError(12, "no enough trader")
            if amount < m.asks.peekitem(0)[0] * m.min_amount:
                raise CmdError(11, "amount too small")

        self.order_seq = oid = self.order_seq + 1
        o = Order()
        o.id = oid
        o.type = MARKET_ORDER
        o.side = side
        o.ctime = o.mtime = t
        o.user = uid
        o.market = m
        o.mname = m.name
        o.source = source
        o.price = ZERO
        o.amount = amount
        o.taker_fee = taker_fee
        o.maker_fee = ZERO
        o.left = amount
        o.freeze = ZERO
        o.deal_stock = o.deal_money = o.deal_fee = ZERO
        o.cid = cid
        o.acct = acct
        ev = []
        self._match(m, o, stp, t, ev)
        snap = o.snap()
        seq = self.event_seq = self.event_seq + 1
        ev.append(OrderEvent(seq, t, EV_FINISH, snap, m.stock, m.money, True))
        if cid is not None:
            self._remember_cid((uid, cid), oid, t)
        log = [uid, m.name, side, str(amount), str(taker_fee), source]
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
            o.market = m
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
