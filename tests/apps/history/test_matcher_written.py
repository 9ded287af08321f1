"""Golden history "written by the real matcher": commands run on matcher.core.Engine, its
events turned into rows by the history writer's own row builder (matcher.sinks.history.
rows_of) and inserted with its multi-row insert-ignore helper, then read back through the
readhistory methods."""
import pytest
from django.db import connection

import matcher.core as core
import matcher.log.db as db_helpers
import matcher.sinks.history as sink
from apps.history.rpc import HISTORY_METHODS

pytestmark = pytest.mark.django_db

T0 = 1_700_000_000  # s
S = 1_000_000  # µs per s


def run(engine, method, params, t):
    out = engine.execute(method, params, (T0 + t) * S)
    assert out.error is None, (method, params, out.error)
    return out


@pytest.fixture
def written(markets):
    e = core.Engine()
    events = []
    for a in ("BTC", "ETH", "USDT"):
        run(e, "asset.put", [a, 20, 8], 0)
    run(e, "market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001", True], 0)
    run(e, "market.put", ["ETHBTC", "ETH", "BTC", 8, 6, 4, "0.01", True], 0)
    script = [
        (0, "balance.update", [1, "BTC", "deposit", 1, "10", {"tx": "a1"}]),
        (1, "balance.update", [2, "USDT", "deposit", 2, "100000", {}]),
        (2, "order.put_limit", [1, "BTCUSDT", 1, "1", "8000", "0.002", "0.001", "web"]),  # order 1 (ask, rests)
        (3, "order.put_limit", [2, "BTCUSDT", 2, "0.4", "8000", "0.002", "0.001", "api"]),  # order 2: deal 1
        (4, "order.put_market", [2, "BTCUSDT", 2, "800", "0.002", "api"]),  # order 3: deal 2
        (5, "order.cancel", [1, "BTCUSDT", 1]),  # order 1 finished, partly filled
        (6, "balance.update", [2, "USDT", "withdraw", 3, "-100", {"to": "x"}]),
        (7, "order.put_limit", [2, "BTCUSDT", 2, "1", "7000", "0.002", "0.001", "api"]),  # order 4 rests, no fill
        (8, "order.cancel", [2, "BTCUSDT", 4]),  # cancelled without a fill: never in order history
    ]
    for t, method, params in script:
        events += run(e, method, params, t).events
    balances, orders, deals = [], [], []
    sink.rows_of(events, balances, orders, deals)
    with connection.cursor() as cur:
        for table, cols, rows in (("balance_history", sink.BALANCE_COLS, balances),
                                  ("order_history", sink.ORDER_COLS, orders),
                                  ("deal_history", sink.DEAL_COLS, deals)):
            db_helpers.executemany_ignore(cur, connection.vendor, table, cols, rows)
            db_helpers.executemany_ignore(cur, connection.vendor, table, cols, rows)  # a replay doubles nothing
    return e


def call(method, *params):
    return HISTORY_METHODS[method](list(params))


def test_order_finished_from_matcher(written):
    order1 = {"id": 1, "ctime": T0 + 2.0, "ftime": T0 + 4.0, "user": 1, "market": "BTCUSDT", "source": "web",
              "type": 1, "side": 1, "price": "8000", "amount": "1", "taker_fee": "0.002", "maker_fee": "0.001",
              "deal_stock": "0.5", "deal_money": "4000", "deal_fee": "4"}
    assert call("order.finished", 1, "BTCUSDT", 0, 0, 0, 10) == {"offset": 0, "limit": 10, "records": [order1]}
    user2 = call("order.finished", 2, "BTCUSDT", 0, 0, 0, 10)["records"]
    assert user2 == [
        {"id": 3, "ctime": T0 + 4.0, "ftime": T0 + 4.0, "user": 2, "market": "BTCUSDT", "source": "api",
         "type": 2, "side": 2, "price": "0", "amount": "800", "taker_fee": "0.002", "maker_fee": "0",
         "deal_stock": "0.1", "deal_money": "800", "deal_fee": "0.0002"},
        {"id": 2, "ctime": T0 + 3.0, "ftime": T0 + 3.0, "user": 2, "market": "BTCUSDT", "source": "api",
         "type": 1, "side": 2, "price": "8000", "amount": "0.4", "taker_fee": "0.002", "maker_fee": "0.001",
         "deal_stock": "0.4", "deal_money": "3200", "deal_fee": "0.0008"},
    ]
    assert call("order.finished", 2, "BTCUSDT", T0 + 4, 0, 0, 10)["records"] == user2[:1]
    assert call("order.finished_detail", 1) == order1
    assert call("order.finished_detail", 4) is None  # cancelled with no fill


def test_deals_from_matcher(written):
    assert call("order.deals", 1, 0, 10)["records"] == [
        {"time": T0 + 4.0, "user": 1, "id": 2, "role": 1, "price": "8000", "amount": "0.1", "deal": "800",
         "fee": "0.8", "deal_order_id": 3},
        {"time": T0 + 3.0, "user": 1, "id": 1, "role": 1, "price": "8000", "amount": "0.4", "deal": "3200",
         "fee": "3.2", "deal_order_id": 2},
    ]
    assert call("market.user_deals", 2, "BTCUSDT", 0, 10)["records"] == [
        {"time": T0 + 4.0, "user": 2, "id": 2, "side": 2, "role": 2, "price": "8000", "amount": "0.1",
         "deal": "800", "fee": "0.0002", "deal_order_id": 1, "market": "BTCUSDT"},
        {"time": T0 + 3.0, "user": 2, "id": 1, "side": 2, "role": 2, "price": "8000", "amount": "0.4",
         "deal": "3200", "fee": "0.0008", "deal_order_id": 1, "market": "BTCUSDT"},
    ]
    assert call("market.user_deals", 1, "ETHBTC", 0, 10)["records"] == []


def test_balance_history_from_matcher(written):
    user1 = call("balance.history", 1, "", "", 0, 0, 0, 101)["records"]
    assert [(r["time"] - T0, r["asset"], r["business"], r["change"], r["balance"]) for r in user1] == [
        (4.0, "USDT", "trade", "-0.8", "3996"),
        (4.0, "USDT", "trade", "800", "3996.8"),
        (4.0, "BTC", "trade", "-0.1", "9.5"),
        (3.0, "USDT", "trade", "-3.2", "3196.8"),
        (3.0, "USDT", "trade", "3200", "3200"),
        (3.0, "BTC", "trade", "-0.4", "9.6"),
        (0.0, "BTC", "deposit", "10", "10", ),
    ]
    assert user1[-1]["detail"] == {"id": 1, "tx": "a1"}  # business_id added by the matcher
    # trade details are passed through as the matcher stored them (decimals at their precision)
    assert user1[0]["detail"] == {"a": "0.10000000", "f": "0.0010", "i": 1, "m": "BTCUSDT", "p": "8000.00"}
    assert user1[1]["detail"] == {"a": "0.10000000", "i": 1, "m": "BTCUSDT", "p": "8000.00"}
    user2 = call("balance.history", 2, "USDT", "deposit,withdraw", 0, 0, 0, 101)["records"]
    assert [(r["business"], r["change"], r["balance"], r["detail"]) for r in user2] == [
        ("withdraw", "-100", "95900", {"id": 3, "to": "x"}), ("deposit", "100000", "100000", {"id": 2})]
    # the time window is [start, end)
    assert [r["change"] for r in call("balance.history", 1, "BTC", "", T0 + 3, T0 + 4, 0, 101)["records"]] == ["-0.4"]
