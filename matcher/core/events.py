"""Events emitted by the matcher core (docs/matcher-core.md "Events").

Every event carries ``seq`` from the engine-wide ``event_seq`` counter. Decimal fields
are :class:`decimal.Decimal`; sinks format them. ``OrderEvent.order`` and
``BalanceEvent.detail`` are built lazily from an immutable snapshot the first time they
are read (keeps the matching loop cheap); they are plain dicts once built.

The events are tuples with named fields, built as ``Cls((field, …))`` by tuple's own
constructor (no Python-level ``__init__`` / ``__new__``: under half the cost of a slots
class, and a crossing order makes ~10 of them). They are immutable apart from the cached
``order`` / ``detail`` dicts.
"""
from __future__ import annotations

from collections import namedtuple

from .numbers import fmt, raw


def fields(*names):
    """Class decorator for a tuple subclass: read-only named fields (a namedtuple's
    accessors; a field the class defines itself, e.g. a property, is kept). The class
    keeps tuple's constructor: ``Cls((field, …))``."""
    base = namedtuple("_", names)  # (kept referenced: a collected class's dict is cleared)

    def deco(cls):
        for n in names:
            if n not in cls.__dict__:
                setattr(cls, n, base.__dict__[n])
        cls._fields = names
        return cls
    return deco

# OrderEvent.kind
EV_PUT = 1
EV_UPDATE = 2
EV_FINISH = 3
# DealEvent.ask_role / bid_role
MAKER = 1
TAKER = 2


def order_dict(s: tuple) -> dict:
    """Order object (http-jsonrpc.md §3) from an order snapshot tuple
    (id, market, source, type, side, user, ctime_us, mtime_us, price, amount,
    taker_fee, maker_fee, left, deal_stock, deal_money, deal_fee, client_order_id)."""
    d = {
        "id": s[0],
        "market": s[1],
        "source": s[2],
        "type": s[3],
        "side": s[4],
        "user": s[5],
        "ctime": s[6] / 1e6,
        "mtime": s[7] / 1e6,
        "price": fmt(s[8]),
        "amount": fmt(s[9]),
        "taker_fee": fmt(s[10]),
        "maker_fee": fmt(s[11]),
        "left": fmt(s[12]),
        "deal_stock": fmt(s[13]),
        "deal_money": fmt(s[14]),
        "deal_fee": fmt(s[15]),
    }
    if s[16] is not None:
        d["client_order_id"] = s[16]
    return d


@fields("seq", "time_us", "market", "stock", "money", "deal_id", "price", "amount", "deal",
        "taker_side", "ask_order_id", "bid_order_id", "ask_user_id", "bid_user_id",
        "ask_fee", "bid_fee", "ask_role", "bid_role")
class DealEvent(tuple):
    """One fill. ``ask_fee`` is in money (paid by the ask party), ``bid_fee`` in stock;
    roles 1 maker / 2 taker; ``taker_side`` 1 = taker sold, 2 = taker bought."""

    __slots__ = ()

    def kafka_payload(self) -> list:
        """The `deals` topic array (matching.md §7), raw decimal strings."""
        return [
            self.time_us / 1e6, self.market, self.ask_order_id, self.bid_order_id,
            self.ask_user_id, self.bid_user_id, raw(self.price), raw(self.amount),
            raw(self.ask_fee), raw(self.bid_fee), self.taker_side, self.deal_id,
            self.stock, self.money,
        ]

    def to_dict(self) -> dict:
        d = dict(zip(self._fields, self))
        for k in ("price", "amount", "deal", "ask_fee", "bid_fee"):
            d[k] = raw(d[k])
        d["type"] = "deal"
        return d

    def __repr__(self):
        return f"DealEvent({self.to_dict()!r})"


@fields("seq", "time_us", "kind", "snap", "stock", "money", "to_history")
class OrderEvent(tuple):
    """kind 1 put, 2 update, 3 finish; ``order`` is the order object dict, built from
    ``snap`` (an order snapshot tuple, see order_dict) on first access."""

    # no __slots__: the instance __dict__ (created on first use) caches ``order``

    @property
    def order(self) -> dict:
        c = self.__dict__
        o = c.get("order")
        if o is None:
            o = c["order"] = order_dict(self[3])
        return o

    @property
    def order_id(self) -> int:
        return self[3][0]

    @property
    def user_id(self) -> int:
        return self[3][5]

    @property
    def market(self) -> str:
        return self[3][1]

    def kafka_payload(self) -> dict:
        """The `orders` topic object (matching.md §7)."""
        return {"event": self.kind, "order": self.order, "stock": self.stock, "money": self.money}

    def to_dict(self) -> dict:
        return {
            "type": "order", "seq": self.seq, "time_us": self.time_us, "kind": self.kind,
            "order": self.order, "stock": self.stock, "money": self.money,
            "to_history": self.to_history,
        }

    def __repr__(self):
        return f"OrderEvent({self.to_dict()!r})"


@fields("seq", "time_us", "user_id", "asset", "business", "change", "balance", "detail",
        "trade")
class BalanceEvent(tuple):
    """One balance-history row: ``balance`` = the asset's total (available + freeze)
    of that user right after the row. ``detail`` for trade rows is
    {"a": amount, "i": own order id, "m": market, "p": price} (+ "f": fee rate on fee
    rows; the fee-account credit row (business ``fee``) also has "u": payer user id),
    built on first access from ``trade`` = (amount, order_id, market, price,
    fee_rate|None, payer|None); rows of balance.update carry their ``detail`` dict (and
    ``trade`` None)."""

    # no __slots__: the instance __dict__ (created on first use) caches a trade detail

    @property
    def from_trade(self) -> bool:
        """True for fill and fee rows; False for rows of balance.update, whatever their business."""
        return self[8] is not None

    @property
    def detail(self) -> dict:
        d = self[7]
        if d is None:
            c = self.__dict__
            d = c.get("detail")
            if d is None:
                a, i, m, p, f, u = self[8]
                d = {"a": raw(a)}
                if f is not None:
                    d["f"] = raw(f)
                d["i"] = i
                d["m"] = m
                d["p"] = raw(p)
                if u is not None:
                    d["u"] = u
                c["detail"] = d
        return d

    def kafka_payload(self) -> list:
        """The `balances` topic array (rows of balance.update only: not ``from_trade``)."""
        return [self.time_us / 1e6, self.user_id, self.asset, self.business, raw(self.change)]

    def to_dict(self) -> dict:
        return {
            "type": "balance", "seq": self.seq, "time_us": self.time_us,
            "user_id": self.user_id, "asset": self.asset, "business": self.business,
            "change": raw(self.change), "balance": raw(self.balance), "detail": self.detail,
        }

    def __repr__(self):
        return f"BalanceEvent({self.to_dict()!r})"
