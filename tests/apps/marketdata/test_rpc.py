"""market.* JSON-RPC methods: shapes, strings vs numbers, empty periods, a new market's
first period, and bad input → code 1 naming the parameter."""
import time

import orjson
import pytest

from apps.marketdata.rpc import MARKETDATA_METHODS
from apps.marketdata.store import Deal
from apps.markets.services import demo_config_seed
from apps.trading.errors import RpcError
from apps.trading.jsonrpc import JsonRpcApp

pytestmark = pytest.mark.django_db


def call(method, *params):
    return MARKETDATA_METHODS[method](list(params))


def bad(method, params, param):
    with pytest.raises(RpcError) as e:
        MARKETDATA_METHODS[method](params)
    assert e.value.code == 1 and e.value.data["param"] == param, e.value.data
    return e.value.data


@pytest.fixture
def traded(store):
    """BTCUSDT: three deals in the current minute-ish, a fresh market (first period)."""
    now = int(time.time())
    t = now - 30
    store.apply([Deal(1, t + 0.5, "BTCUSDT", "8000.00", "0.10000000", 2),
                 Deal(2, t + 0.7, "BTCUSDT", "7990.50", "0.2", 1),
                 Deal(3, t + 2.25, "BTCUSDT", "8001.00", "0.05", 2)])
    return t


def test_shapes(traded, store):
    t = traded
    assert call("market.last", "BTCUSDT") == "8001.00"  # raw, not stripped
    deals = call("market.deals", "BTCUSDT", 2, 0)
    assert deals == [
        {"id": 3, "time": t + 2.25, "price": "8001", "amount": "0.05", "type": "buy"},
        {"id": 2, "time": t + 0.7, "price": "7990.5", "amount": "0.2", "type": "sell"},
    ]
    assert call("market.deals", "BTCUSDT", 10, 2) == deals[:1]
    assert call("market.deals", "BTCUSDT", 10, 3) == []
    s = call("market.status", "BTCUSDT", 86400)
    # a new market's first period: open/low are its first trades, never "0"
    assert s == {"period": 86400, "last": "8001", "open": "8000", "close": "8001", "high": "8001",
                 "low": "7990.5", "volume": "0.35", "deal": "2798.15"}
    assert call("market.status_today", "BTCUSDT")["volume"] == "0.35"
    today = call("market.status_today", "BTCUSDT")
    if t // 86400 == int(time.time()) // 86400:
        assert today == {"open": "8000", "last": "8001", "high": "8001", "low": "7990.5", "volume": "0.35",
                         "deal": "2798.15"}
    rows = call("market.kline", "BTCUSDT", t, t + 3, 1)
    assert rows == [
        [t, "8000", "7990.5", "8000", "7990.5", "0.3", "2398.1", "BTCUSDT"],
        [t + 1, "7990.5", "7990.5", "7990.5", "7990.5", "0", "0", "BTCUSDT"],  # gap: flat at the close
        [t + 2, "8001", "8001", "8001", "8001", "0.05", "400.05", "BTCUSDT"],
        [t + 3, "8001", "8001", "8001", "8001", "0", "0", "BTCUSDT"],
    ]
    # before the first deal: no candle at all
    assert call("market.kline", "BTCUSDT", t - 5, t - 1, 1) == []
    assert all(type(r[0]) is int for r in rows)


def test_configured_market_without_deals(store):
    demo_config_seed()
    assert call("market.last", "ETHBTC") == "0"
    assert call("market.deals", "ETHBTC", 10, 0) == []
    assert call("market.status", "ETHBTC", 60) == {"period": 60, "last": "0", "open": "0", "close": "0",
                                                     "high": "0", "low": "0", "volume": "0", "deal": "0"}
    assert call("market.status_today", "ETHBTC") == {"open": "0", "last": "0", "high": "0", "low": "0",
                                                       "volume": "0", "deal": "0"}
    assert call("market.kline", "ETHBTC", 1, 2**40, 86400) == []


def test_status_empty_period_keeps_last(traded):
    s = call("market.status", "BTCUSDT", 1)
    assert s["last"] == "8001" and s["open"] == s["volume"] == "0"


@pytest.mark.parametrize("method,params,param", [
    ("market.last", ["NOSUCH"], "market"),
    ("market.last", [], "params"),
    ("market.last", [1], "market"),
    ("market.deals", ["BTCUSDT", 0, 0], "limit"),
    ("market.deals", ["BTCUSDT", 10001, 0], "limit"),
    ("market.deals", ["BTCUSDT", 10, -1], "last_id"),
    ("market.deals", ["BTCUSDT", 10, "0"], "last_id"),
    ("market.deals", ["BTCUSDT", 10], "params"),
    ("market.deals", ["NOSUCH", 10, 0], "market"),
    ("market.kline", ["NOSUCH", 1, 2, 60], "market"),
    ("market.kline", ["BTCUSDT", 0, 100, 60], "start"),
    ("market.kline", ["BTCUSDT", -5, 100, 60], "start"),
    ("market.kline", ["BTCUSDT", 1.5, 100, 60], "start"),
    ("market.kline", ["BTCUSDT", 10, 100.0, 60], "end"),
    ("market.kline", ["BTCUSDT", 10, -1, 60], "end"),
    ("market.kline", ["BTCUSDT", 100, 10, 60], "start"),
    ("market.kline", ["BTCUSDT", 2**40, 2**41, 60], "start"),  # start in the future: after end (= now)
    ("market.kline", ["BTCUSDT", 10, 100, 7], "interval"),
    ("market.kline", ["BTCUSDT", 10, 100, 90], "interval"),
    ("market.kline", ["BTCUSDT", 10, 100, 7200 * 5], "interval"),
    ("market.kline", ["BTCUSDT", 10, 100, 86400 * 7 + 86400], "interval"),
    ("market.kline", ["BTCUSDT", 10, 100, 0], "interval"),
    ("market.kline", ["BTCUSDT", 10, 100, "60"], "interval"),
    ("market.kline", ["BTCUSDT", 1, 2**40, 1], "interval"),  # 604,800 points
    ("market.kline", ["BTCUSDT", 1, 2**40, 60], "interval"),  # 525,600 points
    ("market.kline", ["BTCUSDT", 1, 100, 60, 1], "params"),
    ("market.status", ["BTCUSDT", 0], "period"),
    ("market.status", ["BTCUSDT", 604801], "period"),
    ("market.status", ["BTCUSDT", True], "period"),
    ("market.status_today", ["NOSUCH"], "market"),
    ("market.status_today", ["BTCUSDT", 1], "params"),
])
def test_bad_input(traded, method, params, param):
    bad(method, params, param)


def test_allowed_intervals(traded):
    now = int(time.time())
    for interval in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600,
                     7200, 10800, 14400, 21600, 28800, 43200, 86400, 172800, 518400, 604800, 2592000):
        rows = call("market.kline", "BTCUSDT", now - 3600, now, interval)
        assert rows, interval
        assert all(r[0] % min(interval, 86400) == 0 for r in rows if interval <= 86400), interval


async def test_through_the_endpoint(traded):
    app = JsonRpcApp(client=object(), history_methods={})
    app._configure()  # as on the first request: loads apps.marketdata.rpc through the hook
    status, body = await app.handle_body(orjson.dumps({"method": "market.last", "params": ["BTCUSDT"], "id": 4}))
    assert status == 200 and orjson.loads(body) == {"error": None, "result": "8001.00", "id": 4}
    status, body = await app.handle_body(orjson.dumps(
        {"method": "market.kline", "params": ["BTCUSDT", 10, 100, 7], "id": 5}))
    assert orjson.loads(body)["error"] == {"code": 1, "message": "invalid argument",
                                           "data": {"param": "interval", "reason": orjson.loads(body)["error"]
                                                    ["data"]["reason"]}}
    app.close()
