"""Request parameter validation of the matcher core: integer ranges, names, the cached
decimal parsers for order amounts / prices / fee rates, and order options.

Every helper raises :class:`ParamError` (code 1) or :class:`CmdError` (method codes)
exactly as the original checks did; the checks' order in each method is the error
precedence and lives in the method itself.
"""
from __future__ import annotations

import re

from .numbers import ONE, ParamError, fmt, parse_trunc

# integer limits of the wire (imported by the access layer through apps.wire.numbers)
U32 = 2**32 - 1
U64 = 2**64 - 1
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: idempotency window of balance.update business ids and client order ids
DAY_US = 86_400 * 1_000_000
MAX_LIST = 101

# self-trade prevention modes
STP_NONE = 0
STP_CANCEL_NEWEST = 1
STP_CANCEL_OLDEST = 2
STP = {"none": STP_NONE, "cancel_newest": STP_CANCEL_NEWEST, "cancel_oldest": STP_CANCEL_OLDEST}
TIF = ("GTC", "IOC", "FOK")

#: client_order_id, unanchored (apps.wire.numbers.CLIENT_ORDER_ID_RE anchors it for REST)
CID_PATTERN = r"[A-Za-z0-9_.:\-]{1,36}"
CID_RE = re.compile(CID_PATTERN + r"\Z")


class CmdError(Exception):
    """A method-specific error (code >= 10)."""

    __slots__ = ("code", "message", "data")

    def __init__(self, code, message, data=None):
        self.code = code
        self.message = message
        self.data = data


def uint(v, param, maxv):
    if type(v) is not int or v < 0 or v > maxv:
        raise ParamError(param, f"must be an integer 0..{maxv}")
    return v


def int_range(v, param, lo, hi):
    if type(v) is not int or v < lo or v > hi:
        raise ParamError(param, f"must be an integer {lo}..{hi}")
    return v


def offset(v):
    if type(v) is not int or v < 0:
        raise ParamError("offset", "must be an integer >= 0")
    return v


def limit(v):
    if type(v) is not int or v < 0 or v > MAX_LIST:
        raise ParamError("limit", "must be an integer 0..101")
    return v


def source(v):
    if type(v) is not str:
        raise ParamError("source", "must be a string")
    if len(v) > 30 or (not v.isascii() and len(v.encode()) > 30):
        raise ParamError("source", "at most 30 bytes")
    return v


def market(e, v, for_orders=False):
    m = e.markets.get(v) if type(v) is str else None
    if m is None:
        raise ParamError("market", "unknown market")
    if for_orders and not m.listed:
        raise ParamError("market", "market not listed")
    return m


def asset(e, v, param="asset"):
    a = e.assets.get(v) if type(v) is str else None
    if a is None:
        raise ParamError(param, "unknown asset")
    return a


# ---------------------------------------------------------------- cached decimal params
#
# Each market keeps str -> (Decimal, str(Decimal), fmt(Decimal)) of the *valid* values
# it has seen (a pure function of the string, so the caches cannot change behaviour):
# order params repeat a lot, and the cached str/fmt serve the operation log and the
# reply. The fast path (``cache.get`` when the param is a str) is inlined in
# orders.put_limit; these functions are the miss path and the general entry.

CACHE_MAX = 1 << 15


def remember(cache, v, d):
    r = (d, str(d), fmt(d))
    if len(cache) >= CACHE_MAX:
        cache.clear()
    cache[v] = r
    return r


def amount(m, v):
    """Order amount: truncated to stock_prec, > 0."""
    r = m.amounts.get(v) if type(v) is str else None
    if r is None:
        d = parse_trunc(v, "amount", m.exp_stock)
        if d <= 0:
            raise ParamError("amount", "must be > 0")
        r = remember(m.amounts, v, d)
    return r


def price(m, v):
    """Limit price: truncated to money_prec, > 0."""
    r = m.prices.get(v) if type(v) is str else None
    if r is None:
        d = parse_trunc(v, "price", m.exp_money)
        if d <= 0:
            raise ParamError("price", "must be > 0")
        r = remember(m.prices, v, d)
    return r


def rate(m, v, param):
    """Fee rate: truncated to fee_prec, 0 <= rate < 1."""
    r = m.rates.get(v) if type(v) is str else None
    if r is None:
        d = parse_trunc(v, param, m.exp_fee)
        if d < 0 or d >= ONE:
            raise ParamError(param, "must be 0 <= rate < 1")
        r = remember(m.rates, v, d)
    return r


def options(v, is_limit):
    """The order options object -> (time_in_force, post_only, stp, client_order_id,
    normalised dict for the log)."""
    if type(v) is not dict:
        raise ParamError("options", "must be an object")
    tif = "GTC"
    post = False
    stp = STP_NONE
    cid = None
    norm = {}
    for k, x in v.items():
        if k == "time_in_force" and is_limit:
            if type(x) is not str or x not in TIF:
                raise ParamError("options.time_in_force", "must be GTC, IOC or FOK")
            tif = x
        elif k == "post_only" and is_limit:
            if type(x) is not bool:
                raise ParamError("options.post_only", "must be a boolean")
            post = x
        elif k == "self_trade":
            if type(x) is not str or x not in STP:
                raise ParamError("options.self_trade",
                                 "must be none, cancel_newest or cancel_oldest")
            stp = STP[x]
        elif k == "client_order_id":
            if type(x) is not str or CID_RE.match(x) is None:
                raise ParamError("options.client_order_id",
                                 "1-36 characters [A-Za-z0-9_.:-]")
            cid = x
        else:
            raise ParamError("options", f"unknown option {k!r}")
        norm[k] = x
    if post and tif != "GTC":
        raise ParamError("options.post_only", "only with time_in_force GTC")
    return tif, post, stp, cid, norm
