"""Requests over the real server (uvicorn, as make run): server.ping/time, every query
relayed from its backend, bad input answered with the connection kept, private methods
refused before auth, oversized frames closed with a reason."""
import json
import time
from decimal import Decimal as D

import pytest
from websockets.exceptions import ConnectionClosed

pytestmark = pytest.mark.django_db(transaction=True)


def test_ping_time_queries_and_bad_input(make_stack):
    stack = make_stack(bridge=False)
    ws = stack.ws()
    assert ws.request("server.ping", []) == {"error": None, "result": "pong", "id": 1}
    now = ws.ok("server.time", [])
    assert type(now) is int and abs(now - time.time()) < 5
    slash = stack.ws("/ws/")
    assert slash.ok("server.ping", ["anything"]) == "pong"
    slash.close()

    # some book and one deal through JSON-RPC
    stack.deposit(1, "USDT", "100000")
    stack.deposit(2, "BTC", "10")
    stack.call("order.put_limit", [1, "BTCUSDT", 2, "1", "8000", "0.002", "0.001", "web"])
    stack.call("order.put_limit", [1, "BTCUSDT", 2, "2", "7990.5", "0.002", "0.001", "web"])
    stack.call("order.put_limit", [2, "BTCUSDT", 1, "0.5", "8000", "0.002", "0.001", "web"])
    stack.call("order.put_limit", [2, "BTCUSDT", 1, "3", "8100", "0.002", "0.001", "web"])

    depth = ws.request("depth.query", ["BTCUSDT", 10, "0"])
    assert depth == {"error": None, "id": depth["id"],
                     "result": {"asks": [["8100", "3"]], "bids": [["8000", "0.5"], ["7990.5", "2"]]}}
    assert ws.ok("depth.query", ["BTCUSDT", 10, "10"]) == {"asks": [["8100", "3"]], "bids": [["8000", "0.5"], ["7990", "2"]]}
    assert ws.request("depth.query", ["BTCUSDT", 102, "0"])["error"]["code"] == 1
    assert ws.request("depth.query", ["NOPE", 10, "0"])["error"]["code"] == 1  # relayed from the matcher

    # market data reflects the deal within a second or so (apps.marketdata)
    from tests.apps.realtime.conftest import wait_for
    wait_for(lambda: D(ws.ok("price.query", ["BTCUSDT"])) == 8000, what="last price")
    deals = ws.ok("deals.query", ["BTCUSDT", 10, 0])
    assert [(D(d["price"]), D(d["amount"]), d["type"]) for d in deals] == [(8000, D("0.5"), "sell")]
    now = int(time.time())
    kline = ws.ok("kline.query", ["BTCUSDT", now - 120, now + 60, 60])
    assert kline and [D(x) for x in kline[-1][1:7]] == [8000, 8000, 8000, 8000, D("0.5"), 4000]
    assert kline[-1][7] == "BTCUSDT"
    state = ws.ok("state.query", ["BTCUSDT", 86400])
    assert D(state["last"]) == 8000 and D(state["volume"]) == D("0.5") and state["period"] == 86400
    today = ws.ok("today.query", ["BTCUSDT"])
    assert D(today["last"]) == 8000 and D(today["deal"]) == 4000
    assert ws.request("state.query", ["BTCUSDT"])["error"]["code"] == 1
    assert ws.request("kline.query", ["NOPE", now - 60, now, 60])["error"]["code"] == 1

    # private methods need auth: 6
    for method, params in [("order.query", ["BTCUSDT", 0, 10]), ("asset.query", []), ("order.subscribe", ["BTCUSDT"]),
                           ("asset.subscribe", ["BTC"]), ("order.history", ["BTCUSDT", 0, 0, 0, 10, 0]),
                           ("asset.history", ["BTC", "", 0, 0, 0, 10]), ("order.unsubscribe", []),
                           ("asset.unsubscribe", [])]:
        reply = ws.request(method, params)
        assert reply["error"] == {"code": 6, "message": "require authentication"} and reply["result"] is None, method

    # bad input: an error reply, the connection stays usable
    ws.send_raw("{not json")
    assert ws.recv() == {"error": {"code": 1, "message": "invalid argument",
                                   "data": {"param": "request", "reason": "invalid JSON"}}, "result": None, "id": None}
    ws.send_raw("[1, 2]")
    assert ws.recv()["error"]["code"] == 1
    ws.send_raw(json.dumps({"method": "no.such", "params": [], "id": 77}))
    assert ws.recv() == {"error": {"code": 4, "message": "method not found"}, "result": None, "id": 77}
    ws.send_raw(json.dumps({"method": "server.ping", "params": {}, "id": 78}))
    assert ws.recv()["error"]["data"]["param"] == "params"
    ws.send_raw(json.dumps({"method": "server.ping", "params": [], "id": "x"}))
    assert ws.recv()["error"]["data"]["param"] == "id"
    for params in (["BTCUSDT", 7, "0"], ["BTCUSDT", 10, "0.5"], ["BTCUSDT", 10], ["BTCUSDT", "10", "0"],
                   ["B" * 16, 10, "0"]):
        assert ws.request("depth.subscribe", params)["error"]["code"] == 1, params
    assert ws.request("kline.subscribe", ["BTCUSDT", 0])["error"]["code"] == 1
    assert ws.request("price.subscribe", ["BTCUSDT", 5])["error"]["code"] == 1
    assert ws.request("server.auth", ["only-token"])["error"]["code"] == 1
    assert ws.request("server.sign", ["id", "sig", 0])["error"]["code"] == 1
    assert ws.ok("server.ping", []) == "pong"

    # subscriptions: success, also for an unknown market (nothing is ever pushed there)
    success = {"status": "success"}
    assert ws.ok("depth.subscribe", ["NOPE", 10, "0.10"]) == success
    for method, params in [("kline.subscribe", ["BTCUSDT", 60]), ("price.subscribe", []),
                           ("state.subscribe", ["BTCUSDT", "ETHUSDT"]), ("today.subscribe", ["X/Y"]),
                           ("deals.subscribe", ["BTCUSDT"]), ("depth.unsubscribe", []), ("kline.unsubscribe", []),
                           ("price.unsubscribe", []), ("state.unsubscribe", []), ("today.unsubscribe", []),
                           ("deals.unsubscribe", [])]:
        assert ws.ok(method, params) == success, method

    # an oversized frame closes the connection with a reason
    ws.send_raw(json.dumps({"method": "server.ping", "params": ["x" * 200_000], "id": 9}))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=30)
    assert closed.value.rcvd.code == 1009 and "larger than" in closed.value.rcvd.reason
