"""The marketprice JSON-RPC methods (../shared/spec/http-jsonrpc.md §5, marketprice.md §3-4).

`MARKETDATA_METHODS` maps each method name to a sync function taking the raw JSON
`params` list (apps.trading.jsonrpc runs it in its thread pool). Bad input raises
`RpcError(1, data={"param", "reason"})`: a wrong param count, a market that never
existed, a limit out of range, an interval the spec does not allow, start > end, more
than 100,000 kline points, negative or non-integer times (strict JSON integers here: the
original read a float as 0 and failed the same way).
"""
from __future__ import annotations

import time

from apps.trading.errors import RpcError

from . import selectors

DEALS_LIMIT = 10_000
STATUS_PERIOD_MAX = 604_800
INT64_MAX = 2**63 - 1


def _count(params, n: int) -> list:
    if not isinstance(params, list):
        raise RpcError.invalid("params", "must be an array")
    if len(params) != n:
        raise RpcError.invalid("params", f"expected {n} params")
    return params


def _int(value, name: str, minimum: int = 0, maximum: int = INT64_MAX) -> int:
    if type(value) is not int:
        raise RpcError.invalid(name, "must be an integer")
    if value < minimum:
        raise RpcError.invalid(name, f"must be >= {minimum}")
    if value > maximum:
        raise RpcError.invalid(name, f"must be <= {maximum}")
    return value


def _market(value) -> str:
    if type(value) is not str or not value:
        raise RpcError.invalid("market", "must be a string")
    if not selectors.market_exists(value):
        raise RpcError.invalid("market", "unknown market")
    return value


def market_last(params) -> str:
    market = _market(_count(params, 1)[0])
    return selectors.last_price(market)


def market_deals(params) -> list[dict]:
    _count(params, 3)
    market = _market(params[0])
    limit = _int(params[1], "limit", 1, DEALS_LIMIT)
    last_id = _int(params[2], "last_id", 0)
    return selectors.recent_deals(market, limit, last_id)


def market_kline(params) -> list[list]:
    _count(params, 4)
    market = _market(params[0])
    start = _int(params[1], "start", 1)
    end = _int(params[2], "end", 1)
    interval = _int(params[3], "interval", 1)
    if not selectors.interval_allowed(interval):
        raise RpcError.invalid("interval", "not an allowed interval (divisors of 60; multiples of 60 dividing "
                                           "3600; multiples of 3600 dividing 86400; multiples of 86400 below "
                                           "604800; 604800; 2592000)")
    now = int(time.time())
    end = min(end, now)
    if start > end:
        raise RpcError.invalid("start", "must not be after end (end is clamped to now)")
    _base, _first, points = selectors.kline_plan(start, end, interval, now)
    if points > selectors.MAX_KLINE_POINTS:
        raise RpcError.invalid("interval", f"more than {selectors.MAX_KLINE_POINTS} points: "
                                           "narrow start..end or use a larger interval")
    return selectors.kline(market, start, end, interval, now=now)


def market_status(params) -> dict:
    _count(params, 2)
    market = _market(params[0])
    period = _int(params[1], "period", 1, STATUS_PERIOD_MAX)
    return selectors.status(market, period)


def market_status_today(params) -> dict:
    market = _market(_count(params, 1)[0])
    return selectors.status_today(market)


MARKETDATA_METHODS = {
    "market.last": market_last,
    "market.deals": market_deals,
    "market.kline": market_kline,
    "market.status": market_status,
    "market.status_today": market_status_today,
}
