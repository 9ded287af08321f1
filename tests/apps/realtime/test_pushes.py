"""Pushes end to end: orders placed over HTTP JSON-RPC reach subscribed websocket clients
as exactly the expected depth/deals/kline/price/state/today/order/asset pushes; two
users never see each other's private events; the bridge killed and restarted mid-stream
leaves subscriptions working and resyncs depth."""
import time
from decimal import Decimal as D

import pytest

from apps.accounts.services import api_key_create, signature_compute

from .conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def sign(ws, key):
    tonce = int(time.time() * 1000)
    sig = signature_compute(secret=key.secret, message=(key.api_key.access_id + str(tonce)).encode())
    return ws.request("server.sign", [key.api_key.access_id, sig, tonce])


def method_is(name, pred=lambda params: True):
    return lambda m: m.get("method") == name and m.get("id", 0) is None and pred(m["params"])


def test_pushes_and_isolation(stack, django_user_model):
    alice = django_user_model.objects.create_user(username="alice")
    bob = django_user_model.objects.create_user(username="bob")
    ka, kb = api_key_create(user=alice), api_key_create(user=bob)
    a, b, public = stack.ws(), stack.ws(), stack.ws()
    assert sign(a, ka) == {"error": None, "result": {"status": "success"}, "id": 1}
    assert sign(b, kb)["result"] == {"status": "success"}
    for ws in (a, b):
        ws.ok("order.subscribe", ["BTCUSDT"])
        ws.ok("asset.subscribe", ["BTC", "USDT"])
    public.ok("depth.subscribe", ["BTCUSDT", 10, "0"])
    for kind in ("deals", "price", "state", "today"):
        public.ok(f"{kind}.subscribe", ["BTCUSDT"])
    public.ok("kline.subscribe", ["BTCUSDT", 60])
    first = public.wait_push(method_is("depth.update"), what="first full book")
    assert first["params"] == [True, {"asks": [], "bids": []}, "BTCUSDT", first["params"][3]]
    seq = first["params"][3]

    # deposit → asset.update to alice only
    stack.deposit(alice.pk, "USDT", "10000")
    got = a.wait_push(method_is("asset.update"), what="alice's USDT")
    assert got == {"method": "asset.update", "params": [{"USDT": {"available": "10000", "freeze": "0"}}], "id": None}
    stack.deposit(bob.pk, "BTC", "2")
    assert b.wait_push(method_is("asset.update"))["params"] == [{"BTC": {"available": "2", "freeze": "0"}}]

    # alice bids: put, USDT frozen, a depth diff with seq + 1
    bid = stack.call("order.put_limit", [alice.pk, "BTCUSDT", 2, "1", "8000", "0.002", "0.001", "web"])
    put = a.wait_push(method_is("order.update"), what="put")
    assert put["params"][0] == 1 and put["params"][1]["id"] == bid["id"] and put["params"][1]["left"] == "1"
    assert a.wait_push(method_is("asset.update", lambda ps: "USDT" in ps[0]))["params"] == [
        {"USDT": {"available": "2000", "freeze": "8000"}}]
    diff = public.wait_push(method_is("depth.update"), what="depth diff")
    assert diff["params"] == [False, {"bids": [["8000", "1"]]}, "BTCUSDT", seq + 1]

    # bob sells 0.4 into it: bob's taker finish, alice's maker update, both assets, market data
    ask = stack.call("order.put_limit", [bob.pk, "BTCUSDT", 1, "0.4", "8000", "0.002", "0.001", "web"])
    fin = b.wait_push(method_is("order.update"), what="bob's finish")
    assert fin["params"][0] == 3 and fin["params"][1]["id"] == ask["id"] and fin["params"][1]["deal_stock"] == "0.4"
    upd = a.wait_push(method_is("order.update"), what="alice's update")
    assert upd["params"][0] == 2 and upd["params"][1]["id"] == bid["id"] and upd["params"][1]["left"] == "0.6"
    a.wait_push(method_is("asset.update", lambda ps: ps[0].get("BTC", {}).get("available") == "0.3996"),
                what="alice's BTC after the fill (0.4 less the 0.1 % maker fee)")
    b.wait_push(method_is("asset.update", lambda ps: ps[0].get("USDT", {}).get("available") == "3193.6"),
                what="bob's USDT after the fill (3200 less the 0.2 % taker fee)")
    diff = public.wait_push(method_is("depth.update"), what="depth after the fill")
    assert diff["params"] == [False, {"bids": [["8000", "0.6"]]}, "BTCUSDT", seq + 2]
    deals = public.wait_push(method_is("deals.update"), what="deals")
    assert deals["params"][0] == "BTCUSDT" and len(deals["params"][1]) == 1
    deal = deals["params"][1][0]
    assert (D(deal["price"]), D(deal["amount"]), deal["type"]) == (8000, D("0.4"), "sell")
    price = public.wait_push(method_is("price.update"), what="price")
    assert price["params"][0] == "BTCUSDT" and D(price["params"][1]) == 8000
    state = public.wait_push(method_is("state.update", lambda ps: D(ps[1]["volume"]) == D("0.4")), what="state")
    assert state["params"][0] == "BTCUSDT" and state["params"][1]["period"] == 86400
    today = public.wait_push(method_is("today.update", lambda ps: D(ps[1]["volume"]) == D("0.4")), what="today")
    assert D(today["params"][1]["last"]) == 8000
    # the push carries every kline from the deal's minute on: across a minute boundary the
    # last one is the new, empty minute
    kline = public.wait_push(method_is("kline.update", lambda ps: any(D(k[5]) == D("0.4") for k in ps)),
                             what="kline")
    filled = [k for k in kline["params"] if D(k[5]) == D("0.4")]
    assert len(filled) == 1 and filled[0][7] == "BTCUSDT" and D(filled[0][2]) == 8000

    # a late subscriber gets the cached snapshots at once
    late = stack.ws()
    late.ok("depth.subscribe", ["BTCUSDT", 10, "0"])
    snap = late.wait_push(method_is("depth.update"), what="snapshot on subscribe")
    assert snap["params"] == [True, {"asks": [], "bids": [["8000", "0.6"]]}, "BTCUSDT", seq + 2]
    late.ok("price.subscribe", ["BTCUSDT"])
    # on subscribe `fmt`-formatted (websocket.md §5.1); polled: market.last's own string
    assert late.wait_push(method_is("price.update"))["params"] == ["BTCUSDT", "8000"]
    assert price["params"][1] == late.ok("price.query", ["BTCUSDT"])
    late.ok("deals.subscribe", ["BTCUSDT"])
    assert late.wait_push(method_is("deals.update"))["params"][1][0]["id"] == deal["id"]

    # queries of the private methods, as the user
    pending = a.ok("order.query", ["BTCUSDT", 0, 10])
    assert [o["id"] for o in pending["records"]] == [bid["id"]]
    assert b.ok("order.query", ["BTCUSDT", 0, 10])["records"] == []
    assert a.ok("asset.query", ["USDT"]) == {"USDT": {"available": "2000", "freeze": "4800"}}
    hist = wait_for(lambda: b.ok("order.history", ["BTCUSDT", 0, 0, 0, 10, 0])["records"], what="bob's history")
    assert hist[0]["id"] == ask["id"]
    assert a.ok("asset.history", ["USDT", "", 0, 0, 0, 10])["records"]

    # isolation: everything private each one got was their own
    time.sleep(1)
    for ws, user in ((a, alice.pk), (b, bob.pk)):
        for msg in ws.drain(1.0):
            if msg.get("method") == "order.update":
                assert msg["params"][1]["user"] == user
    for msg in public.drain(0.5) + late.drain(0.5):
        assert msg.get("method") not in ("order.update", "asset.update")

    # re-auth as another user drops the previous user's private subscriptions
    assert sign(a, kb)["result"] == {"status": "success"}
    stack.call("order.put_limit", [alice.pk, "BTCUSDT", 2, "0.1", "7000", "0.002", "0.001", "web"])
    stack.deposit(alice.pk, "USDT", "1")
    time.sleep(2)
    assert not [m for m in a.drain(1.0) if m.get("method") in ("order.update", "asset.update")]
    assert public.wait_push(method_is("depth.update"))["params"] == [False, {"bids": [["7000", "0.1"]]}, "BTCUSDT",
                                                                     seq + 3]

    # the bridge killed and restarted mid-stream: subscriptions stay, depth resyncs (clean) with seq continuing
    stack.bridge.kill9()
    stack.call("order.put_limit", [bob.pk, "BTCUSDT", 1, "0.1", "9000", "0.002", "0.001", "web"])
    stack.bridge.start()
    resync = public.wait_push(method_is("depth.update"), timeout=60, what="resync after the bridge restart")
    assert resync["params"] == [True, {"asks": [["9000", "0.1"]], "bids": [["8000", "0.6"], ["7000", "0.1"]]},
                                "BTCUSDT", seq + 4]
    fin = stack.call("order.put_limit", [alice.pk, "BTCUSDT", 2, "0.1", "9000", "0.002", "0.001", "web"])
    b.wait_push(method_is("order.update", lambda ps: ps[0] == 3 and ps[1]["side"] == 1), timeout=60,
                what="bob's order event after the bridge restart")
    after = public.wait_push(method_is("depth.update"), what="diff after the restart")
    assert after["params"] == [False, {"asks": [["9000", "0"]]}, "BTCUSDT", seq + 5]
    assert fin["deal_stock"] == "0.1"
