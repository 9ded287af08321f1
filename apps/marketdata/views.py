"""REST v1 market data: tickers, one market's status, klines, recent trades — all read
fresh from the market-data store (apps.marketdata.selectors)."""
import time

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.response import Response

from apps.trading.errors import RpcError
from apps.trading.rest.views import E400, PublicView, _query

from . import selectors, serializers as s

KLINE_SCHEMA = {
    "type": "array",
    "items": {"type": "array", "minItems": 8, "maxItems": 8,
              "items": {"oneOf": [{"type": "integer"}, {"type": "string"}]}},
}
KLINE_ROW = OpenApiResponse(KLINE_SCHEMA, description=(
    "Rows [time, open, close, high, low, volume, deal, market], ascending; time is an integer (UTC "
    "seconds), the rest strings. A bucket without deals after an earlier candle is flat at that close with "
    "volume \"0\"; buckets before the first deal are omitted. At most 100,000 rows."))


class TickerListView(PublicView):
    """market.status over 24 h of every listed market, config order."""

    @extend_schema(tags=["public"], operation_id="tickers_list", summary="24 h tickers of listed markets",
                   responses={200: s.TickerOut(many=True)},
                   examples=[OpenApiExample("tickers", response_only=True, value={
                       "market": "BTCUSDT", "last": "8000", "open": "7900", "high": "8100", "low": "7800",
                       "volume": "12.5", "deal": "100000", "period": 86400})])
    def get(self, request):
        return Response([{k: t[k] for k in ("market", "last", "open", "high", "low", "volume", "deal", "period")}
                         for t in selectors.ticker_list()])


class MarketStatusView(PublicView):
    """market.status over `period` and market.status_today of one market."""

    @extend_schema(tags=["public"], operation_id="market_status", summary="One market's status over a period and today",
                   parameters=[s.StatusQuery], responses={200: s.StatusOut, 400: E400},
                   examples=[OpenApiExample("status", response_only=True, value={
                       "market": "BTCUSDT", "period": 86400, "last": "8000", "open": "7900", "close": "8000",
                       "high": "8100", "low": "7800", "volume": "12.5", "deal": "100000",
                       "today": {"open": "7950", "last": "8000", "high": "8100", "low": "7900", "volume": "12.5",
                                 "deal": "100000"}})])
    def get(self, request):
        q = _query(s.StatusQuery, request)
        name = q["market"].name
        return Response({"market": name, **selectors.status(name, q["period"]),
                         "today": selectors.status_today(name)})


class KlineView(PublicView):
    """market.kline: UTC buckets of `interval` seconds from start's bucket to end."""

    @extend_schema(tags=["public"], operation_id="klines", summary="Klines (candles) of a market",
                   parameters=[s.KlineQuery], responses={200: KLINE_ROW, 400: E400},
                   examples=[OpenApiExample("klines", response_only=True, value=[
                       [1602633600, "7900", "8000", "8100", "7800", "12.5", "100000", "BTCUSDT"]])])
    def get(self, request):
        q = _query(s.KlineQuery, request)
        interval, start = q["interval"], q["start"]
        if not selectors.interval_allowed(interval):
            raise RpcError.invalid("interval", "Not an allowed interval.")
        now = int(time.time())
        end = min(q["end"], now)
        if start > end:
            raise RpcError.invalid("start", "Must not be after end (end is clamped to now).")
        if selectors.kline_plan(start, end, interval, now)[2] > selectors.MAX_KLINE_POINTS:
            raise RpcError.invalid("interval", f"More than {selectors.MAX_KLINE_POINTS} points.")
        return Response(selectors.kline(q["market"].name, start, end, interval, now=now))


class MarketDealListView(PublicView):
    """market.deals: the newest deals with an id above last_id (the last 10,000 are kept)."""

    @extend_schema(tags=["public"], operation_id="deals_list", summary="Recent deals of a market, newest first",
                   parameters=[s.MarketDealsQuery], responses={200: s.MarketDealOut(many=True), 400: E400},
                   examples=[OpenApiExample("deals", response_only=True, value={
                       "id": 124, "time": 1602632410.913296, "price": "8000", "amount": "0.01", "type": "sell"})])
    def get(self, request):
        q = _query(s.MarketDealsQuery, request)
        return Response(selectors.recent_deals(q["market"].name, q["limit"], q["last_id"]))
