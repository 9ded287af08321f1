"""Reads of market data (JSON-RPC market.*, REST v1): straight from the Redis store on every
call — nothing is cached in the web process, so an answer is never older than the data.

Bucketing and gap filling: ../shared/spec/marketprice.md §3-4 with the platform's
decisions (spec README §6): day, week and month buckets are UTC, at most
MAX_KLINE_POINTS points per request. docs/marketdata.md lists what differs from the
original and why.
"""
from __future__ import annotations

import calendar
import time
from datetime import datetime, timezone
from decimal import Decimal

from django.conf import settings

from .store import Store, fmt, merge_into

MAX_KLINE_POINTS = 100_000
DAY = 86400
WEEK = 7 * DAY
MONTH = 2592000
ZERO = Decimal(0)

_stores: dict = {}


def get_store() -> Store:
    """The store of the current settings (one Redis connection pool per URL and prefix)."""
    import redis

    url = settings.MARKETDATA_REDIS_URL
    prefix = settings.MARKETDATA_KEY_PREFIX
    store = _stores.get((url, prefix))
    if store is None:
        store = _stores[(url, prefix)] = Store(
            redis.Redis.from_url(url, socket_timeout=10), prefix,
            deals_keep=settings.MARKETDATA_DEALS_KEEP, dedupe_window=settings.MARKETDATA_DEDUPE_WINDOW)
    return store


def retention() -> dict[str, int]:
    """Seconds of each base resolution kept in Redis (None = forever)."""
    return {"1s": settings.MARKETDATA_KEEP_1S, "1m": settings.MARKETDATA_KEEP_1M,
            "1h": settings.MARKETDATA_KEEP_1H, "1d": settings.MARKETDATA_KEEP_1D}


def market_exists(market: str, store: Store | None = None) -> bool:
    """Known to market data (seen in a deal) or configured (apps.markets), listed or not."""
    store = store or get_store()
    if store.known(market):
        return True
    from apps.markets.models import Market

    # compare in Python: the database collation may be case-insensitive
    return market in Market.objects.filter(name=market).values_list("name", flat=True)


def interval_allowed(interval: int) -> bool:
    if interval <= 0:
        return False
    if interval < 60:
        return 60 % interval == 0
    if interval < 3600:
        return interval % 60 == 0 and 3600 % interval == 0
    if interval < DAY:
        return interval % 3600 == 0 and DAY % interval == 0
    if interval < WEEK:
        return interval % DAY == 0
    return interval in (WEEK, MONTH)


def _month_start(ts: int) -> int:
    d = datetime.fromtimestamp(ts, timezone.utc)
    return calendar.timegm((d.year, d.month, 1, 0, 0, 0))


def _next_month(ts: int) -> int:
    d = datetime.fromtimestamp(ts, timezone.utc)
    y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return calendar.timegm((y, m, 1, 0, 0, 0))


def kline_plan(start: int, end: int, interval: int, now: int) -> tuple[str, int, int]:
    """(base resolution, aligned first bucket, number of points) for a validated request
    (end already clamped to now)."""
    keep = retention()
    if interval < 60:
        base = "1s"
        start = max(start, now - keep["1s"])
        start -= start % interval
    elif interval < 3600:
        base = "1m"
        start = max(start, now - now % 60 - keep["1m"])
        start -= start % interval
    elif interval < DAY:
        base = "1h"
        start = max(start, now - now % 3600 - keep["1h"])
        start -= start % interval  # interval divides a day: UTC-day aligned
    elif interval < WEEK:
        base = "1d"
        start -= start % interval
    elif interval == WEEK:
        base = "1d"
        start = _week_start(start)
    else:
        base = "1d"
        start = _month_start(start)
    if interval == MONTH:
        points, b = 0, start
        while b <= end:
            points += 1
            b = _next_month(b)
            if points > MAX_KLINE_POINTS:
                break
    else:
        points = 0 if start > end else (end - start) // interval + 1
    return base, start, points


def _week_start(start: int) -> int:
    """Monday 00:00 UTC of start's week (the epoch was a Thursday)."""
    base = start - start % WEEK - 3 * DAY
    while base + WEEK <= start:
        base += WEEK
    return base


def kline(market: str, start: int, end: int, interval: int, now: int | None = None,
          store: Store | None = None) -> list[list]:
    """market.kline rows [time, open, close, high, low, volume, deal, market], ascending."""
    store = store or get_store()
    now = int(time.time()) if now is None else now
    end = min(end, now)
    base, first, _points = kline_plan(start, end, interval, now)
    rows_in = store.buckets(market, base, first, end)
    keep = retention()
    floor = (now - keep[base]) if base != "1d" else first - 30 * DAY
    prev = store.bucket_before(market, base, first, max(floor, 0))
    prev_close = prev[1][1] if prev else None
    out = []
    i, n = 0, len(rows_in)
    b = first
    while b <= end:
        nb = _next_month(b) if interval == MONTH else b + interval
        cur = None
        while i < n and rows_in[i][0] < nb:
            ts, bucket = rows_in[i]
            i += 1
            if ts < b:
                continue
            if cur is None:
                cur = list(bucket)
            else:
                merge_into(cur, bucket)
        if cur is not None:
            out.append([b, fmt(cur[0]), fmt(cur[1]), fmt(cur[2]), fmt(cur[3]), fmt(cur[4]), fmt(cur[5]), market])
            prev_close = cur[1]
        elif prev_close is not None:
            p = fmt(prev_close)
            out.append([b, p, p, p, p, "0", "0", market])
        b = nb
    return out


def _period_bucket(store: Store, market: str, period: int, now: int) -> list | None:
    """The merge of the deals of the last `period` seconds (1 s buckets up to the first
    whole minute, then 1 min buckets up to now, the current minute included)."""
    start = now - period
    start_min = start - start % 60 + 60
    cur = None
    for _ts, b in store.buckets(market, "1s", start, f"({start_min}") + store.buckets(market, "1m", start_min, now):
        if cur is None:
            cur = list(b)
        else:
            merge_into(cur, b)
    return cur


def status(market: str, period: int, now: int | None = None, store: Store | None = None) -> dict:
    store = store or get_store()
    now = int(time.time()) if now is None else now
    last = store.last(market)
    cur = _period_bucket(store, market, period, now)
    last_s = fmt(Decimal(last)) if last else "0"
    if cur is None:
        return {"period": period, "last": last_s, "open": "0", "close": "0", "high": "0", "low": "0",
                "volume": "0", "deal": "0"}
    return {"period": period, "last": last_s, "open": fmt(cur[0]), "close": fmt(cur[1]), "high": fmt(cur[2]),
            "low": fmt(cur[3]), "volume": fmt(cur[4]), "deal": fmt(cur[5])}


def status_today(market: str, now: int | None = None, store: Store | None = None) -> dict:
    store = store or get_store()
    now = int(time.time()) if now is None else now
    day = now - now % DAY
    today = store.buckets(market, "1d", day, day)
    if today:
        b = today[0][1]
        o, last, h, lo = fmt(b[0]), fmt(b[1]), fmt(b[2]), fmt(b[3])
    else:
        before = store.bucket_before(market, "1d", day, day - 30 * DAY)
        o = last = h = lo = fmt(before[1][1]) if before else "0"
    rolling = _period_bucket(store, market, DAY, now)
    return {"open": o, "last": last, "high": h, "low": lo,
            "volume": fmt(rolling[4]) if rolling else "0", "deal": fmt(rolling[5]) if rolling else "0"}


def last_price(market: str, store: Store | None = None) -> str:
    """The newest deal's price as published (raw, not stripped), "0" if none."""
    return (store or get_store()).last(market) or "0"


def recent_deals(market: str, limit: int, last_id: int = 0, store: Store | None = None) -> list[dict]:
    return (store or get_store()).recent(market, limit, last_id)


def ticker_list(now: int | None = None) -> list[dict]:
    """24 h status (market.status, period 86400) of every listed market, config order."""
    from apps.markets import selectors as markets

    store = get_store()
    names = [m.name for m in markets.market_list(listed_only=True)]
    out = []
    for name in names:
        s = status(name, DAY, now=now, store=store)
        out.append({"market": name, **s})
    return out

