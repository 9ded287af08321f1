from decimal import Decimal as D

from .util import T0, bal, code, deposit, err, kinds, limit, market_order, ok, seeded


def test_limit_trade_at_maker_price_with_fees_in_received_asset():
    e = seeded()
    deposit(e, 1, "BTC", "10")
    deposit(e, 2, "USDT", "100000")
    r1 = limit(e, 1, 1, "1.5", "8000", taker="0.002", maker="0.001", t=T0)
    assert r1.error is None and r1.result["left"] == "1.5"
    assert bal(e, 1, "BTC") == (D("8.5"), D("1.5"))
    r2 = limit(e, 2, 2, "2", "8100", taker="0.003", maker="0.001", source="web", t=T0 + 7)
    o = r2.result
    # trade at the maker's price 8000: deal 12000
    assert (o["left"], o["deal_stock"], o["deal_money"]) == ("0.5", "1.5", "12000")
    # taker (bid) pays its own taker rate in stock: 1.5 * 0.003
    assert o["deal_fee"] == "0.0045"
    assert o["mtime"] == (T0 + 7) / 1e6 and o["ctime"] == (T0 + 7) / 1e6
    # buyer: 100000 - 12000 - 8100*0.5 frozen
    assert bal(e, 2, "USDT") == (D("83950"), D("4050"))
    assert bal(e, 2, "BTC") == (D("1.4955"), 0)
    # seller (maker) pays maker rate in money: 12000 * 0.001 = 12
    assert bal(e, 1, "USDT") == (D("11988"), 0)
    assert bal(e, 1, "BTC") == (D("8.5"), 0)
    assert kinds(r2.events) == [
        "deal", "bal:2:USDT:trade", "bal:2:BTC:trade", "bal:2:BTC:trade",
        "bal:1:BTC:trade", "bal:1:USDT:trade", "bal:1:USDT:trade", "finish:1", "put:2"]
    deal = r2.events[0]
    assert (deal.price, deal.amount, deal.deal, deal.ask_fee, deal.bid_fee) == (
        D("8000"), D("1.5"), D("12000"), D("12"), D("0.0045"))
    assert (deal.taker_side, deal.ask_order_id, deal.bid_order_id, deal.ask_role, deal.bid_role,
            deal.deal_id, deal.time_us) == (2, 1, 2, 1, 2, 1, T0 + 7)
    assert deal.kafka_payload()[6:10] == ["8000.00", "1.50000000", "12.00000000000000",
                                          "0.004500000000"]
    rows = r2.events[1:7]
    assert [(r.user_id, r.asset, r.change, r.balance) for r in rows] == [
        (2, "USDT", D("-12000"), D("88000")),
        (2, "BTC", D("1.5"), D("1.5")),
        (2, "BTC", D("-0.0045"), D("1.4955")),
        (1, "BTC", D("-1.5"), D("8.5")),
        (1, "USDT", D("12000"), D("12000")),
        (1, "USDT", D("-12"), D("11988")),
    ]
    assert rows[0].detail == {"a": "1.50000000", "i": 2, "m": "BTCUSDT", "p": "8000.00"}
    assert rows[2].detail == {"a": "1.50000000", "f": "0.0030", "i": 2, "m": "BTCUSDT", "p": "8000.00"}
    assert rows[5].detail["f"] == "0.0010" and rows[5].detail["i"] == 1
    fin = r2.events[7]
    assert fin.to_history and fin.order["left"] == "0e-8" and fin.order["mtime"] == (T0 + 7) / 1e6
    put = r2.events[8]
    assert not put.to_history and put.order == o
    assert r2.log == [2, "BTCUSDT", 2, "2.00000000", "8100.00", "0.0030", "0.0010", "web"]
    # seq strictly increasing by one
    seqs = [ev.seq for ev in r1.events + r2.events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_ask_taker_rows_and_maker_update():
    e = seeded()
    deposit(e, 1, "USDT", "1000")
    deposit(e, 2, "BTC", "1")
    ok(e, "order.put_limit", [1, "BTCUSDT", 2, "1", "100", "0.002", "0.001", ""])
    r = limit(e, 2, 1, "0.4", "90", taker="0.002", maker="0")
    assert kinds(r.events) == [
        "deal", "bal:2:BTC:trade", "bal:2:USDT:trade", "bal:2:USDT:trade",
        "bal:1:USDT:trade", "bal:1:BTC:trade", "bal:1:BTC:trade", "update:1", "finish:2"]
    assert r.result["deal_money"] == "40" and r.result["deal_fee"] == "0.08"
    assert r.events[-2].order["left"] == "0.6" and not r.events[-2].to_history
    assert bal(e, 2, "USDT") == (D("39.92"), 0)
    assert bal(e, 1, "USDT") == (D("900"), D("60"))
    assert bal(e, 1, "BTC") == (D("0.3996"), 0)


def test_zero_fee_rate_has_no_fee_row_and_deal_fee_keeps_exponent():
    e = seeded()
    deposit(e, 1, "BTC", "1")
    deposit(e, 2, "USDT", "100")
    ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "100", "0", "0", ""])
    r = limit(e, 2, 2, "1", "100", taker="0", maker="0")
    assert kinds(r.events) == ["deal", "bal:2:USDT:trade", "bal:2:BTC:trade",
                               "bal:1:BTC:trade", "bal:1:USDT:trade", "finish:1", "finish:2"]
    assert r.result["deal_fee"] == "0e-12"  # 0 * rate keeps the C exponent


def test_price_time_priority_and_partial_fills():
    e = seeded()
    for u in (1, 2, 3):
        deposit(e, u, "BTC", "5")
    deposit(e, 9, "USDT", "100000")
    ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "101", "0", "0", ""])  # id 1
    ok(e, "order.put_limit", [2, "BTCUSDT", 1, "1", "100", "0", "0", ""])  # id 2
    ok(e, "order.put_limit", [3, "BTCUSDT", 1, "1", "100", "0", "0", ""])  # id 3
    r = limit(e, 9, 2, "2.5", "101", taker="0", maker="0")
    deals = [(ev.ask_order_id, ev.price, ev.amount) for ev in r.events if type(ev).__name__ == "DealEvent"]
    assert deals == [(2, D("100"), D("1")), (3, D("100"), D("1")), (1, D("101"), D("0.5"))]
    assert r.result["deal_money"] == "250.5" and r.result["left"] == "0e-8"
    assert ok(e, "order.pending_detail", ["BTCUSDT", 1]).result["left"] == "0.5"
    # a bid does not take an ask priced above its limit
    r = limit(e, 9, 2, "1", "100.99", taker="0", maker="0")
    assert not [ev for ev in r.events if type(ev).__name__ == "DealEvent"]


def test_limit_errors_and_precedence():
    e = seeded()
    deposit(e, 1, "BTC", "0.0005")
    deposit(e, 2, "USDT", "10")
    # balance (10) wins over minimum (11)
    assert code(e, "order.put_limit", [1, "BTCUSDT", 1, "0.0006", "100", "0", "0", ""]) == 10
    assert err(e, "order.put_limit", [1, "BTCUSDT", 1, "0.0005", "100", "0", "0", ""])[:2] == (
        11, "amount too small")
    # bid needs amount*price, fees excluded
    assert code(e, "order.put_limit", [2, "BTCUSDT", 2, "0.1", "100.01", "0.5", "0", ""]) == 10
    ok(e, "order.put_limit", [2, "BTCUSDT", 2, "0.1", "100", "0.5", "0", ""])
    # params (1) win over everything
    assert code(e, "order.put_limit", [1, "BTCUSDT", 1, "5", "-1", "0", "0", ""]) == 1
    bad = [
        [1, "BTCUSDT", 1, "1", "100", "0", "0"],
        [1, "BTCUSDT", 1, "1", "100", "0", "0", "", {}, 1],
        [1, "NOPE", 1, "1", "100", "0", "0", ""],
        [1, "BTCUSDT", 3, "1", "100", "0", "0", ""],
        [1, "BTCUSDT", True, "1", "100", "0", "0", ""],
        [1, "BTCUSDT", 1, "1", "0.001", "0", "0", ""],      # price truncates to 0
        [1, "BTCUSDT", 1, "1", "100", "1", "0", ""],        # fee rate >= 1
        [1, "BTCUSDT", 1, "1", "100", "0", "-0.001", ""],
        [1, "BTCUSDT", 1, "1", "100", "0", "0", "x" * 31],
        [1, "BTCUSDT", 1, "1", "100", "0", "0", "é" * 16],  # 32 bytes
        [1, "BTCUSDT", 1, "1", "100", "0", "0", None],
        [1, "BTCUSDT", 1, "1", "100", "0", "0", "", "GTC"],
        [-1, "BTCUSDT", 1, "1", "100", "0", "0", ""],
    ]
    for p in bad:
        assert code(e, "order.put_limit", p) == 1, p
    # fee rate truncated to fee_prec: 0.99999 -> 0.9999 is valid
    deposit(e, 2, "USDT", "1")
    ok(e, "order.put_limit", [2, "BTCUSDT", 2, "0.001", "1", "0.99999", "0", ""])


def test_cancel_and_errors():
    e = seeded()
    deposit(e, 1, "BTC", "2")
    o = ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "100", "0", "0", ""]).result
    assert err(e, "order.cancel", [2, "BTCUSDT", o["id"]])[:2] == (11, "user not match")
    assert err(e, "order.cancel", [1, "ETHUSDT", o["id"]])[:2] == (10, "order not found")
    assert code(e, "order.cancel", [1, "BTCUSDT", 2**64 - 1]) == 10
    assert code(e, "order.cancel", [1, "BTCUSDT", 2**64]) == 1
    assert code(e, "order.cancel", [1, "BTCUSDT", "1"]) == 1
    assert code(e, "order.cancel", [1, "BTCUSDT"]) == 1
    r = ok(e, "order.cancel", [1, "BTCUSDT", o["id"]], t=T0 + 50)
    assert r.result == o  # cancel does not change mtime
    assert kinds(r.events) == [f"finish:{o['id']}"] and not r.events[0].to_history
    assert r.log == [1, "BTCUSDT", o["id"]]
    assert bal(e, 1, "BTC") == (D("2"), 0)
    assert code(e, "order.cancel", [1, "BTCUSDT", o["id"]]) == 10


def test_cancel_partially_filled_goes_to_history():
    e = seeded()
    deposit(e, 1, "BTC", "2")
    deposit(e, 2, "USDT", "1000")
    o = ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "100", "0", "0", ""]).result
    ok(e, "order.put_limit", [2, "BTCUSDT", 2, "0.25", "100", "0", "0", ""], t=T0 + 3)
    r = ok(e, "order.cancel", [1, "BTCUSDT", o["id"]], t=T0 + 9)
    assert r.events[0].to_history and r.result["left"] == "0.75"
    assert r.result["mtime"] == (T0 + 3) / 1e6
    assert bal(e, 1, "BTC") == (D("1.75"), 0)


def test_market_sell_and_errors_precedence():
    e = seeded()
    deposit(e, 1, "BTC", "1")
    deposit(e, 2, "USDT", "1000")
    # 1 -> 10 -> 12 -> 11
    assert code(e, "order.put_market", [1, "BTCUSDT", 1, "abc", "0", ""]) == 1
    assert code(e, "order.put_market", [1, "BTCUSDT", 1, "2", "0", ""]) == 10
    assert err(e, "order.put_market", [1, "BTCUSDT", 1, "0.0001", "0", ""])[:2] == (
        12, "no enough trader")
    ok(e, "order.put_limit", [2, "BTCUSDT", 2, "0.5", "100", "0", "0.001", ""])
    ok(e, "order.put_limit", [2, "BTCUSDT", 2, "0.5", "90", "0", "0.001", ""])
    assert code(e, "order.put_market", [1, "BTCUSDT", 1, "0.0001", "0", ""]) == 11
    r = market_order(e, 1, 1, "0.7", taker="0.002")
    o = r.result
    assert (o["price"], o["maker_fee"], o["type"], o["left"]) == ("0", "0", 2, "0e-8")
    assert (o["deal_stock"], o["deal_money"]) == ("0.7", "68")  # 0.5*100 + 0.2*90
    assert o["deal_fee"] == "0.136"
    assert r.events[-1].kind == 3 and r.events[-1].to_history
    assert bal(e, 1, "USDT") == (D("67.864"), 0)
    assert bal(e, 2, "BTC") == (D("0.6993"), 0)  # 0.7 - 0.0007 maker fee
    assert r.log == [1, "BTCUSDT", 1, "0.70000000", "0.0020", ""]


def test_market_sell_remainder_dropped():
    e = seeded()
    deposit(e, 1, "BTC", "1")
    deposit(e, 2, "USDT", "1000")
    ok(e, "order.put_limit", [2, "BTCUSDT", 2, "0.1", "100", "0", "0", ""])
    o = market_order(e, 1, 1, "0.5", taker="0").result
    assert o["left"] == "0.4" and o["deal_stock"] == "0.1"
    assert bal(e, 1, "BTC") == (D("0.9"), 0)


def test_market_buy_amount_is_money_truncated_to_stock_prec_and_min():
    e = seeded()
    deposit(e, 1, "BTC", "10")
    deposit(e, 2, "USDT", "1000")
    ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "300", "0", "0", ""])
    ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "301", "0", "0", ""])
    # min = best ask 300 * 0.001 = 0.3 money; the money amount truncates to 8 decimals
    assert code(e, "order.put_market", [2, "BTCUSDT", 2, "0.299999999", "0", ""]) == 11
    # balance check before 12/11
    assert code(e, "order.put_market", [2, "BTCUSDT", 2, "1000.00000001", "0", ""]) == 10
    r = market_order(e, 2, 2, "100.123456789", taker="0.001")
    o = r.result
    assert o["amount"] == "100.12345678"  # stock_prec (8), not money_prec (2)
    # qty = trunc(100.12345678 / 300, 8) = 0.33374485 ; deal = 100.123455
    assert o["deal_stock"] == "0.33374485" and o["deal_money"] == "100.123455"
    assert o["left"] == "0.00000178"  # money left (exponent -10, stripped)
    assert o["deal_fee"] == "0.00033374485"
    assert bal(e, 2, "USDT") == (D("899.876545"), 0)
    assert bal(e, 2, "BTC") == (D("0.33341110515"), 0)


def test_market_buy_full_fill_zero_left_and_second_level():
    e = seeded()
    deposit(e, 1, "BTC", "10")
    deposit(e, 2, "USDT", "1000")
    ok(e, "order.put_limit", [1, "BTCUSDT", 1, "0.1", "100", "0", "0", ""])
    ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "200", "0", "0", ""])
    o = market_order(e, 2, 2, "30", taker="0").result
    # 10 spent on level 100 (0.1), 20 on level 200 (0.1)
    assert o["deal_stock"] == "0.2" and o["left"] == "0e-10"


def test_market_buy_remainder_below_one_unit_stops():
    e = seeded()
    deposit(e, 1, "BTC", "10")
    deposit(e, 2, "USDT", "1000")
    ok(e, "order.put_limit", [1, "BTCUSDT", 1, "10", "300", "0", "0", ""])
    o = market_order(e, 2, 2, "0.3000000299", taker="0").result
    # amount 0.30000002 -> qty 0.001 (deal 0.3), left 0.00000002 < 300e-8 -> stop
    assert o["deal_stock"] == "0.001" and o["left"] == "2.00e-8"


def test_unlisted_market_rejects_orders_but_cancel_works():
    e = seeded()
    deposit(e, 1, "BTC", "1")
    o = ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "100", "0", "0", ""]).result
    ok(e, "market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001", False])
    c, _, data = err(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "100", "0", "0", ""])
    assert c == 1 and data["param"] == "market"
    assert code(e, "order.put_market", [1, "BTCUSDT", 1, "1", "0", ""]) == 1
    assert ok(e, "order.book", ["BTCUSDT", 1, 0, 10]).result["total"] == 1
    ok(e, "order.cancel", [1, "BTCUSDT", o["id"]])
    ok(e, "market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.5", True])
    assert code(e, "order.put_limit", [1, "BTCUSDT", 1, "0.4", "100", "0", "0", ""]) == 11


def test_self_trade_allowed_by_default():
    e = seeded()
    deposit(e, 1, "BTC", "1")
    deposit(e, 1, "USDT", "100")
    ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "100", "0", "0", ""])
    r = ok(e, "order.put_limit", [1, "BTCUSDT", 2, "1", "100", "0", "0", ""])
    assert r.result["deal_stock"] == "1"
    assert bal(e, 1, "BTC") == (D("1"), 0) and bal(e, 1, "USDT") == (D("100"), 0)


def test_unknown_method_and_bad_params_container():
    e = seeded()
    assert e.execute("order.nope", [], T0).error[0] == 4
    assert e.execute("order.book", {"a": 1}, T0).error[0] == 1
