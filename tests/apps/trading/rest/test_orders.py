"""Happy paths and matcher error mapping of REST v1, against the matcher core in process."""
from decimal import Decimal

import pytest

from apps.history.models import BalanceHistory, DealHistory, OrderHistory
from apps.trading import client as matcher_client
from apps.trading.client import MatcherTimeout, MatcherUnavailable

from .conftest import fund

pytestmark = pytest.mark.django_db


def place(api, **body):
    body = {"market": "BTCUSDT", "side": "buy", "type": "limit", "amount": "0.5", "price": "8000", **body}
    return api.post("/api/v1/orders/", body)


def test_public_markets_and_assets(client, markets):
    r = client.get("/api/v1/markets/")
    assert r.status_code == 200
    assert [m["name"] for m in r.json()] == ["BTCUSDT", "ETHUSDT", "ETHBTC"]
    assert r.json()[0] == {"name": "BTCUSDT", "stock": "BTC", "money": "USDT", "stock_prec": 8, "money_prec": 2,
                           "fee_prec": 4, "min_amount": "0.001", "listed": True}
    assert client.get("/api/v1/assets/").json() == [{"name": "BTC", "prec": 8}, {"name": "ETH", "prec": 8},
                                                    {"name": "USDT", "prec": 8}]


def test_place_list_get_cancel_limit_order(engine, alice_api):
    fund(engine, alice_api.user, "USDT", "10000")
    r = place(alice_api, client_order_id="a-1")
    assert r.status_code == 201, r.content
    order = r.json()
    assert order["status"] == "open" and order["side"] == "buy" and order["type"] == "limit"
    assert order["price"] == "8000" and order["amount"] == "0.5" and order["left"] == "0.5"
    assert order["client_order_id"] == "a-1" and order["source"] == "api"

    balances = {b["asset"]: b for b in alice_api.get("/api/v1/balances/").json()}
    assert balances["USDT"] == {"asset": "USDT", "available": "6000", "freeze": "4000"}
    assert alice_api.get("/api/v1/balances/?asset=USDT").json() == [balances["USDT"]]

    page = alice_api.get("/api/v1/orders/?market=BTCUSDT").json()
    assert page["total"] == 1 and [o["id"] for o in page["records"]] == [order["id"]]
    assert alice_api.get(f"/api/v1/orders/{order['id']}/").json()["status"] == "open"
    assert alice_api.get(f"/api/v1/orders/{order['id']}/?market=BTCUSDT").json()["id"] == order["id"]

    r = alice_api.delete(f"/api/v1/orders/{order['id']}/")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert alice_api.get("/api/v1/orders/?market=BTCUSDT").json()["records"] == []
    # cancelled with no fill: no history, so not found any more
    assert alice_api.get(f"/api/v1/orders/{order['id']}/").status_code == 404
    assert alice_api.delete(f"/api/v1/orders/{order['id']}/?market=BTCUSDT").status_code == 404


def test_cancel_all(engine, alice_api):
    fund(engine, alice_api.user, "USDT", "10000")
    ids = [place(alice_api, price=p).json()["id"] for p in ("100", "200", "300")]
    r = alice_api.delete("/api/v1/orders/?market=BTCUSDT")
    assert r.status_code == 200
    assert r.json() == {"count": 3, "orders": ids}


def test_matching_and_market_order(engine, alice_api, bob_api):
    fund(engine, alice_api.user, "USDT", "10000")
    fund(engine, bob_api.user, "BTC", "2")
    buy = place(alice_api, amount="1", price="8000").json()
    sell = place(bob_api, side="sell", type="market", amount="0.25", price=None)
    assert sell.status_code == 400  # price not allowed for market orders (even null)
    sell = bob_api.post("/api/v1/orders/", {"market": "BTCUSDT", "side": "sell", "type": "market", "amount": "0.25"})
    assert sell.status_code == 201, sell.content
    assert sell.json()["status"] == "finished" and sell.json()["deal_stock"] == "0.25"
    assert sell.json()["deal_money"] == "2000"
    got = alice_api.get(f"/api/v1/orders/{buy['id']}/").json()
    assert got["left"] == "0.75" and got["deal_stock"] == "0.25" and got["status"] == "open"


def test_ioc_order_is_finished(engine, alice_api):
    fund(engine, alice_api.user, "USDT", "10000")
    r = place(alice_api, time_in_force="IOC")
    assert r.status_code == 201 and r.json()["status"] == "finished"


@pytest.mark.parametrize(
    "setup, body, status, code, field",
    [
        ("none", {}, 400, 10, None),  # balance not enough
        ("maker", {"side": "sell", "amount": "0.5", "price": "7000", "post_only": True}, 409, 12, "post_only"),
        ("maker", {"side": "sell", "amount": "2", "price": "7000", "time_in_force": "FOK"}, 409, 13, "time_in_force"),
    ],
)
def test_matcher_refusals_map_to_http(engine, alice_api, bob_api, setup, body, status, code, field):
    if setup == "maker":
        fund(engine, bob_api.user, "USDT", "100000")
        place(bob_api, amount="1", price="8000")
        fund(engine, alice_api.user, "BTC", "5")
    r = place(alice_api, **body)
    assert r.status_code == status, r.content
    error = r.json()["error"]
    assert error["code"] == code
    if field:
        assert field in error["fields"]


def test_duplicate_client_order_id_is_409(engine, alice_api):
    fund(engine, alice_api.user, "USDT", "10000")
    first = place(alice_api, client_order_id="dup", price="100").json()
    r = place(alice_api, client_order_id="dup", price="100")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == 14 and r.json()["error"]["data"] == {"order_id": first["id"]}


def test_market_order_without_counterparty_is_409(engine, alice_api):
    fund(engine, alice_api.user, "USDT", "10000")
    r = alice_api.post("/api/v1/orders/", {"market": "BTCUSDT", "side": "buy", "type": "market", "amount": "100"})
    assert r.status_code == 409 and r.json()["error"]["code"] == 12


class _Failing:
    def __init__(self, exc):
        self.exc = exc

    def call(self, method, params, *, timeout=None):
        raise self.exc

    def close(self):
        pass


@pytest.mark.parametrize("exc, status, code", [(MatcherUnavailable(), 503, 3), (MatcherTimeout(), 504, 5)])
def test_matcher_down_or_slow(markets, alice_api, exc, status, code):
    matcher_client.set_sync_client(_Failing(exc))
    try:
        r = place(alice_api)
        assert r.status_code == status
        assert r.json()["error"]["code"] == code
        assert alice_api.get("/api/v1/depth/?market=BTCUSDT").status_code == status
    finally:
        matcher_client.set_sync_client(None)


def test_depth(engine, client, alice_api):
    fund(engine, alice_api.user, "USDT", "100000")
    place(alice_api, amount="1", price="8000.5")
    place(alice_api, amount="2", price="8000.7")
    r = client.get("/api/v1/depth/?market=BTCUSDT&limit=5")
    assert r.json() == {"market": "BTCUSDT", "asks": [], "bids": [["8000.7", "2"], ["8000.5", "1"]]}
    r = client.get("/api/v1/depth/?market=BTCUSDT&interval=1")
    assert r.json()["bids"] == [["8000", "3"]]


def _history_rows(alice, bob):
    OrderHistory.objects.create(
        id=900, create_time=1000.0, finish_time=1001.0, user_id=alice.pk, market="BTCUSDT", source="web", t=1,
        side=2, price=Decimal("8000"), amount=Decimal("1"), taker_fee=Decimal("0.002"), maker_fee=Decimal("0.001"),
        deal_stock=Decimal("1"), deal_money=Decimal("8000"), deal_fee=Decimal("0.001"), client_order_id="h-1",
    )
    common = dict(time=1001.0, market="BTCUSDT", deal_id=50, price=Decimal("8000"), amount=Decimal("1"),
                  deal=Decimal("8000"), deal_fee=Decimal("0"))
    DealHistory.objects.create(id=100, user_id=bob.pk, order_id=901, deal_order_id=900, side=1, role=1,
                               fee=Decimal("8"), **common)
    DealHistory.objects.create(id=101, user_id=alice.pk, order_id=900, deal_order_id=901, side=2, role=2,
                               fee=Decimal("0.001"), **common)
    BalanceHistory.objects.create(id=1, time=999.0, user_id=alice.pk, asset="USDT", business="deposit",
                                  change=Decimal("8000"), balance=Decimal("8000"), detail='{"id": 1}')
    BalanceHistory.objects.create(id=2, time=999.5, user_id=bob.pk, asset="BTC", business="deposit",
                                  change=Decimal("1"), balance=Decimal("1"), detail='{"id": 2}')


def test_history_reads(engine, client, alice_api, bob_api):
    _history_rows(alice_api.user, bob_api.user)
    order = alice_api.get("/api/v1/orders/900/").json()
    assert order["status"] == "finished" and order["left"] == "0" and order["client_order_id"] == "h-1"
    assert order["mtime"] == 1001.0 and order["deal_money"] == "8000"
    page = alice_api.get("/api/v1/orders/finished/?market=BTCUSDT").json()
    assert [o["id"] for o in page["records"]] == [900]
    assert alice_api.get("/api/v1/orders/finished/?market=BTCUSDT&side=sell").json()["records"] == []

    deals = alice_api.get("/api/v1/my/deals/").json()["records"]
    assert deals == [{"id": 50, "time": 1001.0, "market": "BTCUSDT", "order_id": 900, "deal_order_id": 901,
                      "side": "buy", "role": "taker", "price": "8000", "amount": "1", "deal": "8000",
                      "fee": "0.001", "fee_asset": "BTC"}]
    assert alice_api.get("/api/v1/orders/900/deals/").json()["records"] == deals
    bob_deals = bob_api.get("/api/v1/my/deals/?market=BTCUSDT").json()["records"]
    assert [(d["side"], d["role"], d["fee_asset"]) for d in bob_deals] == [("sell", "maker", "USDT")]

    hist = alice_api.get("/api/v1/balances/history/").json()["records"]
    assert [(h["asset"], h["change"], h["detail"]) for h in hist] == [("USDT", "8000", {"id": 1})]
    assert alice_api.get("/api/v1/balances/history/?asset=BTC").json()["records"] == []

    # recent deals and tickers come from market data (Kafka): tests/apps/marketdata/test_rest.py
