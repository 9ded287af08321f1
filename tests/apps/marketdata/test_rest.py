"""End to end: an acknowledged fill of the real matcher (python -m matcher, Kafka) becomes
visible in market.deals / market.kline and REST v1 through the consumer; REST shapes and
bad input."""
import time
import uuid

import pytest
from django.test import Client

from apps.marketdata.rpc import MARKETDATA_METHODS
from apps.marketdata.store import Deal
from apps.markets.services import demo_config_seed
from apps.trading import client as matcher_client
from tests.matcherproc import MatcherProc, server_database_url

from .conftest import wait_for


@pytest.fixture
def live(md, store, transactional_db, kafka_broker, tmp_path, run_consumer):
    demo_config_seed()
    prefix = f"md{uuid.uuid4().hex[:8]}."
    md.MARKETDATA_DEALS_TOPIC = prefix + "deals"
    proc = MatcherProc(server_database_url(), kafka_broker.bootstrap, log_path=tmp_path / "matcher.log",
                       MATCHER_KAFKA_TOPIC_PREFIX=prefix, MATCHER_CONFIG_SYNC_INTERVAL="0.5")
    sync = matcher_client.SyncMatcherClient(port=proc.port, timeout=5.0)
    try:
        proc.start(timeout=30)
        matcher_client.set_sync_client(sync)
        wait_for(lambda: len(matcher_client.call_sync("market.list", [])) == 3, what="the market configuration")
        run_consumer(md.MARKETDATA_DEALS_TOPIC)
        yield matcher_client.call_sync
    finally:
        matcher_client.set_sync_client(None)
        proc.stop(timeout=10)


def test_acknowledged_fill_visible_in_market_data(live, store):
    call = live
    call("balance.update", [1, "USDT", "deposit", 1, "10000", {}])
    call("balance.update", [2, "BTC", "deposit", 2, "2", {}])
    call("order.put_limit", [1, "BTCUSDT", 2, "0.5", "8000", "0.002", "0.001", ""])
    t0 = int(time.time())
    filled = call("order.put_limit", [2, "BTCUSDT", 1, "0.2", "7990", "0.002", "0.001", ""])
    assert filled["deal_stock"] == "0.2"
    deals = wait_for(lambda: MARKETDATA_METHODS["market.deals"](["BTCUSDT", 10, 0]), what="the fill in market.deals")
    assert [(d["price"], d["amount"], d["type"]) for d in deals] == [("8000", "0.2", "sell")]
    assert MARKETDATA_METHODS["market.last"](["BTCUSDT"]) == "8000.00"  # raw, the market's money_prec
    rows = MARKETDATA_METHODS["market.kline"](["BTCUSDT", t0 - 60, t0 + 60, 60])
    assert rows[-1][1:] == ["8000", "8000", "8000", "8000", "0.2", "1600", "BTCUSDT"]

    c = Client()
    assert c.get("/api/v1/deals/?market=BTCUSDT").json() == deals
    assert c.get(f"/api/v1/deals/?market=BTCUSDT&last_id={deals[0]['id']}").json() == []
    tickers = {t["market"]: t for t in c.get("/api/v1/tickers/").json()}
    assert tickers["BTCUSDT"] == {"market": "BTCUSDT", "last": "8000", "open": "8000", "high": "8000", "low": "8000",
                                  "volume": "0.2", "deal": "1600", "period": 86400}
    assert tickers["ETHBTC"]["last"] == "0" and tickers["ETHBTC"]["open"] == "0"
    status = c.get("/api/v1/status/?market=BTCUSDT&period=3600").json()
    assert status["period"] == 3600 and status["volume"] == "0.2" and status["close"] == "8000"
    assert status["today"]["volume"] == "0.2"
    klines = c.get(f"/api/v1/klines/?market=BTCUSDT&start={t0 - 60}&end={t0 + 60}&interval=60").json()
    assert klines == rows


@pytest.mark.django_db
def test_rest_shapes_and_bad_input(md, store):
    demo_config_seed()
    now = int(time.time())
    store.apply([Deal(7, now - 100.5, "BTCUSDT", "8000.00", "0.50000000", 2)])
    c = Client()
    k = c.get(f"/api/v1/klines/?market=BTCUSDT&start={now - 200}&end={now}&interval=60").json()
    assert k and type(k[0][0]) is int and k[0][7] == "BTCUSDT" and k[-1][5] == "0"
    for query, field in [
        ("klines/?market=NOSUCH&start=1&end=2&interval=60", "market"),
        ("klines/?market=BTCUSDT&start=0&end=2&interval=60", "start"),
        ("klines/?market=BTCUSDT&start=-1&end=2&interval=60", "start"),
        ("klines/?market=BTCUSDT&start=1.5&end=2&interval=60", "start"),
        ("klines/?market=BTCUSDT&start=10&end=5&interval=60", "start"),
        ("klines/?market=BTCUSDT&start=1&end=5&interval=7", "interval"),
        ("klines/?market=BTCUSDT&start=1&end=1000000000000&interval=1", "interval"),
        ("klines/?market=BTCUSDT&start=1&interval=60", "end"),
        ("status/?market=BTCUSDT&period=0", "period"),
        ("status/?market=BTCUSDT&period=604801", "period"),
        ("status/?market=NOSUCH", "market"),
        ("deals/?market=BTCUSDT&limit=0", "limit"),
        ("deals/?market=BTCUSDT&last_id=-1", "last_id"),
    ]:
        r = c.get("/api/v1/" + query)
        assert r.status_code == 400, (query, r.content)
        assert field in r.json()["error"]["fields"], (query, r.json())
