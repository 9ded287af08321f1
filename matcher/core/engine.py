"""The matching engine: a deterministic, pure-Python state machine — the state it owns
and the dispatch of commands to the modules that implement them.

See docs/matcher-core.md for the contract and ../shared/spec/matching.md for the
semantics. Nothing here does I/O; every time comes from the command's ``time_us``.

Modules: ``params`` (validation), ``config`` (asset.put, market.put,
config.fee_account), ``balances`` (accounts, balance changes, balance.update),
``book`` (levels, resting orders, indexes), ``orders`` (put_limit, put_market, cancel,
cancel_all, matching), ``queries`` (reads), ``state`` (dump / load / hash).
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from decimal import getcontext, setcontext

from . import balances, config, orders, queries, state
from .book import ASK, BID  # noqa: F401  (re-exported by matcher.core)
from .numbers import CTX, ParamError
from .params import CmdError

_new = tuple.__new__
#: Outcome.events of reads and of event-less commands (shared: nobody may append to it)
NO_EVENTS = ()


class Outcome(namedtuple("Outcome", ("error", "result", "events", "log", "oper_id"))):
    """What ``Engine.execute`` returns (docs/matcher-core.md "Entry point"). A named
    tuple: ``execute`` builds it with ``tuple.__new__`` (no Python-level constructor)."""

    __slots__ = ()

    def __new__(cls, error=None, result=None, events=None, log=None, oper_id=None):
        return _new(cls, (error, result, events if events is not None else [], log, oper_id))

    def __repr__(self):
        return (f"Outcome(error={self.error!r}, result={self.result!r}, "
                f"events={len(self.events)}, log={self.log!r}, oper_id={self.oper_id!r})")


# method -> (handler(engine, params, time_us), mutating). A mutating handler returns
# (result, events, log) (events: a list, or None when ``engine.emit_events`` is False);
# a read returns the result.
HANDLERS = {
    "balance.query": (queries.balance_query, False),
    "balance.update": (balances.balance_update, True),
    "asset.list": (queries.asset_list, False),
    "asset.summary": (queries.asset_summary, False),
    "order.put_limit": (orders.put_limit, True),
    "order.put_market": (orders.put_market, True),
    "order.cancel": (orders.cancel, True),
    "order.cancel_all": (orders.cancel_all, True),
    "order.book": (queries.order_book, False),
    "order.depth": (queries.order_depth, False),
    "order.pending": (queries.order_pending, False),
    "order.pending_detail": (queries.order_pending_detail, False),
    "market.list": (queries.market_list, False),
    "market.summary": (queries.market_summary, False),
    "asset.put": (config.asset_put, True),
    "market.put": (config.market_put, True),
    "config.fee_account": (config.config_fee_account, True),
}


class Engine:
    """Deterministic matching engine; see docs/matcher-core.md.

    ``emit_events`` (constructor flag ``events``; may be switched at any time between
    commands): when False, mutating commands build no event objects and their
    ``Outcome.events`` is an empty tuple, while every counter (``event_seq``, deal and
    order ids) advances exactly as with events, so state, state_hash, results and ids are
    the same. Not part of the state: a loaded engine emits events.

    ``emit_trade_rows`` (default True; only read while events are emitted): when False,
    fills build no balance-row events (``BalanceEvent.from_trade``: trade and fee rows),
    still taking their seqs; every other event is built as usual. For outputs that do
    not publish those rows (the Kafka follower)."""

    METHODS = tuple(HANDLERS)
    MUTATING = frozenset(m for m, (_, mut) in HANDLERS.items() if mut)

    emit_events = True
    emit_trade_rows = True

    def __init__(self, events=True):
        if not events:
            self.emit_events = False
        self.assets = {}  # name -> config.Asset, creation order
        self.markets = {}  # name -> config.Market, creation order
        self.pairs = {}  # (stock, money) -> market name
        self.accounts = {}  # uid -> balances.Account
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

    def execute(self, method, params, time_us):
        h = HANDLERS.get(method)
        if h is None:
            return Outcome((4, "method not found", None))
        if type(params) is not list:
            return Outcome((1, "invalid argument", {"param": "params", "reason": "must be an array"}))
        fn, mutating = h
        old = getcontext()
        setcontext(CTX)
        try:
            r = fn(self, params, time_us)
        except ParamError as e:
            return Outcome((1, "invalid argument", {"param": e.param, "reason": e.reason}))
        except CmdError as e:
            return Outcome((e.code, e.message, e.data))
        finally:
            setcontext(old)
        if mutating:
            self.oper_seq = n = self.oper_seq + 1
            res, ev, log = r
            return _new(Outcome, (None, res, NO_EVENTS if ev is None else ev, log, n))
        return _new(Outcome, (None, r, NO_EVENTS, None, None))

    def dump_state(self) -> dict:
        """JSON-able full state (decimals as exact strings)."""
        return state.dump_state(self)

    @classmethod
    def load_state(cls, d: dict) -> "Engine":
        return state.load_state(cls, d)

    def state_hash(self) -> str:
        return state.state_hash(self)
