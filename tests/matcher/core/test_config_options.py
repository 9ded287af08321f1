from decimal import Decimal as D

from matcher.core import Engine

from .util import DAY_US, T0, bal, code, deposit, err, kinds, limit, market_order, ok, seeded


def test_asset_put_rules():
    e = Engine()
    ok(e, "asset.put", ["BTC", 20, 8])
    for p in [["btc", 8, 8], ["", 8, 8], ["A" * 16, 8, 8], ["B-C", 8, 8], ["X", 21, 8],
              ["X", 8, 9], ["X", -1, 0], ["X", 8, True], ["X", 8], ["BTC", 19, 8], [1, 8, 8]]:
        assert code(e, "asset.put", p) == 1, p
    ok(e, "asset.put", ["BTC", 20, 4])  # prec_show may change
    assert ok(e, "asset.list", []).result == [{"name": "BTC", "prec": 4}]


def test_market_put_rules():
    e = Engine()
    for a, ps in (("BTC", 20), ("USDT", 20), ("LOW", 10), ("ETH", 20)):
        ok(e, "asset.put", [a, ps, min(ps, 8)])
    ok(e, "market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001", True])
    bad = [
        ["btcusdt", "BTC", "USDT", 8, 2, 4, "0.001", True],
        ["X", "BTC", "BTC", 8, 2, 4, "0.001", True],          # stock == money
        ["X", "BTC", "NOPE", 8, 2, 4, "0.001", True],
        ["BTCUSDT2", "BTC", "USDT", 8, 2, 4, "0.001", True],  # second market for the pair
        ["X", "ETH", "USDT", 8, 2, 4, "0", True],             # min_amount > 0
        ["X", "ETH", "USDT", 8, 2, 4, "0.000000001", True],   # more decimals than stock_prec
        ["X", "ETH", "USDT", 8, 2, 4, 0.001, True],
        ["X", "ETH", "USDT", 8, 2, 4, "0.001", 1],            # listed must be bool
        ["X", "ETH", "USDT", 15, 2, 4, "0.001", True],        # 15+2+4 > 20
        ["X", "ETH", "LOW", 4, 4, 4, "0.001", True],          # prec_save(money)=10 < 12
        ["X", "LOW", "USDT", 8, 2, 4, "0.001", True],         # prec_save(stock)=10 < 12
        ["X", "ETH", "USDT", 8, 2, 4, "0.001"],
        ["X", "ETH", "USDT", 21, 0, 0, "1", True],
        ["BTCUSDT", "BTC", "USDT", 6, 2, 4, "0.001", True],   # precisions fixed
        ["BTCUSDT", "ETH", "USDT", 8, 2, 4, "0.001", True],   # pair fixed
    ]
    for p in bad:
        assert code(e, "market.put", p) == 1, p
    ok(e, "market.put", ["LOWUSDT", "LOW", "USDT", 6, 2, 4, "0.0010", True])  # 6+4 <= 10
    ok(e, "market.put", ["USDTBTC", "USDT", "BTC", 8, 2, 4, "1", True])  # reversed pair ok
    out = ok(e, "market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.5", False])
    assert out.log == ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.50000000", False]
    assert ok(e, "market.list", []).result[0]["min_amount"] == "0.5"


def test_fee_account_receives_fees():
    e = seeded(fee_account=77)
    deposit(e, 1, "BTC", "1")
    deposit(e, 2, "USDT", "1000")
    ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "500", "0.002", "0.001", ""])
    r = limit(e, 2, 2, "1", "500", taker="0.002", maker="0.001")
    assert kinds(r.events) == [
        "deal", "bal:2:USDT:trade", "bal:2:BTC:trade", "bal:2:BTC:trade", "bal:77:BTC:fee",
        "bal:1:BTC:trade", "bal:1:USDT:trade", "bal:1:USDT:trade", "bal:77:USDT:fee",
        "finish:1", "finish:2"]
    assert r.events[4].detail == {"a": "1.00000000", "f": "0.0020", "i": 2, "m": "BTCUSDT",
                                  "p": "500.00", "u": 2}
    assert bal(e, 77, "BTC") == (D("0.002"), 0) and bal(e, 77, "USDT") == (D("0.5"), 0)
    summary = {r["name"]: r["total_balance"] for r in ok(e, "asset.summary", []).result}
    assert summary == {"BTC": "1", "ETH": "0", "USDT": "1000"}
    ok(e, "config.fee_account", [0])
    assert code(e, "config.fee_account", [-1]) == 1
    assert code(e, "config.fee_account", []) == 1


def _two_sided():
    e = seeded()
    deposit(e, 1, "BTC", "10")
    deposit(e, 2, "USDT", "10000")
    deposit(e, 2, "BTC", "10")
    deposit(e, 1, "USDT", "10000")
    ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "100", "0", "0", ""])   # id 1 ask
    ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "101", "0", "0", ""])   # id 2 ask
    return e


def test_ioc_remainder_not_rested():
    e = _two_sided()
    r = limit(e, 2, 2, "1.5", "100", opts={"time_in_force": "IOC"})
    assert r.result["deal_stock"] == "1" and r.result["left"] == "0.5"
    assert r.events[-1].kind == 3 and r.events[-1].to_history
    assert bal(e, 2, "USDT") == (D("9900"), 0)
    assert r.log[-1] == {"time_in_force": "IOC"}
    r = limit(e, 2, 2, "1", "50", opts={"time_in_force": "IOC"})  # nothing fills
    assert kinds(r.events) == [f"finish:{r.result['id']}"] and not r.events[0].to_history


def test_fok():
    e = _two_sided()
    assert err(e, "order.put_limit", [2, "BTCUSDT", 2, "2.1", "101", "0", "0", "",
                                      {"time_in_force": "FOK"}])[:2] == (13, "fill or kill not satisfied")
    assert code(e, "order.put_limit", [2, "BTCUSDT", 2, "1.5", "100", "0", "0", "",
                                       {"time_in_force": "FOK"}]) == 13
    r = limit(e, 2, 2, "2", "101", opts={"time_in_force": "FOK"})
    assert r.result["left"] == "0e-8" and r.result["deal_money"] == "201"
    # own orders do not count for FOK when they would be cancelled
    e = _two_sided()
    assert code(e, "order.put_limit", [1, "BTCUSDT", 2, "1", "100", "0", "0", "",
                                       {"time_in_force": "FOK", "self_trade": "cancel_oldest"}]) == 13
    # balance check precedes FOK
    assert code(e, "order.put_limit", [3, "BTCUSDT", 2, "5", "100", "0", "0", "",
                                       {"time_in_force": "FOK"}]) == 10


def test_post_only():
    e = _two_sided()
    assert err(e, "order.put_limit", [2, "BTCUSDT", 2, "1", "100", "0", "0", "",
                                      {"post_only": True}])[:2] == (12, "order would trade")
    r = limit(e, 2, 2, "1", "99.99", opts={"post_only": True})
    assert r.error is None and r.events[-1].kind == 1
    assert code(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "99.99", "0", "0", "",
                                       {"post_only": True}]) == 12
    ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "100", "0", "0", "", {"post_only": False}])
    # post-only amount too small -> 11 before 12
    assert code(e, "order.put_limit", [2, "BTCUSDT", 2, "0.0001", "100", "0", "0", "",
                                       {"post_only": True}]) == 11
    assert code(e, "order.put_limit", [2, "BTCUSDT", 2, "1", "1", "0", "0", "",
                                       {"post_only": True, "time_in_force": "IOC"}]) == 1


def test_self_trade_cancel_newest():
    e = _two_sided()
    ok(e, "order.put_limit", [2, "BTCUSDT", 1, "1", "100.5", "0", "0", ""])  # id 3, user 2
    r = limit(e, 1, 2, "3", "101", opts={"self_trade": "cancel_newest"})
    # meets own order 1 first -> stops before any deal
    assert kinds(r.events) == [f"finish:{r.result['id']}"]
    assert r.result["deal_stock"] == "0" and e.markets["BTCUSDT"].orders.keys() == {1, 2, 3}
    assert bal(e, 1, "USDT") == (D("10000"), 0)


def test_self_trade_cancel_oldest_continues():
    e = _two_sided()
    ok(e, "order.put_limit", [2, "BTCUSDT", 1, "1", "100.5", "0", "0", ""])  # id 3, user 2
    r = limit(e, 1, 2, "1.5", "101", opts={"self_trade": "cancel_oldest"})
    assert kinds(r.events)[0] == "finish:1" and not r.events[0].to_history
    assert r.result["deal_stock"] == "1" and r.result["left"] == "0.5"
    # order 2 (own, 101) also cancelled after order 3 filled 1 @100.5; 0.5 rests at 101
    assert kinds(r.events)[-2:] == ["finish:2", f"put:{r.result['id']}"]
    assert bal(e, 1, "BTC") == (D("10.998"), 0)  # own asks unfrozen, +1 - 0.2% fee
    assert ok(e, "order.pending", [1, "BTCUSDT", 0, 10]).result["total"] == 1


def test_self_trade_market_order():
    e = _two_sided()
    r = market_order(e, 1, 2, "500", opts={"self_trade": "cancel_oldest"})
    assert r.result["deal_stock"] == "0" and r.events[-1].to_history
    assert len(e.markets["BTCUSDT"].asks) == 0
    assert code(e, "order.put_market", [1, "BTCUSDT", 2, "500", "0", "", {"post_only": True}]) == 1
    assert code(e, "order.put_market", [1, "BTCUSDT", 2, "500", "0", "", {"time_in_force": "IOC"}]) == 1


def test_client_order_id():
    e = _two_sided()
    r = limit(e, 2, 2, "1", "50", opts={"client_order_id": "abc-1"})
    oid = r.result["id"]
    assert r.result["client_order_id"] == "abc-1"
    assert ok(e, "order.pending_detail", ["BTCUSDT", oid]).result["client_order_id"] == "abc-1"
    assert "client_order_id" not in ok(e, "order.pending_detail", ["BTCUSDT", 1]).result
    # duplicate while open (precedes the balance check)
    assert err(e, "order.put_limit", [2, "BTCUSDT", 2, "1000", "50", "0", "0", "",
                                      {"client_order_id": "abc-1"}]) == (
        14, "duplicate client order id", {"order_id": oid})
    assert err(e, "order.put_market", [2, "BTCUSDT", 2, "10", "0", "",
                                       {"client_order_id": "abc-1"}]) == (
        13, "duplicate client order id", {"order_id": oid})
    # other users may reuse it
    limit(e, 1, 1, "1", "500", opts={"client_order_id": "abc-1"})
    ok(e, "order.cancel", [2, "BTCUSDT", oid], t=T0 + 10)
    # still remembered 24 h after the placement, survives dump/load
    e2 = Engine.load_state(e.dump_state())
    assert e2.state_hash() == e.state_hash()
    assert code(e2, "order.put_limit", [2, "BTCUSDT", 2, "1", "50", "0", "0", "",
                                        {"client_order_id": "abc-1"}], t=T0 + DAY_US) == 14
    r = limit(e2, 2, 2, "1", "50", opts={"client_order_id": "abc-1"}, t=T0 + DAY_US + 10)
    assert r.error is None and r.result["id"] != oid
    for bad in [{"client_order_id": ""}, {"client_order_id": "x" * 37},
                {"client_order_id": "a b"}, {"client_order_id": 5}, {"foo": 1},
                {"self_trade": "both"}, {"time_in_force": "GTD"}, {"post_only": "yes"}]:
        assert code(e2, "order.put_limit", [2, "BTCUSDT", 2, "1", "50", "0", "0", "", bad]) == 1, bad


def test_cancel_all():
    e = _two_sided()
    ok(e, "order.put_limit", [1, "BTCUSDT", 2, "1", "50", "0", "0", ""])  # id 3 bid
    r = ok(e, "order.cancel_all", [1, "BTCUSDT", 1])
    assert r.result == {"count": 2, "orders": [1, 2]}
    assert kinds(r.events) == ["finish:1", "finish:2"]
    assert r.log == [1, "BTCUSDT", 1]
    r = ok(e, "order.cancel_all", [1, "BTCUSDT"])
    assert r.result == {"count": 1, "orders": [3]}
    assert bal(e, 1, "BTC") == (D("10"), 0) and bal(e, 1, "USDT") == (D("10000"), 0)
    assert ok(e, "order.cancel_all", [1, "BTCUSDT"]).result == {"count": 0, "orders": []}
    for p in [[1], [1, "NOPE"], [1, "BTCUSDT", 3], [1, "BTCUSDT", 1, 2]]:
        assert code(e, "order.cancel_all", p) == 1, p
