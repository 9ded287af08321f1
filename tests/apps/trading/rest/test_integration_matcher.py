"""REST v1 end to end against a real matcher: `python -m matcher` as a subprocess on a free
port, on the test database (committed rows: transactional_db), with the session's Kafka
broker. Orders, fills and staff deposits go through the matcher; history is read from the
rows its history writer commits."""
import uuid

import pytest
from django.test import Client

from apps.markets.services import demo_config_seed
from apps.trading import client as matcher_client
from apps.wire.errors import RpcError
from tests.backing import until
from tests.matcherproc import MatcherProc, server_database_url

from .conftest import signed_client



def _wait(predicate, timeout=15.0, what="condition"):
    return until(predicate, timeout, what, ignore=(RpcError,))

@pytest.fixture
def live_matcher(transactional_db, kafka_broker, tmp_path):
    demo_config_seed()
    proc = MatcherProc(server_database_url(), kafka_broker.bootstrap, log_path=tmp_path / "matcher.log",
                       MATCHER_KAFKA_TOPIC_PREFIX=f"rest{uuid.uuid4().hex[:8]}.", MATCHER_CONFIG_SYNC_INTERVAL="0.5")
    sync = matcher_client.SyncMatcherClient(port=proc.port, timeout=5.0)
    try:
        proc.start(timeout=30)
        matcher_client.set_sync_client(sync)
        _wait(lambda: len(matcher_client.call_sync("market.list", [])) == 3, what="the market configuration")
        yield proc.proc
    finally:
        matcher_client.set_sync_client(None)
        proc.stop(timeout=10)


def test_trading_through_rest_against_the_real_matcher(live_matcher, django_user_model):
    alice = django_user_model.objects.create_user(username="alice")
    bob = django_user_model.objects.create_user(username="bob")
    staff = django_user_model.objects.create_user(username="staff", is_staff=True)
    a, b, s = signed_client(alice), signed_client(bob), signed_client(staff)

    # staff deposits, applied once
    dep = {"user_id": alice.pk, "asset": "USDT", "amount": "10000", "business_id": 1}
    assert s.post("/api/v1/staff/deposits/", dep).status_code == 201
    assert s.post("/api/v1/staff/deposits/", dep).status_code == 409
    r = s.post("/api/v1/staff/deposits/", {"user_id": bob.pk, "asset": "BTC", "amount": "2", "business_id": 2})
    assert r.status_code == 201

    # alice bids, bob sells into it with a market order
    r = a.post("/api/v1/orders/", {"market": "BTCUSDT", "side": "buy", "amount": "1", "price": "8000",
                                   "client_order_id": "alice-1"})
    assert r.status_code == 201, r.content
    bid = r.json()
    assert bid["status"] == "open" and bid["client_order_id"] == "alice-1"
    r = a.post("/api/v1/orders/", {"market": "BTCUSDT", "side": "buy", "amount": "1", "price": "8000",
                                   "client_order_id": "alice-1"})
    assert r.status_code == 409 and r.json()["error"]["data"] == {"order_id": bid["id"]}
    r = b.post("/api/v1/orders/", {"market": "BTCUSDT", "side": "sell", "type": "market", "amount": "0.25"})
    assert r.status_code == 201 and r.json()["deal_stock"] == "0.25"
    # post-only that would trade: refused, nothing placed
    r = b.post("/api/v1/orders/", {"market": "BTCUSDT", "side": "sell", "amount": "0.1", "price": "7000",
                                   "post_only": True})
    assert r.status_code == 409

    # reads never stale: the fill shows at once
    got = a.get(f"/api/v1/orders/{bid['id']}/").json()
    assert got["left"] == "0.75" and got["status"] == "open"
    assert Client().get("/api/v1/depth/?market=BTCUSDT").json()["bids"] == [["8000", "0.75"]]
    balances = {x["asset"]: x for x in a.get("/api/v1/balances/").json()}
    assert balances["USDT"] == {"asset": "USDT", "available": "2000", "freeze": "6000"}
    assert balances["BTC"]["available"] == "0.24975"  # 0.25 less the 0.1 % maker fee

    # bob cannot see or cancel alice's order
    assert b.get(f"/api/v1/orders/{bid['id']}/").status_code == 404
    assert b.delete(f"/api/v1/orders/{bid['id']}/").status_code == 404

    r = a.delete(f"/api/v1/orders/{bid['id']}/")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert a.get("/api/v1/orders/?market=BTCUSDT").json()["records"] == []

    # history rows are written within ~1 s: the partly filled order is finished now
    finished = _wait(lambda: a.get(f"/api/v1/orders/{bid['id']}/").json().get("status") == "finished"
                     and a.get(f"/api/v1/orders/{bid['id']}/").json(), what="order history")
    assert finished["deal_stock"] == "0.25" and finished["client_order_id"] == "alice-1"
    deals = _wait(lambda: a.get("/api/v1/my/deals/?market=BTCUSDT").json()["records"], what="deal history")
    assert [(d["side"], d["role"], d["amount"], d["order_id"]) for d in deals] == [("buy", "maker", "0.25", bid["id"])]
    assert b.get("/api/v1/my/deals/").json()["records"][0]["role"] == "taker"
    hist = _wait(lambda: a.get("/api/v1/balances/history/?business=deposit").json()["records"], what="balances")
    assert [(h["asset"], h["change"], h["detail"]) for h in hist] == [("USDT", "10000", {"id": 1, "staff": staff.pk})]
    # recent deals and tickers come from market data (Kafka): tests/apps/marketdata/test_rest.py
