"""POST / end to end against the real matcher: `python -m matcher` as a subprocess on a free
port, on the test database (committed rows), with the session's Kafka broker. History
methods read the rows the matcher's history writer commits."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from apps.trading.client import MatcherClient
from apps.trading.jsonrpc import JsonRpcApp
from tests.apps.trading.util import asgi_request
from tests.matcherproc import MatcherProc, server_database_url



@pytest.fixture
def live_matcher(transactional_db, kafka_broker, tmp_path):
    from apps.markets.services import demo_config_seed

    demo_config_seed()
    proc = MatcherProc(server_database_url(), kafka_broker.bootstrap, log_path=tmp_path / "matcher.log",
                       MATCHER_KAFKA_TOPIC_PREFIX=f"rpc{uuid.uuid4().hex[:8]}.", MATCHER_CONFIG_SYNC_INTERVAL="0.5")
    try:
        proc.start(timeout=30)
        yield proc.port
    finally:
        proc.stop(timeout=10)


@pytest.fixture
async def app(live_matcher):
    client = MatcherClient("127.0.0.1", live_matcher, timeout=5.0)
    a = JsonRpcApp(client=client, marketdata_methods={}, backend_timeout=5.0)
    deadline = time.monotonic() + 15
    while True:  # configuration sync: the three demo markets
        r = await asgi_request(a, {"method": "market.list", "params": [], "id": 0})
        if r.status == 200 and len(r.json()["result"] or []) == 3:
            break
        assert time.monotonic() < deadline, r
        await asyncio.sleep(0.1)
    yield a
    a.close()
    await client.close()


async def call(app, method, *params, error=None):
    r = await asgi_request(app, {"method": method, "params": list(params), "id": 1602599518243})
    assert r.status == 200, (method, r)
    body = r.json()
    assert body["id"] == 1602599518243
    if error is not None:
        assert body["error"] is not None and body["error"]["code"] == error, (method, params, body)
        return body["error"]
    assert body["error"] is None, (method, params, body)
    return body["result"]


async def eventually(app, method, *params, check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        result = await call(app, method, *params)
        if check(result):
            return result
        assert time.monotonic() < deadline, (method, params, result)
        await asyncio.sleep(0.1)


async def test_every_method_and_the_plain_client_scenario(app):
    buyer, seller = 5001, 5002
    # deposits (durable before the reply), then the repeat is refused
    assert await call(app, "balance.update", buyer, "USDT", "deposit", 1, "10000", {}) == {"status": "success"}
    assert await call(app, "balance.update", seller, "BTC", "deposit", 2, "2", {}) == {"status": "success"}
    assert (await call(app, "balance.update", buyer, "USDT", "deposit", 1, "10000", {}, error=10))["message"] == \
        "repeat update"
    err = await call(app, "balance.update", buyer, "USDT", "deposit", 3, "NaN", {}, error=1)
    assert err["message"] == "invalid argument" and err["data"]["param"] == "change"

    # a buy resting at a price; order.depth shows it
    bid = await call(app, "order.put_limit", buyer, "BTCUSDT", 2, "0.5", "9000.5", "0.002", "0.001", "rpc")
    assert (bid["left"], bid["price"], bid["source"], bid["type"], bid["side"]) == ("0.5", "9000.5", "rpc", 1, 2)
    assert await call(app, "order.depth", "BTCUSDT", 20, "0") == {"asks": [], "bids": [["9000.5", "0.5"]]}
    assert await call(app, "order.depth", "BTCUSDT", 20, "10") == {"asks": [], "bids": [["9000", "0.5"]]}
    book = await call(app, "order.book", "BTCUSDT", 2, 0, 10)
    assert (book["total"], [o["id"] for o in book["orders"]]) == (1, [bid["id"]])
    pending = await call(app, "order.pending", buyer, "BTCUSDT", 0, 10)
    assert pending["total"] == 1 and pending["records"][0]["id"] == bid["id"]
    assert (await call(app, "order.pending_detail", "BTCUSDT", bid["id"]))["left"] == "0.5"
    assert await call(app, "balance.query", buyer, "USDT") == {"USDT": {"available": "5499.75", "freeze": "4500.25"}}
    assert await call(app, "market.summary", "BTCUSDT") == [
        {"name": "BTCUSDT", "ask_count": 0, "ask_amount": "0", "bid_count": 1, "bid_amount": "0.5"}]

    # the other user sells into it: the level is gone at once, balances moved
    sell = await call(app, "order.put_limit", seller, "BTCUSDT", 1, "0.5", "9000", "0.002", "0.001", "")
    assert (sell["left"], sell["deal_stock"], sell["deal_money"], sell["deal_fee"]) == ("0e-8", "0.5", "4500.25", "9.0005")
    assert await call(app, "order.depth", "BTCUSDT", 20, "0") == {"asks": [], "bids": []}
    assert await call(app, "order.pending_detail", "BTCUSDT", bid["id"]) is None
    assert await call(app, "balance.query", buyer, "BTC", "USDT") == {
        "BTC": {"available": "0.4995", "freeze": "0"}, "USDT": {"available": "5499.75", "freeze": "0"}}
    assert await call(app, "balance.query", seller, "BTC", "USDT") == {
        "BTC": {"available": "1.5", "freeze": "0"}, "USDT": {"available": "4491.2495", "freeze": "0"}}

    # market order, cancel, cancel_all
    await call(app, "order.put_market", seller, "BTCUSDT", 1, "0.1", "0.002", "", error=12)
    rest = await call(app, "order.put_limit", seller, "BTCUSDT", 1, "0.2", "9100", "0.002", "0.001", "")
    mkt = await call(app, "order.put_market", buyer, "BTCUSDT", 2, "910", "0.002", "")
    assert (mkt["type"], mkt["price"], mkt["deal_stock"], mkt["deal_money"]) == (2, "0", "0.1", "910")
    assert (await call(app, "order.cancel", buyer, "BTCUSDT", rest["id"], error=11))["message"] == "user not match"
    cancelled = await call(app, "order.cancel", seller, "BTCUSDT", rest["id"])
    assert cancelled["left"] == "0.1"
    await call(app, "order.cancel", seller, "BTCUSDT", rest["id"], error=10)
    await call(app, "order.put_limit", seller, "BTCUSDT", 1, "0.01", "9999", "0.002", "0.001", "")
    assert (await call(app, "order.cancel_all", seller, "BTCUSDT"))["count"] == 1

    # reference data
    assert [a["name"] for a in await call(app, "asset.list")] == ["BTC", "ETH", "USDT"]
    summary = await call(app, "asset.summary", "BTC")
    assert summary[0]["name"] == "BTC" and summary[0]["total_balance"] == "1.9993"  # 2 less the BTC fees (no fee account)
    assert [m["name"] for m in await call(app, "market.list")] == ["BTCUSDT", "ETHUSDT", "ETHBTC"]

    # history (readhistory methods): rows committed by the matcher's history writer
    hist = await eventually(app, "balance.history", buyer, "USDT", "deposit", 0, 0, 0, 10,
                            check=lambda r: r["records"])
    assert [(h["change"], h["balance"], h["detail"]) for h in hist["records"]] == [("10000", "10000", {"id": 1})]
    finished = await eventually(app, "order.finished", buyer, "BTCUSDT", 0, 0, 0, 10,
                                check=lambda r: len(r["records"]) == 2)
    assert {o["id"] for o in finished["records"]} == {bid["id"], mkt["id"]}
    detail = await call(app, "order.finished_detail", bid["id"])
    assert (detail["deal_stock"], detail["deal_money"], detail["deal_fee"]) == ("0.5", "4500.25", "0.0005")
    assert await call(app, "order.finished_detail", 2**64 - 1) is None
    deals = await call(app, "order.deals", bid["id"], 0, 10)
    assert [(d["role"], d["price"], d["amount"], d["deal_order_id"]) for d in deals["records"]] == [
        (1, "9000.5", "0.5", sell["id"])]
    mine = await eventually(app, "market.user_deals", seller, "BTCUSDT", 0, 10, check=lambda r: len(r["records"]) == 2)
    assert {(d["side"], d["role"]) for d in mine["records"]} == {(1, 2), (1, 1)}

    # market data: a later step; never 404
    for method, params in [("market.last", ["BTCUSDT"]), ("market.deals", ["BTCUSDT", 10, 0]),
                           ("market.kline", ["BTCUSDT", 1, 2, 60]), ("market.status", ["BTCUSDT", 86400]),
                           ("market.status_today", ["BTCUSDT"])]:
        r = await asgi_request(app, {"method": method, "params": params, "id": 2})
        assert (r.status, r.json()) == (200, {"error": {"code": 3, "message": "service unavailable", "data": {
            "reason": "market data not available yet"}}, "result": None, "id": 2}), method


async def test_batch_against_the_real_matcher(app):
    user = 6001
    batch = [{"method": "balance.update", "params": [user, "USDT", "deposit", 10, "1000", {}], "id": 1}]
    batch += [{"method": "order.put_limit", "params": [user, "BTCUSDT", 2, "0.001", str(5000 + i), "0.002",
                                                        "0.001", ""], "id": 2 + i} for i in range(100)]
    batch.append({"method": "order.pending", "params": [user, "BTCUSDT", 0, 0], "id": 999})
    r = await asgi_request(app, batch)
    assert r.status == 200
    replies = r.json()
    assert [x["id"] for x in replies] == [1, *range(2, 102), 999]
    assert all(x["error"] is None for x in replies), [x for x in replies if x["error"]][:3]
    assert replies[-1]["result"]["total"] == 100
