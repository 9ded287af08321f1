from .util import T0, code, deposit, ok, seeded


def _book(e):
    deposit(e, 1, "BTC", "100")
    deposit(e, 2, "USDT", "1000000")
    for amt, price in [("1", "8000.5"), ("2", "8000.01"), ("0.5", "8009.99"), ("1.25", "8010"),
                       ("3", "8000.5")]:
        ok(e, "order.put_limit", [1, "BTCUSDT", 1, amt, price, "0", "0", ""])
    for amt, price in [("1", "7999.99"), ("2", "7990"), ("0.1", "7990.01"), ("0.2", "7000")]:
        ok(e, "order.put_limit", [2, "BTCUSDT", 2, amt, price, "0", "0", ""])


def test_depth_unmerged_and_limits():
    e = seeded()
    _book(e)
    r = ok(e, "order.depth", ["BTCUSDT", 10, "0"]).result
    assert r == {
        "asks": [["8000.01", "2"], ["8000.5", "4"], ["8009.99", "0.5"], ["8010", "1.25"]],
        "bids": [["7999.99", "1"], ["7990.01", "0.1"], ["7990", "2"], ["7000", "0.2"]],
    }
    assert ok(e, "order.depth", ["BTCUSDT", 0, "0"]).result == {"asks": [], "bids": []}
    assert ok(e, "order.depth", ["BTCUSDT", 2, "0"]).result["asks"] == [["8000.01", "2"], ["8000.5", "4"]]
    assert ok(e, "order.depth", ["BTCUSDT", 101, "0"]).result["bids"][-1] == ["7000", "0.2"]
    for p in [["BTCUSDT", 102, "0"], ["BTCUSDT", -1, "0"], ["BTCUSDT", 1, "-1"], ["BTCUSDT", 1, 0],
              ["NOPE", 1, "0"], ["BTCUSDT", 1], ["BTCUSDT", "1", "0"]]:
        assert code(e, "order.depth", p) == 1, p


def test_depth_merge_ask_ceil_bid_floor():
    e = seeded()
    _book(e)
    r = ok(e, "order.depth", ["BTCUSDT", 10, "10"]).result
    assert r["asks"] == [["8010", "7.75"]]
    assert r["bids"] == [["7990", "3.1"], ["7000", "0.2"]]
    r = ok(e, "order.depth", ["BTCUSDT", 10, "1"]).result
    assert r["asks"] == [["8001", "6"], ["8010", "1.75"]]
    assert r["bids"] == [["7999", "1"], ["7990", "2.1"], ["7000", "0.2"]]
    # limit counts merged levels
    assert ok(e, "order.depth", ["BTCUSDT", 1, "1"]).result == {
        "asks": [["8001", "6"]], "bids": [["7999", "1"]]}
    # interval truncated to money_prec: 0.001 -> 0 -> no merging
    assert ok(e, "order.depth", ["BTCUSDT", 10, "0.001"]).result == ok(
        e, "order.depth", ["BTCUSDT", 10, "0"]).result
    r = ok(e, "order.depth", ["BTCUSDT", 10, "1000"]).result
    assert r == {"asks": [["9000", "7.75"]], "bids": [["7000", "3.3"]]}
    r = ok(e, "order.depth", ["BTCUSDT", 10, "10000"]).result
    assert r == {"asks": [["10000", "7.75"]], "bids": [["0", "3.3"]]}  # money_prec 2 -> "0"


def test_depth_zero_bid_bucket_quirk_with_money_prec_8():
    e = seeded()
    ok(e, "asset.put", ["DOGE", 20, 8])
    ok(e, "market.put", ["DOGEBTC", "DOGE", "BTC", 4, 8, 4, "1", True])
    deposit(e, 1, "BTC", "1")
    ok(e, "order.put_limit", [1, "DOGEBTC", 2, "10", "0.00000150", "0", "0", ""])
    r = ok(e, "order.depth", ["DOGEBTC", 5, "0.1"]).result
    assert r["bids"] == [["0e-8", "10"]]
    assert ok(e, "order.depth", ["DOGEBTC", 5, "0"]).result["bids"] == [["0.0000015", "10"]]


def test_order_book_pagination_and_order():
    e = seeded()
    _book(e)
    r = ok(e, "order.book", ["BTCUSDT", 1, 0, 10]).result
    assert (r["offset"], r["limit"], r["total"]) == (0, 10, 5)
    assert [(o["price"], o["id"]) for o in r["orders"]] == [
        ("8000.01", 2), ("8000.5", 1), ("8000.5", 5), ("8009.99", 3), ("8010", 4)]
    r = ok(e, "order.book", ["BTCUSDT", 2, 1, 2]).result
    assert [o["price"] for o in r["orders"]] == ["7990.01", "7990"] and r["total"] == 4
    assert ok(e, "order.book", ["BTCUSDT", 2, 10, 2]).result["orders"] == []
    assert ok(e, "order.book", ["BTCUSDT", 2, 0, 0]).result == {
        "offset": 0, "limit": 0, "total": 4, "orders": []}
    assert len(ok(e, "order.book", ["BTCUSDT", 1, 0, 101]).result["orders"]) == 5
    for p in [["BTCUSDT", 1, 0, 102], ["BTCUSDT", 0, 0, 1], ["BTCUSDT", 1, -1, 1],
              ["BTCUSDT", 1, 0], ["X", 1, 0, 1], ["BTCUSDT", 1, 0, 1.0]]:
        assert code(e, "order.book", p) == 1, p


def test_order_book_limit_101_of_many():
    e = seeded()
    deposit(e, 1, "BTC", "1000")
    for i in range(120):
        ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", str(9000 + i), "0", "0", ""])
    r = ok(e, "order.book", ["BTCUSDT", 1, 0, 101]).result
    assert len(r["orders"]) == 101 and r["total"] == 120
    r = ok(e, "order.book", ["BTCUSDT", 1, 100, 101]).result
    assert len(r["orders"]) == 20 and r["orders"][0]["price"] == "9100"
    r = ok(e, "order.pending", [1, "BTCUSDT", 0, 101]).result
    assert len(r["records"]) == 101 and r["records"][0]["id"] == 120


def test_pending_newest_first_and_detail():
    e = seeded()
    _book(e)
    r = ok(e, "order.pending", [1, "BTCUSDT", 0, 3]).result
    assert (r["limit"], r["offset"], r["total"]) == (3, 0, 5)
    assert [o["id"] for o in r["records"]] == [5, 4, 3]
    assert list(r) == ["limit", "offset", "total", "records"]
    assert [o["id"] for o in ok(e, "order.pending", [1, "BTCUSDT", 3, 10]).result["records"]] == [2, 1]
    assert ok(e, "order.pending", [1, "BTCUSDT", 0, 0]).result["records"] == []
    assert ok(e, "order.pending", [7, "BTCUSDT", 0, 10]).result == {
        "limit": 10, "offset": 0, "total": 0, "records": []}
    assert ok(e, "order.pending", [1, "ETHUSDT", 0, 10]).result["total"] == 0
    d = ok(e, "order.pending_detail", ["BTCUSDT", 3]).result
    assert d == {"id": 3, "market": "BTCUSDT", "source": "", "type": 1, "side": 1, "user": 1,
                 "ctime": T0 / 1e6, "mtime": T0 / 1e6, "price": "8009.99", "amount": "0.5",
                 "taker_fee": "0", "maker_fee": "0", "left": "0.5", "deal_stock": "0",
                 "deal_money": "0", "deal_fee": "0"}
    assert ok(e, "order.pending_detail", ["ETHUSDT", 3]).result is None
    assert ok(e, "order.pending_detail", ["BTCUSDT", 2**64 - 1]).result is None
    assert code(e, "order.pending_detail", ["BTCUSDT", 2**64]) == 1
    for p in [[1, "BTCUSDT", 0, 102], [1, "BTCUSDT", -1, 1], [2**32, "BTCUSDT", 0, 1]]:
        assert code(e, "order.pending", p) == 1


def test_market_list_and_summary():
    e = seeded()
    assert ok(e, "market.list", []).result == [
        {"name": "BTCUSDT", "stock": "BTC", "money": "USDT", "fee_prec": 4, "stock_prec": 8,
         "money_prec": 2, "min_amount": "0.001"},
        {"name": "ETHUSDT", "stock": "ETH", "money": "USDT", "fee_prec": 4, "stock_prec": 8,
         "money_prec": 2, "min_amount": "0.01"},
        {"name": "ETHBTC", "stock": "ETH", "money": "BTC", "fee_prec": 4, "stock_prec": 8,
         "money_prec": 6, "min_amount": "0.01"},
    ]
    _book(e)
    assert ok(e, "market.summary", ["BTCUSDT"]).result == [
        {"name": "BTCUSDT", "ask_count": 5, "ask_amount": "7.75", "bid_count": 4,
         "bid_amount": "3.3"}]
    res = ok(e, "market.summary", []).result
    assert [r["name"] for r in res] == ["BTCUSDT", "ETHUSDT", "ETHBTC"]
    assert res[1] == {"name": "ETHUSDT", "ask_count": 0, "ask_amount": "0", "bid_count": 0,
                      "bid_amount": "0"}
    assert code(e, "market.summary", ["NOPE"]) == 1
