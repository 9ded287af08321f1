"""Accounts and balances: available / freeze per (user, asset), the balance changes
(``add``; ``move`` between available and freeze: freeze when an order rests, unfreeze
when it finishes) and ``balance.update``.

Balances are kept truncated to the asset's ``prec_save`` (exponent -prec_save, zero
entries deleted). Every change the engine applies has an exponent >= -prec_save
(``balance.update`` changes are truncated to prec_show <= prec_save; order amounts,
deals and fees are bounded by the market precisions, see config.py), so ``v + x`` is
already at precision and a new entry only needs the exponent: ``x + asset.zero`` ==
``x.quantize(asset.exp_save)``. ``add`` applies one change; the balance rows of a fill
are inline copies of it in orders.take (a call per row cost > 5 %, docs/benchmarks.md
"Matcher core").
"""
from __future__ import annotations

from .events import BalanceEvent
from .numbers import ParamError, parse_trunc
from .params import DAY_US, U32, U64, CmdError, asset, uint
from .config import SUCCESS


class Account:
    __slots__ = ("uid", "avail", "frz")

    def __init__(self, uid):
        self.uid = uid
        self.avail = {}  # asset name -> Decimal > 0
        self.frz = {}


def account(e, uid):
    """The user's account, created on first use."""
    a = e.accounts.get(uid)
    if a is None:
        a = e.accounts[uid] = Account(uid)
    return a


def add(d, other, name, x, zero):
    """Add the exact change x (may be negative) to ``d[name]``, one side (available or
    freeze) of an account, deleting a zero entry; return the asset's total afterwards
    (the new ``d[name]`` plus ``other[name]``, the account's other side). ``zero`` is the
    asset's zero at prec_save (see the module docstring). balance.update uses it;
    ``move`` and orders.take keep inline copies for speed (docs/benchmarks.md)."""
    v = d.get(name)
    nv = x + zero if v is None else v + x
    if nv:
        d[name] = nv
    elif v is not None:
        del d[name]
    o = other.get(name)
    return nv if o is None else nv + o


def move(src, dst, a, x):
    """Move x of asset a from one side of an account to the other (``src[a.name]`` >= x),
    deleting zero entries. (``add`` without the total nobody reads: once per resting
    order placed or finished.)"""
    name = a.name
    nv = src[name] - x
    if nv:
        src[name] = nv
    else:
        del src[name]
    v = dst.get(name)
    nv = x + a.zero if v is None else v + x
    if nv:
        dst[name] = nv
    elif v is not None:
        del dst[name]


def balance_update(e, p, t):
    if len(p) != 6:
        raise ParamError("params", "expected 6 params")
    uid = uint(p[0], "user_id", U32)
    a = asset(e, p[1])
    business = p[2]
    if type(business) is not str:
        raise ParamError("business", "must be a string")
    if len(business) > 30:
        raise ParamError("business", "at most 30 characters")
    if "," in business:
        raise ParamError("business", "must not contain a comma")
    business_id = uint(p[3], "business_id", U64)
    change = parse_trunc(p[4], "change", a.exp_show)
    if not change:
        change = change.copy_abs()
    detail = p[5]
    if type(detail) is not dict:
        raise ParamError("detail", "must be an object")
    key = (uid, a.name, business.encode()[:32].decode("latin-1"), business_id)
    keys = e.update_keys
    kt = keys.get(key)
    if kt is not None and t - kt < DAY_US:
        raise CmdError(10, "repeat update")
    acct = e.accounts.get(uid)
    if change < 0:
        have = acct.avail.get(a.name) if acct is not None else None
        if have is None or have < -change:
            raise CmdError(11, "balance not enough")
    if acct is None:
        acct = account(e, uid)
    tot = add(acct.avail, acct.frz, a.name, change, a.zero)
    seq = e.event_seq = e.event_seq + 1
    ev = None
    if e.emit_events:
        d = dict(detail)
        d["id"] = business_id
        ev = [BalanceEvent((seq, t, uid, a.name, business, change, tot, d, None))]
    if kt is not None:
        del keys[key]
    keys[key] = t
    # purge expired keys (deterministic: only successful updates purge)
    lim = t - DAY_US
    while keys:
        first = next(iter(keys))
        if keys[first] <= lim:
            del keys[first]
        else:
            break
    return SUCCESS.copy(), ev, [uid, a.name, business, business_id, str(change), detail]
