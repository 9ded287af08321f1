"""Golden results of the five readhistory methods on the fixed history of conftest.py,
plus parameter validation exactly as readhistory/rh_server.c (+ spec README §6 overrides)."""
import pytest

from apps.history.rpc import HISTORY_METHODS
from apps.markets.models import Market
from apps.wire.errors import RpcError

pytestmark = pytest.mark.django_db

U64 = 2**64 - 1
U32 = 2**32 - 1


def call(method, *params):
    return HISTORY_METHODS[method](list(params))


def invalid(method, *params):
    with pytest.raises(RpcError) as e:
        call(method, *params)
    assert e.value.code == 1
    assert e.value.message == "invalid argument"
    assert set(e.value.data) == {"param", "reason"}
    return e.value.data["param"]


TRADE = {"a": "0.5", "i": 7, "m": "BTCUSDT", "p": "8000"}

# balance.history of user 1, everything, newest first
BH_USER1 = [
    {"time": 1007.0, "asset": "BTC", "business": "bonus", "change": "1.25", "balance": "9.85", "detail": {}},
    {"time": 1005.0, "asset": "BTC", "business": "deposit", "change": "0.1", "balance": "8.6", "detail": {"id": 9}},
    {"time": 1004.000001, "asset": "ETH", "business": "deposit", "change": "0.00000001", "balance": "0.00000001",
     "detail": {}},  # stored "[1, 2]": not an object
    {"time": 1003.0, "asset": "BTC", "business": "withdraw", "change": "-1", "balance": "8.5",
     "detail": {}},  # stored "not json"
    {"time": 1002.0, "asset": "USDT", "business": "trade", "change": "-8", "balance": "53992",
     "detail": {**TRADE, "f": "0.002"}},
    {"time": 1002.0, "asset": "USDT", "business": "trade", "change": "4000", "balance": "54000", "detail": TRADE},
    {"time": 1002.0, "asset": "BTC", "business": "trade", "change": "-0.5", "balance": "9.5", "detail": TRADE},
    {"time": 1000.5, "asset": "USDT", "business": "deposit", "change": "50000", "balance": "50000",
     "detail": {"id": 2}},
    {"time": 1000.0, "asset": "BTC", "business": "deposit", "change": "10", "balance": "10", "detail": {"id": 1}},
]


def bh(user_id=1, asset="", business="", start=0, end=0, offset=0, limit=101, *extra):
    return call("balance.history", user_id, asset, business, start, end, offset, limit, *extra)


def test_balance_history_golden(history):
    assert bh() == {"offset": 0, "limit": 101, "records": BH_USER1}


def test_balance_history_detail_keys_and_types(history):
    record = bh(business="trade", limit=1)["records"][0]
    assert list(record) == ["time", "asset", "business", "change", "balance", "detail"]
    assert isinstance(record["time"], float) and isinstance(record["detail"]["i"], int)


@pytest.mark.parametrize("asset, business, expected", [
    ("BTC", "", [0, 1, 3, 6, 8]),
    ("USDT", "", [4, 5, 7]),
    ("", "trade", [4, 5, 6]),
    ("", "deposit,withdraw", [1, 2, 3, 7, 8]),
    ("", "withdraw,deposit", [1, 2, 3, 7, 8]),
    ("", ",deposit,", [1, 2, 7, 8]),
    ("BTC", "deposit,trade", [1, 6, 8]),
    ("BTC", "deposit", [1, 8]),
    ("", "deposi", []),
    ("DOGE", "", []),
    ("", "trade,fee,bonus", [0, 4, 5, 6]),
])
def test_balance_history_asset_and_business_filters(history, asset, business, expected):
    assert bh(asset=asset, business=business)["records"] == [BH_USER1[i] for i in expected]


@pytest.mark.parametrize("start, end, expected", [
    (0, 0, list(range(9))),
    (1002, 1005, [2, 3, 4, 5, 6]),  # start inclusive (1002.0 rows in), end exclusive (1005.0 out)
    (1002, 0, [0, 1, 2, 3, 4, 5, 6]),
    (0, 1002, [7, 8]),
    (1004, 1005, [2]),  # 1004.000001
    (1003, 1003, []),  # start == end is allowed, matches nothing
    (5000, 0, []),
    (0, 1000, []),
    (0, 1001, [7, 8]),
])
def test_balance_history_time_range(history, start, end, expected):
    assert bh(start=start, end=end)["records"] == [BH_USER1[i] for i in expected]


def test_balance_history_users_are_isolated(history):
    assert [r["detail"] for r in bh(user_id=2)["records"]] == [{"id": 10}, {"id": 3}]
    assert bh(user_id=3)["records"] == []
    assert bh(user_id=U32)["records"] == []
    assert all(r not in BH_USER1 for r in bh(user_id=2)["records"])


@pytest.mark.parametrize("offset, limit, expected", [
    (0, 1, [0]),
    (1, 1, [1]),
    (8, 1, [8]),
    (8, 101, [8]),
    (9, 1, []),  # offset at the end
    (10, 101, []),  # past the end
    (U64, 101, []),  # offset has no maximum
    (3, 2, [3, 4]),
    (0, 101, list(range(9))),
])
def test_balance_history_pagination(history, offset, limit, expected):
    assert bh(offset=offset, limit=limit) == {
        "offset": offset, "limit": limit, "records": [BH_USER1[i] for i in expected]}


def test_balance_history_lenient_integers(history):
    # a non-integer JSON value counts as 0 (rh_server.c json_integer_value)
    assert bh(start="1002", end=1005.0, offset="3")["records"] == BH_USER1
    assert bh(start=None, end=True, offset=1.5, limit=2) == {"offset": 0, "limit": 2, "records": BH_USER1[:2]}


@pytest.mark.parametrize("params, param", [
    ((1, "", "", 0, 0, 0), "params"),
    ((1, "", "", 0, 0, 0, 10, 0, 0), "params"),
    ((), "params"),
    ((0, "", "", 0, 0, 0, 10), "user_id"),
    (("1", "", "", 0, 0, 0, 10), "user_id"),
    ((1.0, "", "", 0, 0, 0, 10), "user_id"),
    ((-1, "", "", 0, 0, 0, 10), "user_id"),
    ((U32 + 1, "", "", 0, 0, 0, 10), "user_id"),  # the original wraps to 0 → 1 anyway; 2^32+1 must not be user 1
    ((U32 + 2, "", "", 0, 0, 0, 10), "user_id"),
    ((1, None, "", 0, 0, 0, 10), "asset"),
    ((1, 5, "", 0, 0, 0, 10), "asset"),
    ((1, "", ["trade"], 0, 0, 0, 10), "business"),
    ((1, "", "", 1005, 1002, 0, 10), "end_time"),
    ((1, "", "", -1, 0, 0, 10), "start_time"),
    ((1, "", "", 0, U64 + 1, 0, 10), "end_time"),
    ((1, "", "", 0, 0, -1, 10), "offset"),
    ((1, "", "", 0, 0, U64 + 1, 10), "offset"),
    ((1, "", "", 0, 0, 0, 0), "limit"),
    ((1, "", "", 0, 0, 0, 102), "limit"),
    ((1, "", "", 0, 0, 0, -1), "limit"),
    ((1, "", "", 0, 0, 0, "10"), "limit"),
    ((1, "", "", 0, 0, 0, 10.0), "limit"),
    ((1, "", "", 0, 0, 0, 10, -1), "before_id"),
    ((1, "", "", 0, 0, 0, 10, "5"), "before_id"),
    ((1, "", "", 0, 0, 0, 10, U64 + 1), "before_id"),
])
def test_balance_history_invalid(history, params, param):
    assert invalid("balance.history", *params) == param


def test_balance_history_keyset(history):
    first = bh(1, "", "", 0, 0, 0, 4, 0)
    assert first == {"offset": 0, "limit": 4, "records": BH_USER1[:4], "next_before_id": 7}
    second = bh(1, "", "", 0, 0, 0, 4, first["next_before_id"])
    assert second == {"offset": 0, "limit": 4, "records": BH_USER1[4:8], "next_before_id": 2}
    third = bh(1, "", "", 0, 0, 0, 4, second["next_before_id"])
    assert third == {"offset": 0, "limit": 4, "records": BH_USER1[8:], "next_before_id": None}
    # null = from the newest; keyset combines with the filters and with offset
    assert bh(1, "", "", 0, 0, 0, 4, None)["records"] == BH_USER1[:4]
    assert bh(1, "BTC", "deposit,withdraw", 0, 0, 0, 101, 9)["records"] == [BH_USER1[i] for i in (3, 8)]
    assert bh(1, "", "", 0, 0, 1, 2, 7)["records"] == BH_USER1[5:7]
    # old clients (7 params) never see the extra key
    assert "next_before_id" not in bh()


# ---------------------------------------------------------------- order.finished

OF_USER1_BTCUSDT = [
    {"id": 10, "ctime": 1004.0, "ftime": 1005.0, "user": 1, "market": "BTCUSDT", "source": "", "type": 1,
     "side": 1, "price": "8100", "amount": "0.3", "taker_fee": "0.002", "maker_fee": "0.001",
     "deal_stock": "0.1", "deal_money": "810", "deal_fee": "1.62"},
    {"id": 8, "ctime": 1002.0, "ftime": 1002.0, "user": 1, "market": "BTCUSDT", "source": "api", "type": 2,
     "side": 2, "price": "0", "amount": "100", "taker_fee": "0.002", "maker_fee": "0",
     "deal_stock": "0.0125", "deal_money": "100", "deal_fee": "0.000025"},
    {"id": 7, "ctime": 1001.0, "ftime": 1002.5, "user": 1, "market": "BTCUSDT", "source": "web", "type": 1,
     "side": 1, "price": "8000", "amount": "0.5", "taker_fee": "0.002", "maker_fee": "0.001",
     "deal_stock": "0.5", "deal_money": "4000", "deal_fee": "8"},
    {"id": 5, "ctime": 1000.0, "ftime": 1001.0, "user": 1, "market": "BTCUSDT", "source": "web", "type": 1,
     "side": 2, "price": "8000", "amount": "1", "taker_fee": "0.002", "maker_fee": "0.001",
     "deal_stock": "1", "deal_money": "8000", "deal_fee": "0.002"},
]


def of(user_id=1, market="BTCUSDT", start=0, end=0, offset=0, limit=101, *extra):
    return call("order.finished", user_id, market, start, end, offset, limit, *extra)


def test_order_finished_golden(history):
    assert of() == {"offset": 0, "limit": 101, "records": OF_USER1_BTCUSDT}
    assert [r["id"] for r in of(market="ETHBTC")["records"]] == [9]
    assert of(market="ETHUSDT")["records"] == []
    assert [r["id"] for r in of(user_id=2)["records"]] == [6]
    assert of(user_id=3)["records"] == []


@pytest.mark.parametrize("side, ids", [(0, [10, 8, 7, 5]), (1, [10, 7]), (2, [8, 5]), ("2", [10, 8, 7, 5])])
def test_order_finished_side(history, side, ids):
    assert [r["id"] for r in of(1, "BTCUSDT", 0, 0, 0, 101, side)["records"]] == ids


@pytest.mark.parametrize("start, end, ids", [
    (1001, 1004, [8, 7]),  # on create_time: start inclusive, end exclusive
    (1004, 0, [10]),
    (0, 1001, [5]),
    (1000, 1000, []),
])
def test_order_finished_time_range(history, start, end, ids):
    assert [r["id"] for r in of(start=start, end=end)["records"]] == ids


def test_order_finished_pagination_and_keyset(history):
    assert of(offset=3, limit=1)["records"] == OF_USER1_BTCUSDT[3:]
    assert of(offset=4, limit=1)["records"] == []
    page = of(1, "BTCUSDT", 0, 0, 0, 2, 0, 0)
    assert page["records"] == OF_USER1_BTCUSDT[:2] and page["next_before_id"] == 8
    page = of(1, "BTCUSDT", 0, 0, 0, 2, 0, page["next_before_id"])
    assert page["records"] == OF_USER1_BTCUSDT[2:] and page["next_before_id"] == 5
    assert of(1, "BTCUSDT", 0, 0, 0, 2, 0, 5) == {"offset": 0, "limit": 2, "records": [], "next_before_id": None}
    assert of(1, "BTCUSDT", 0, 0, 0, 101, 1, 10)["records"] == [OF_USER1_BTCUSDT[2]]


def test_order_finished_delisted_market_stays_readable(history):
    Market.objects.filter(name="ETHBTC").update(listed=False)
    assert [r["id"] for r in of(market="ETHBTC")["records"]] == [9]


@pytest.mark.parametrize("params, param", [
    ((1, "BTCUSDT", 0, 0, 0), "params"),
    ((0, "BTCUSDT", 0, 0, 0, 10), "user_id"),
    ((U32 + 1, "BTCUSDT", 0, 0, 0, 10), "user_id"),
    ((1, 1, 0, 0, 0, 10), "market"),
    ((1, None, 0, 0, 0, 10), "market"),
    ((1, "NOPE", 0, 0, 0, 10), "market"),  # a market that never existed
    ((1, "", 0, 0, 0, 10), "market"),
    ((1, "btcusdt", 0, 0, 0, 10), "market"),
    ((1, "BTCUSDT", 10, 5, 0, 10), "end_time"),
    ((1, "BTCUSDT", 0, 0, -5, 10), "offset"),
    ((1, "BTCUSDT", 0, 0, 0, 0), "limit"),
    ((1, "BTCUSDT", 0, 0, 0, 102), "limit"),
    ((1, "BTCUSDT", 0, 0, 0, 10, 3), "side"),
    ((1, "BTCUSDT", 0, 0, 0, 10, -1), "side"),
    ((1, "BTCUSDT", 0, 0, 0, 10, 0, "x"), "before_id"),
])
def test_order_finished_invalid(history, params, param):
    assert invalid("order.finished", *params) == param


def test_order_finished_detail(history):
    assert call("order.finished_detail", 7) == OF_USER1_BTCUSDT[2]
    assert call("order.finished_detail", 6)["user"] == 2
    assert call("order.finished_detail", 999) is None
    assert call("order.finished_detail", U64) is None  # unknown ids up to 2^64-1 answer null
    for params, param in [((0,), "order_id"), (("7",), "order_id"), ((U64 + 1,), "order_id"),
                          ((-7,), "order_id"), ((), "params"), ((7, 1), "params")]:
        assert invalid("order.finished_detail", *params) == param


# ---------------------------------------------------------------- order.deals

def test_order_deals_golden(history):
    assert call("order.deals", 7, 0, 101) == {"offset": 0, "limit": 101, "records": [
        {"time": 1002.0, "user": 1, "id": 2, "role": 1, "price": "8000", "amount": "0.5", "deal": "4000",
         "fee": "8", "deal_order_id": 4},
    ]}
    assert call("order.deals", 4, 0, 101)["records"] == [
        {"time": 1002.0, "user": 3, "id": 2, "role": 2, "price": "8000", "amount": "0.5", "deal": "4000",
         "fee": "0.001", "deal_order_id": 7},
    ]
    assert call("order.deals", 999, 0, 10) == {"offset": 0, "limit": 10, "records": []}
    assert call("order.deals", U64, 0, 10)["records"] == []


def test_order_deals_pagination_and_keyset(history):
    from apps.history.models import DealHistory
    from tests.apps.history.conftest import deal_pair
    import copy
    # order 7 gets two more fills (deals 6 and 7)
    DealHistory.objects.bulk_create([copy.copy(r) for r in [
        *deal_pair(6, 1006.0, "BTCUSDT", (1, 7), (2, 20), 2, "8000", "0.1", "800", "1.6", "0.0002"),
        *deal_pair(7, 1007.0, "BTCUSDT", (1, 7), (2, 21), 2, "8000", "0.2", "1600", "3.2", "0.0004"),
    ]])
    all_ = call("order.deals", 7, 0, 101)["records"]
    assert [r["id"] for r in all_] == [7, 6, 2]
    assert [r["deal_order_id"] for r in all_] == [21, 20, 4]
    assert call("order.deals", 7, 1, 1)["records"] == all_[1:2]
    assert call("order.deals", 7, 3, 1)["records"] == []
    page = call("order.deals", 7, 0, 2, 0)
    assert page["records"] == all_[:2] and page["next_before_id"] == 12  # row id of deal 6 (ask row)
    page = call("order.deals", 7, 0, 2, page["next_before_id"])
    assert page == {"offset": 0, "limit": 2, "records": all_[2:], "next_before_id": None}


@pytest.mark.parametrize("params, param", [
    ((7, 0), "params"),
    ((7, 0, 10, 0, 0), "params"),
    ((0, 0, 10), "order_id"),
    ((7.0, 0, 10), "order_id"),
    ((U64 + 1, 0, 10), "order_id"),
    ((7, -1, 10), "offset"),
    ((7, 0, 0), "limit"),
    ((7, 0, 102), "limit"),
    ((7, 0, 10, [1]), "before_id"),
])
def test_order_deals_invalid(history, params, param):
    assert invalid("order.deals", *params) == param


# ---------------------------------------------------------------- market.user_deals

UD_USER1_BTCUSDT = [
    # deal 5 is a self-trade: one record per own order side, bid row (higher id) first
    {"time": 1005.0, "user": 1, "id": 5, "side": 2, "role": 2, "price": "8100", "amount": "0.1", "deal": "810",
     "fee": "0.0002", "deal_order_id": 10, "market": "BTCUSDT"},
    {"time": 1005.0, "user": 1, "id": 5, "side": 1, "role": 1, "price": "8100", "amount": "0.1", "deal": "810",
     "fee": "1.62", "deal_order_id": 12, "market": "BTCUSDT"},
    {"time": 1002.0, "user": 1, "id": 3, "side": 2, "role": 2, "price": "8000", "amount": "0.0125",
     "deal": "100", "fee": "0.000025", "deal_order_id": 3, "market": "BTCUSDT"},
    {"time": 1002.0, "user": 1, "id": 2, "side": 1, "role": 1, "price": "8000", "amount": "0.5", "deal": "4000",
     "fee": "8", "deal_order_id": 4, "market": "BTCUSDT"},
    {"time": 1001.0, "user": 1, "id": 1, "side": 2, "role": 1, "price": "8000", "amount": "1", "deal": "8000",
     "fee": "0.002", "deal_order_id": 6, "market": "BTCUSDT"},
]


def test_market_user_deals_golden(history):
    assert call("market.user_deals", 1, "BTCUSDT", 0, 101) == {
        "offset": 0, "limit": 101, "records": UD_USER1_BTCUSDT}
    assert [(r["id"], r["side"], r["user"]) for r in call("market.user_deals", 1, "ETHBTC", 0, 101)["records"]] == [
        (4, 1, 1)]
    assert [(r["id"], r["side"]) for r in call("market.user_deals", 2, "BTCUSDT", 0, 101)["records"]] == [(1, 1)]
    assert [(r["id"], r["side"]) for r in call("market.user_deals", 3, "BTCUSDT", 0, 101)["records"]] == [
        (3, 1), (2, 2)]
    assert call("market.user_deals", 4, "BTCUSDT", 0, 101)["records"] == []
    assert call("market.user_deals", 1, "ETHUSDT", 0, 101)["records"] == []


def test_market_user_deals_pagination(history):
    for offset in range(6):
        for limit in (1, 2, 101):
            assert call("market.user_deals", 1, "BTCUSDT", offset, limit)["records"] == \
                UD_USER1_BTCUSDT[offset:offset + limit]


def test_market_user_deals_keyset_does_not_split_a_self_trade(history):
    seen, cursor = [], 0
    while True:
        page = call("market.user_deals", 1, "BTCUSDT", 0, 1, cursor)
        seen += page["records"]
        if page["next_before_id"] is None:
            break
        cursor = page["next_before_id"]
    assert seen == UD_USER1_BTCUSDT


@pytest.mark.parametrize("params, param", [
    ((1, "BTCUSDT", 0), "params"),
    ((1, "BTCUSDT", 0, 10, 0, 0), "params"),
    ((0, "BTCUSDT", 0, 10), "user_id"),
    (("1", "BTCUSDT", 0, 10), "user_id"),
    ((1, 3, 0, 10), "market"),
    ((1, "DOGEUSDT", 0, 10), "market"),
    ((1, "BTCUSDT", -1, 10), "offset"),
    ((1, "BTCUSDT", 0, 0), "limit"),
    ((1, "BTCUSDT", 0, 102), "limit"),
    ((1, "BTCUSDT", 0, 101, 1.5), "before_id"),
])
def test_market_user_deals_invalid(history, params, param):
    assert invalid("market.user_deals", *params) == param


def test_limit_101_is_accepted_everywhere(history):
    assert bh(limit=101)["limit"] == 101
    assert of(limit=101)["limit"] == 101
    assert call("order.deals", 7, 0, 101)["limit"] == 101
    assert call("market.user_deals", 1, "BTCUSDT", 0, 101)["limit"] == 101


@pytest.mark.parametrize("asset, business, start, hint", [
    ("", "", 0, "FORCE INDEX (bh_user)"),
    ("BTC", "", 0, "FORCE INDEX (bh_user_asset)"),
    ("BTC", "trade", 0, "FORCE INDEX (bh_user_asset_business)"),
    ("", "trade", 0, "FORCE INDEX (bh_user_business)"),
    ("", "trade,fee", 0, "USE INDEX (bh_user, bh_user_business)"),
    ("BTC", "", 1002, "USE INDEX (bh_user_asset, bh_user_time_asset)"),
    ("", "", 1002, "USE INDEX (bh_user, bh_user_time_asset)"),
])
def test_balance_history_index_hints_on_mysql(history, asset, business, start, hint):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert connection.vendor == "mysql"  # the tests run on MySQL/MariaDB only (tests/conftest.py)
    expected = bh(asset=asset, business=business, start=start)["records"]
    assert expected == [r for r in BH_USER1 if (not asset or r["asset"] == asset)
                        and (not business or r["business"] in business.split(","))
                        and r["time"] >= start]
    with CaptureQueriesContext(connection) as ctx:
        bh(asset=asset, business=business, start=start)
    assert any(hint in q["sql"] for q in ctx.captured_queries)
