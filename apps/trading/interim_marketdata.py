"""INTERIM market data for REST v1 (/markets/deals, /markets/tickers), derived from the
deal history (apps.history.selectors) until the market-data step.

Replaced by apps.marketdata in step 8: delete this module then (and the INTERIM section of
apps.history.selectors), and point the two REST views at apps.marketdata.
"""
import time
from decimal import Decimal

from apps.history import selectors as history
from apps.markets import selectors as markets
from apps.markets.models import Market
from apps.wire.numbers import plain
from apps.wire.orders import SIDE_NAMES

TICKER_PERIOD_S = 86400
TICKER_MAX_DEALS = 10000


def market_deal_list(*, market: Market, limit: int, last_id: int) -> list[dict]:
    """Recent deals of a market, newest first: the taker's row of each deal."""
    rows = history.market_deal_rows(market=market.name, limit=limit, last_id=last_id)
    return [
        {"id": deal_id, "time": t, "price": plain(price), "amount": plain(amount), "type": SIDE_NAMES[side]}
        for deal_id, t, price, amount, side in rows
    ]


def ticker_list(*, now: float | None = None) -> list[dict]:
    """24 h statistics per listed market, from at most the last 10,000 deals of each."""
    now = time.time() if now is None else now
    since = now - TICKER_PERIOD_S
    tickers = []
    for m in markets.market_list(listed_only=True):
        last = history.market_last_price(market=m.name)
        rows = history.market_deal_window(market=m.name, since=since, limit=TICKER_MAX_DEALS)
        prices = [r[0] for r in rows]
        zero = Decimal(0)
        tickers.append({
            "market": m.name,
            "last": plain(last) if last is not None else "0",
            "open": plain(prices[-1]) if prices else "0",
            "high": plain(max(prices)) if prices else "0",
            "low": plain(min(prices)) if prices else "0",
            "volume": plain(sum((r[1] for r in rows), zero)),
            "deal": plain(sum((r[2] for r in rows), zero)),
            "period": TICKER_PERIOD_S,
        })
    return tickers
