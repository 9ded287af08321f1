"""Matcher core: pure, deterministic matching engine (see docs/matcher-core.md)."""
from .book import ASK, BID
from .engine import Engine, Outcome
from .events import BalanceEvent, DealEvent, OrderEvent, order_dict
from .numbers import CTX, ParamError, fmt, raw
from .params import CmdError

__all__ = [
    "ASK", "BID", "BalanceEvent", "CTX", "CmdError", "DealEvent", "Engine", "OrderEvent",
    "Outcome", "ParamError", "fmt", "order_dict", "raw",
]
