"""Writes of market data outside the consumer: closed klines → the Kline table, Redis
pruned per retention, and a market rebuilt from the deal history (the source of truth).
Each is idempotent and safe to run twice at once (docs/marketdata.md)."""
from __future__ import annotations

import logging
import time
from decimal import ROUND_HALF_EVEN, Decimal

from django.db import connections, models, router, transaction

from .models import Kline
from .selectors import get_store, retention
from .store import RESOLUTIONS, Deal

logger = logging.getLogger("apps.marketdata")

PERSISTED = (("1m", 60), ("1h", 3600), ("1d", 86400))
Q30 = Decimal("1e-30")
DAY = 86400


def _q(d: Decimal) -> Decimal:
    """DECIMAL(65,30): more than 30 decimals are rounded half-even (sums of products only)."""
    return d if d.as_tuple().exponent >= -30 else d.quantize(Q30, rounding=ROUND_HALF_EVEN)


def _upsert(rows: list[Kline]) -> None:
    if not rows:
        return
    db = router.db_for_write(Kline)
    kw = {"update_conflicts": True, "update_fields": ["open", "close", "high", "low", "volume", "deal"],
          "batch_size": 1000}
    if connections[db].features.supports_update_conflicts_with_target:
        kw["unique_fields"] = ["market", "interval", "time"]
    Kline.objects.using(db).bulk_create(rows, **kw)


def persist_klines(*, market: str | None = None, since: int | None = None, until: int | None = None,
                   grace: int = 5, now: int | None = None) -> int:
    """Upsert the closed 1 min / 1 h / 1 day buckets into Kline: from the newest persisted
    bucket of each (market, interval) on (that one again: late deals or a rebuild may have
    changed it), or from `since`. Returns rows written."""
    store = get_store()
    now = int(time.time()) if now is None else now
    markets = [market] if market else sorted(store.markets())
    written = 0
    for m in markets:
        for res, size in PERSISTED:
            if since is None:
                newest = (Kline.objects.filter(market=m, interval=size).order_by("-time")
                          .values_list("time", flat=True).first())
                lo = newest if newest is not None else "-inf"
            else:
                lo = since - since % size
            hi = now - grace - size  # closed: the bucket ended `grace` s ago
            if until is not None:
                hi = min(hi, until)
            rows = [Kline(market=m, interval=size, time=ts, open=b[0], close=b[1], high=b[2], low=b[3],
                          volume=_q(b[4]), deal=_q(b[5]))
                    for ts, b in store.buckets(m, res, lo, hi)]
            _upsert(rows)
            written += len(rows)
    return written


def prune_store(*, now: int | None = None) -> int:
    """Drop base buckets older than their retention (MARKETDATA_KEEP_*). Returns buckets dropped."""
    store = get_store()
    now = int(time.time()) if now is None else now
    keep = retention()
    cutoffs = {name: now - keep[name] for name, _size in RESOLUTIONS if keep.get(name)}
    return sum(store.prune(m, cutoffs) for m in store.markets())


def history_deals(market: str, start: float, end: float) -> list[Deal]:
    """The deals of a market with start <= time < end, from the deal history (taker rows)."""
    from apps.history.models import DealHistory
    from apps.markets.models import Market

    from .consumer import _raw

    prec = Market.objects.filter(name=market).values_list("stock_prec", "money_prec").first() or (None, None)
    rows = (DealHistory.objects.filter(market=market, role=2, time__gte=start, time__lt=end)
            .values_list("deal_id", "time", "price", "amount", "side").iterator(chunk_size=10_000))
    return [Deal(i, t, market, _raw(p, prec[1]), _raw(a, prec[0]), s) for i, t, p, a, s in rows]


def rebuild_market(market: str, start: int, end: int) -> dict:
    """Recompute the market's base klines (and so its status) for every UTC day touching
    [start, end] from the deal history, day by day; mark those deals applied so the consumer
    does not count them again; then re-persist the range's closed klines. Deals already
    applied but not yet in the history are taken from the store's recent deals."""
    from apps.history.models import DealHistory

    store = get_store()
    span = DealHistory.objects.filter(market=market, role=2).aggregate(lo=models.Min("time"), hi=models.Max("time"))
    recent = store.recent(market, 1, 0)
    times = [t for t in (span["lo"], span["hi"], recent[0]["time"] if recent else None) if t is not None]
    if times:  # no day before the first deal or after the last one
        start = max(start, int(min(times)))
        end = min(end, int(max(times)))
    end = max(end, start)
    first = start - start % DAY
    last = end - end % DAY
    deals_total = 0
    day = first
    while day <= last:
        history = history_deals(market, day, day + DAY)
        deals_total += store.replace_range(market, day, day + DAY, history)
        day += DAY
    rows = persist_klines(market=market, since=first, until=last + DAY - 1, grace=0)
    with transaction.atomic(using=router.db_for_write(Kline)):
        for res, size in PERSISTED:
            keep = {ts for ts, _b in store.buckets(market, res, first, f"({last + DAY}")}
            stale = (Kline.objects.filter(market=market, interval=size, time__gte=first, time__lt=last + DAY)
                     .exclude(time__in=keep))
            stale.delete()
    logger.info("market data: rebuilt %s %s..%s from %s deals", market, first, last + DAY, deals_total)
    return {"market": market, "start": first, "end": last + DAY, "deals": deals_total, "klines": rows}
