"""Exchange configuration: assets (``asset.put``), markets (``market.put``) and the fee
account (``config.fee_account``).

Precisions are fixed once an asset / market exists. A market's precisions are bounded
by its assets' ``prec_save`` (money: stock_prec + money_prec + fee_prec, stock:
stock_prec + fee_prec), so every amount, deal and fee the engine computes for it is
already at the precision its balances are kept in (see balances.py).
"""
from __future__ import annotations

import re

from sortedcontainers import SortedDict

from .numbers import CTX, EXP, ZERO, ParamError, decimals_of, parse_decimal
from .params import U32, asset, int_range, uint

MAX_PREC = 20
NAME_RE = re.compile(r"[A-Z0-9]{1,15}\Z")
SUCCESS = {"status": "success"}


class Asset:
    __slots__ = ("name", "prec_save", "prec_show", "exp_save", "exp_show", "zero")

    def __init__(self, name, prec_save, prec_show):
        self.name = name
        self.prec_save = prec_save
        self.prec_show = prec_show
        self.exp_save = EXP[prec_save]
        self.exp_show = EXP[prec_show]
        # x + zero == x.quantize(exp_save) for every x with exponent >= -prec_save
        self.zero = ZERO.scaleb(-prec_save, CTX)


class Market:
    """A market's configuration, its order book and its open-order indexes."""

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
        # the book (book.py): price -> Level; best ask = first key, best bid = last key
        self.asks = SortedDict()
        self.bids = SortedDict()
        self.best_ask = None  # cached best Level of each side (None when empty)
        self.best_bid = None
        self.n_asks = 0
        self.n_bids = 0
        self.orders = {}  # id -> Order (open orders of this market)
        self.users = {}  # user id -> {id: Order} (insertion = id ascending)
        # parsed order params (params.py): str -> (Decimal, str, fmt)
        self.amounts = {}
        self.prices = {}
        self.rates = {}


def asset_check(e, p):
    """The rules of ``asset.put`` (params ``p``) against the configuration ``e`` — anything
    with ``assets`` (name → object with ``prec_save``). Pure and without side effects: the
    matcher applies it, and the admin validates with it (apps.markets). Returns
    ``(name, prec_save, prec_show, existing asset or None)``; raises ParamError."""
    if len(p) != 3:
        raise ParamError("params", "expected 3 params")
    name = p[0]
    if type(name) is not str or NAME_RE.match(name) is None:
        raise ParamError("name", "must match [A-Z0-9]{1,15}")
    prec_save = int_range(p[1], "prec_save", 0, MAX_PREC)
    prec_show = int_range(p[2], "prec_show", 0, MAX_PREC)
    if prec_show > prec_save:
        raise ParamError("prec_show", "must be <= prec_save")
    a = e.assets.get(name)
    if a is not None and prec_save != a.prec_save:
        raise ParamError("prec_save", "fixed once the asset exists")
    return name, prec_save, prec_show, a


def asset_put(e, p, t):
    name, prec_save, prec_show, a = asset_check(e, p)
    if a is None:
        e.assets[name] = Asset(name, prec_save, prec_show)
    else:
        a.prec_show = prec_show
        a.exp_show = EXP[prec_show]
    return SUCCESS.copy(), [], [name, prec_save, prec_show]


def market_check(e, p):
    """The rules of ``market.put`` (params ``p``) against the configuration ``e`` — anything
    with ``assets`` (name → object with ``name``, ``prec_save``), ``markets`` (name → object
    with ``stock``, ``money``, ``stock_prec``, ``money_prec``, ``fee_prec``) and ``pairs``
    ((stock, money) → market name). Pure and without side effects: the matcher applies it,
    and the admin validates with it (apps.markets). Returns ``(name, stock asset, money
    asset, stock_prec, money_prec, fee_prec, min_amount, listed, existing market or
    None)``; raises ParamError."""
    if len(p) != 8:
        raise ParamError("params", "expected 8 params")
    name = p[0]
    if type(name) is not str or NAME_RE.match(name) is None:
        raise ParamError("name", "must match [A-Z0-9]{1,15}")
    sa = asset(e, p[1], "stock")
    ma = asset(e, p[2], "money")
    if sa is ma:
        raise ParamError("money", "must differ from stock")
    sp = int_range(p[3], "stock_prec", 0, MAX_PREC)
    mp = int_range(p[4], "money_prec", 0, MAX_PREC)
    fp = int_range(p[5], "fee_prec", 0, MAX_PREC)
    min_amount = parse_decimal(p[6], "min_amount")
    if min_amount <= 0:
        raise ParamError("min_amount", "must be > 0")
    if decimals_of(min_amount) > sp:
        raise ParamError("min_amount", "more decimals than stock_prec")
    min_amount = min_amount.quantize(EXP[sp])
    listed = p[7]
    if type(listed) is not bool:
        raise ParamError("listed", "must be a boolean")
    m = e.markets.get(name)
    if m is None:
        if ma.prec_save < sp + mp + fp:
            raise ParamError("money_prec", "prec_save(money) must be >= stock_prec + money_prec + fee_prec")
        if sa.prec_save < sp + fp:
            raise ParamError("stock_prec", "prec_save(stock) must be >= stock_prec + fee_prec")
        other = e.pairs.get((sa.name, ma.name))
        if other is not None:
            raise ParamError("stock", f"market {other} already trades this pair")
    else:
        if (sa.name, ma.name) != (m.stock, m.money):
            raise ParamError("stock", "the pair is fixed once the market exists")
        if (sp, mp, fp) != (m.stock_prec, m.money_prec, m.fee_prec):
            raise ParamError("stock_prec", "precisions are fixed once the market exists")
    return name, sa, ma, sp, mp, fp, min_amount, listed, m


def market_put(e, p, t):
    name, sa, ma, sp, mp, fp, min_amount, listed, m = market_check(e, p)
    if m is None:
        e.markets[name] = Market(name, sa, ma, sp, mp, fp, min_amount, listed)
        e.pairs[(sa.name, ma.name)] = name
    else:
        m.min_amount = min_amount
        m.listed = listed
    return SUCCESS.copy(), [], [name, sa.name, ma.name, sp, mp, fp, str(min_amount), listed]


def config_fee_account(e, p, t):
    if len(p) != 1:
        raise ParamError("params", "expected 1 param")
    e.fee_account = uint(p[0], "user_id", U32)
    return SUCCESS.copy(), [], [e.fee_account]
