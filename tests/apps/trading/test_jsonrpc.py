"""POST / — the ViaBTC JSON-RPC endpoint (apps/trading/jsonrpc.py) against the real Engine
behind the real matcher RPC server (tests/apps/trading/util.py)."""
from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from apps.history.rpc import HISTORY_METHODS
from apps.trading.client import MatcherClient
from apps.trading.jsonrpc import HISTORY_METHOD_NAMES, MARKETDATA_METHOD_NAMES, MATCHER_METHODS, JsonRpcApp
from apps.wire.errors import RpcError
from tests.apps.trading.util import MatcherThread, asgi_request
from tests.backing import free_port

T = 1602599518.243492  # FIXED_TIME_US / 1e6


@pytest.fixture
def matcher():
    m = MatcherThread().start()
    yield m
    m.stop()


@pytest.fixture
async def client(matcher):
    c = MatcherClient("127.0.0.1", matcher.port, timeout=1.0)
    yield c
    await c.close()


@pytest.fixture
def app(client):
    a = JsonRpcApp(client=client, history_methods={}, marketdata_methods={})
    yield a
    a.close()


async def rpc(app, method, params, rid=1, **kwargs):
    return await asgi_request(app, {"method": method, "params": params, "id": rid}, **kwargs)


def ok(result, rid=1):
    return {"error": None, "result": result, "id": rid}


def err(code, message, rid=1, data=None):
    e = {"code": code, "message": message}
    if data is not None:
        e["data"] = data
    return {"error": e, "result": None, "id": rid}


def order(**kw):
    base = {"id": 1, "market": "BTCUSDT", "source": "", "type": 1, "side": 2, "user": 1, "ctime": T, "mtime": T,
            "price": "8000", "amount": "1", "taker_fee": "0.002", "maker_fee": "0.001", "left": "1",
            "deal_stock": "0", "deal_money": "0", "deal_fee": "0"}
    base.update(kw)
    return base


# -- golden request/response pairs, one scenario through every matcher method -----------------
GOLDEN = [
    # spec example: balance.update [1, "BTC", "deposit", 100, "1.2345", {}] → success
    ("balance.update", [1, "BTC", "deposit", 100, "1.2345", {}], ok({"status": "success"})),
    ("balance.update", [1, "USDT", "deposit", 101, "10000", {"note": "x"}], ok({"status": "success"})),
    ("balance.update", [2, "BTC", "deposit", 102, "5", {}], ok({"status": "success"})),
    # repeat → 10; debit above available → 11; param errors name the parameter
    ("balance.update", [1, "BTC", "deposit", 100, "1.2345", {}], err(10, "repeat update")),
    ("balance.update", [1, "BTC", "withdraw", 103, "-100", {}], err(11, "balance not enough")),
    ("balance.update", [1, "BTC", "deposit", "104", "1", {}],
     err(1, "invalid argument", data={"param": "business_id", "reason": None})),
    ("balance.update", [1, "BTC", "deposit", 105, "NaN", {}],
     err(1, "invalid argument", data={"param": "change", "reason": None})),
    ("balance.query", [1, "BTC"], ok({"BTC": {"available": "1.2345", "freeze": "0"}})),
    ("balance.query", [1, "XXX"], err(1, "invalid argument", data={"param": "asset", "reason": None})),
    # spec §3 example order (user 1 bids 1 BTC at 8000)
    ("order.put_limit", [1, "BTCUSDT", 2, "1", "8000", "0.002", "0.001", "web"], ok(order(source="web"))),
    ("order.put_limit", [1, "BTCUSDT", 2, "0", "8000", "0.002", "0.001", "web"],
     err(1, "invalid argument", data={"param": "amount", "reason": "must be > 0"})),
    ("order.put_limit", [1, "BTCUSDT", 2, 1, "8000", "0.002", "0.001", "web"],
     err(1, "invalid argument", data={"param": "amount", "reason": None})),
    ("order.put_limit", [1, "BTCUSDT", 2, "1000", "8000", "0.002", "0.001", "web"], err(10, "balance not enough")),
    ("order.put_limit", [2, "BTCUSDT", 1, "0.0001", "8000", "0.002", "0.001", ""], err(11, "amount too small")),
    ("order.put_limit", [1, "NOPE", 2, "1", "8000", "0.002", "0.001", "web"],
     err(1, "invalid argument", data={"param": "market", "reason": None})),
    # user 2 sells 0.4 into it: fully filled taker, left "0e-8"
    ("order.put_limit", [2, "BTCUSDT", 1, "0.4", "8000", "0.002", "0.001", "api"],
     ok(order(id=2, source="api", side=1, user=2, amount="0.4", left="0e-8", deal_stock="0.4",
              deal_money="3200", deal_fee="6.4"))),
    ("order.put_market", [2, "BTCUSDT", 1, "0.1", "0.002", ""],
     ok(order(id=3, type=2, side=1, user=2, price="0", amount="0.1", maker_fee="0", left="0e-8",
              deal_stock="0.1", deal_money="800", deal_fee="1.6"))),
    ("order.put_market", [2, "BTCUSDT", 2, "100000", "0.002", ""], err(10, "balance not enough")),
    ("order.put_market", [2, "BTCUSDT", 2, "100", "0.002", ""], err(12, "no enough trader")),
    ("order.book", ["BTCUSDT", 2, 0, 10],
     ok({"offset": 0, "limit": 10, "total": 1, "orders": [
         order(source="web", left="0.5", deal_stock="0.5", deal_money="4000", deal_fee="0.0005")]})),
    ("order.book", ["BTCUSDT", 2, 0, 102], err(1, "invalid argument", data={"param": "limit", "reason": None})),
    ("order.depth", ["BTCUSDT", 10, "0"], ok({"asks": [], "bids": [["8000", "0.5"]]})),
    ("order.depth", ["BTCUSDT", 10, "1000"], ok({"asks": [], "bids": [["8000", "0.5"]]})),
    ("order.pending", [1, "BTCUSDT", 0, 10],
     ok({"limit": 10, "offset": 0, "total": 1, "records": [
         order(source="web", left="0.5", deal_stock="0.5", deal_money="4000", deal_fee="0.0005")]})),
    ("order.pending_detail", ["BTCUSDT", 1],
     ok(order(source="web", left="0.5", deal_stock="0.5", deal_money="4000", deal_fee="0.0005"))),
    ("order.pending_detail", ["BTCUSDT", 2**64 - 1], ok(None)),
    ("market.summary", ["BTCUSDT"],
     ok([{"name": "BTCUSDT", "ask_count": 0, "ask_amount": "0", "bid_count": 1, "bid_amount": "0.5"}])),
    ("order.cancel", [2, "BTCUSDT", 1], err(11, "user not match")),
    ("order.cancel", [1, "BTCUSDT", 1],
     ok(order(source="web", left="0.5", deal_stock="0.5", deal_money="4000", deal_fee="0.0005"))),
    ("order.cancel", [1, "BTCUSDT", 1], err(10, "order not found")),
    ("order.cancel_all", [1, "BTCUSDT"], ok({"count": 0, "orders": []})),
    ("balance.query", [1],
     ok({"BTC": {"available": "1.734", "freeze": "0"}, "ETH": {"available": "0", "freeze": "0"},
         "USDT": {"available": "6000", "freeze": "0"}})),
    ("asset.list", [], ok([{"name": "BTC", "prec": 8}, {"name": "ETH", "prec": 8}, {"name": "USDT", "prec": 8}])),
    ("asset.summary", ["BTC"],
     ok([{"name": "BTC", "total_balance": "6.234", "available_count": 2, "available_balance": "6.234",
          "freeze_count": 0, "freeze_balance": "0"}])),
    ("market.list", [],
     ok([{"name": "BTCUSDT", "stock": "BTC", "money": "USDT", "fee_prec": 4, "stock_prec": 8, "money_prec": 2,
          "min_amount": "0.001"},
         {"name": "ETHUSDT", "stock": "ETH", "money": "USDT", "fee_prec": 4, "stock_prec": 8, "money_prec": 2,
          "min_amount": "0.01"},
         {"name": "ETHBTC", "stock": "ETH", "money": "BTC", "fee_prec": 4, "stock_prec": 8, "money_prec": 6,
          "min_amount": "0.01"}])),
    ("market.summary", [],
     ok([{"name": n, "ask_count": 0, "ask_amount": "0", "bid_count": 0, "bid_amount": "0"}
         for n in ("BTCUSDT", "ETHUSDT", "ETHBTC")])),
]


async def test_golden_matcher_methods(app):
    for method, params, expected in GOLDEN:
        r = await rpc(app, method, params)
        assert r.status == 200, (method, params, r)
        assert r.header(b"content-type") == b"application/json"
        got = r.json()
        # `reason` texts belong to the engine: compare only when the golden names one
        if expected["error"] and expected["error"].get("data", {}).get("reason", "x") is None:
            got["error"]["data"]["reason"] = None
        assert got == expected, (method, params)


def test_every_spec_method_is_known():
    spec_methods = {
        "asset.list", "asset.summary", "balance.query", "balance.update", "balance.history",
        "order.put_limit", "order.put_market", "order.cancel", "order.book", "order.depth",
        "order.pending", "order.pending_detail", "order.deals", "order.finished",
        "order.finished_detail", "market.last", "market.deals", "market.kline", "market.status",
        "market.status_today", "market.user_deals", "market.list", "market.summary",
    }
    known = MATCHER_METHODS | HISTORY_METHOD_NAMES | MARKETDATA_METHOD_NAMES
    assert spec_methods <= known
    assert known - spec_methods == {"order.cancel_all"}


async def test_market_data_methods_unavailable_not_404(app):
    for method in sorted(MARKETDATA_METHOD_NAMES):
        r = await rpc(app, method, ["BTCUSDT"], rid=7)
        assert r.status == 200
        assert r.json() == err(3, "service unavailable", rid=7, data={"reason": "market data not available yet"})


async def test_config_methods_not_reachable(app, matcher):
    for method, params in [("asset.put", ["DOGE", 8, 8]),
                           ("market.put", ["DOGEUSDT", "DOGE", "USDT", 8, 2, 4, "1", True]),
                           ("config.fee_account", [1])]:
        r = await rpc(app, method, params, rid=3)
        assert r.status == 404
        assert r.body == b'{"error":{"code":4,"message":"method not found"},"result":null,"id":3}'
    assert not [c for c in matcher.service.calls if c[0] in ("asset.put", "market.put", "config.fee_account")]


async def test_unknown_method_404_code_4(app):
    r = await rpc(app, "order.history", [1], rid=12)
    assert r.status == 404
    assert r.json() == err(4, "method not found", rid=12)
    assert r.header(b"content-type") == b"application/json"


# -- history methods: through HISTORY_METHODS in a worker thread -----------------------------
async def test_history_methods_dispatch(client):
    seen = []

    def finished_detail(params):
        seen.append(params)
        return None if params[0] == 999 else {"id": params[0]}

    def broken(params):
        raise ValueError("bug")

    def invalid(params):
        raise RpcError.invalid("limit", "must be 1..101")

    def slow(params):
        time.sleep(0.5)
        return []

    app = JsonRpcApp(client=client, backend_timeout=0.2, marketdata_methods={}, history_methods={
        "order.finished_detail": finished_detail, "balance.history": broken,
        "order.deals": invalid, "market.user_deals": slow})
    try:
        assert (await rpc(app, "order.finished_detail", [999])).json() == ok(None)
        assert (await rpc(app, "order.finished_detail", [5])).json() == ok({"id": 5})
        r = await rpc(app, "balance.history", [1, "", "", 0, 0, 0, 10])
        assert (r.status, r.json()) == (200, err(2, "internal error"))
        r = await rpc(app, "order.deals", [1, 0, 1000])
        assert (r.status, r.json()) == (200, err(1, "invalid argument", data={"param": "limit", "reason": "must be 1..101"}))
        r = await rpc(app, "market.user_deals", [1, "BTCUSDT", 0, 10])
        assert (r.status, r.json()) == (504, err(5, "service timeout"))
        r = await rpc(app, "order.finished", [1, "BTCUSDT", 0, 0, 0, 10])  # not provided → 3, not 404
        assert r.status == 200 and r.json()["error"]["code"] == 3
    finally:
        app.close()


@pytest.mark.django_db(transaction=True)
async def test_real_history_methods(client):
    app = JsonRpcApp(client=client, marketdata_methods={})
    try:
        r = await rpc(app, "order.finished_detail", [2**64 - 1])
        assert app.history_methods == HISTORY_METHODS  # the real module, found and loaded
        assert (r.status, r.json()) == (200, ok(None))
        r = await rpc(app, "balance.history", [0, "", "", 0, 0, 0, 10])
        assert r.status == 200
        assert r.json()["error"]["code"] == 1 and r.json()["error"]["data"]["param"] == "user_id"
    finally:
        app.close()


# -- transport errors -----------------------------------------------------------------------------
@pytest.mark.parametrize("body", [
    b"",
    b"not json",
    b"NaN",
    b'{"method":"asset.list","params":[],"id":NaN}',
    b'{"method":"asset.list","params":[NaN],"id":1}',
    b'{"method":"asset.list","params":[],"id":1.0}',
    b'{"method":"asset.list","params":[],"id":"1"}',
    b'{"method":"asset.list","params":[],"id":null}',
    b'{"method":"asset.list","params":[],"id":true}',
    b'{"method":"asset.list","params":[]}',
    b'{"method":"asset.list","params":[],"id":9223372036854775808}',
    b'{"method":"asset.list","params":[],"id":-9223372036854775809}',
    b'{"method":"asset.list","params":[],"id":18446744073709551615}',
    b'{"method":"asset.list","params":[],"id":1e400}',
    b'{"method":5,"params":[],"id":1}',
    b'{"params":[],"id":1}',
    b'{"method":"asset.list","params":{},"id":1}',
    b'{"method":"asset.list","params":null,"id":1}',
    b'{"method":"asset.list","id":1}',
    b"[1,2]",
    b"5",
    b'"x"',
    b"[" * 5000 + b"]" * 5000,
    b'{"method":"asset.list","params":' + b"[" * 2000 + b"]" * 2000 + b',"id":1}',
])
async def test_malformed_is_400_empty(app, matcher, body):
    before = len(matcher.service.calls)
    r = await asgi_request(app, body)
    assert (r.status, r.body) == (400, b"")
    assert len(matcher.service.calls) == before


async def test_not_post_is_400(app):
    for method in ("GET", "PUT", "DELETE", "HEAD"):
        r = await asgi_request(app, b"", method=method)
        assert (r.status, r.body) == (400, b"")


async def test_body_in_chunks_and_too_large(client):
    app = JsonRpcApp(client=client, max_body=1000, history_methods={}, marketdata_methods={})
    try:
        body = orjson.dumps({"method": "asset.list", "params": [], "id": 4})
        r = await asgi_request(app, chunks=[body[:5], body[5:20], body[20:]])
        assert r.status == 200 and r.json()["id"] == 4
        big = orjson.dumps({"method": "asset.summary", "params": ["BTC"] * 300, "id": 5})
        r = await asgi_request(app, big)
        assert (r.status, r.body) == (400, b"")
    finally:
        app.close()


async def test_extra_keys_ignored_and_ids_echoed(app):
    for rid in (0, 1602599518243, 2**63 - 1, -(2**63), -1):
        r = await asgi_request(app, {"jsonrpc": "2.0", "method": "asset.list", "params": [], "id": rid, "x": [1]})
        assert r.status == 200
        assert r.json()["id"] == rid
        assert r.body.endswith(b',"id":%d}' % rid)


async def test_huge_integers_in_params(app):
    # beyond 64 bits orjson reads a float: the engine answers code 1 naming the parameter
    r = await asgi_request(app, b'{"method":"balance.query","params":[123456789012345678901234567890],"id":1}')
    assert r.status == 200
    assert r.json()["error"]["code"] == 1 and r.json()["error"]["data"]["param"] == "user_id"
    r = await rpc(app, "balance.query", [2**32])
    assert r.json()["error"]["code"] == 1


async def test_timeout_504(matcher):
    client = MatcherClient("127.0.0.1", matcher.port, timeout=0.1)
    app = JsonRpcApp(client=client, history_methods={}, marketdata_methods={})
    try:
        matcher.service.delay = 0.3
        r = await rpc(app, "asset.list", [], rid=1602599518243)
        assert r.status == 504
        assert r.body == b'{"error":{"code":5,"message":"service timeout"},"result":null,"id":1602599518243}'
        assert r.header(b"content-type") == b"application/json"
    finally:
        matcher.service.delay = 0
        await client.close()
        app.close()


async def test_not_connected_500_empty():
    client = MatcherClient("127.0.0.1", free_port(), timeout=0.5)
    app = JsonRpcApp(client=client, history_methods={}, marketdata_methods={})
    try:
        r = await rpc(app, "asset.list", [])
        assert (r.status, r.body) == (500, b"")
        r = await asgi_request(app, [{"method": "asset.list", "params": [], "id": 1}])
        assert (r.status, r.body) == (500, b"")
        # methods that do not need the matcher still answer
        r = await rpc(app, "market.last", ["BTCUSDT"])
        assert r.status == 200 and r.json()["error"]["code"] == 3
    finally:
        await client.close()
        app.close()


# -- batches -------------------------------------------------------------------------------------
async def test_batch(app):
    batch = [
        {"method": "balance.update", "params": [7, "USDT", "deposit", 1, "100", {}], "id": 1},
        {"method": "order.put_limit", "params": [7, "BTCUSDT", 2, "0.01", "5000", "0.002", "0.001", ""], "id": 2},
        {"method": "nope", "params": [], "id": 3},
        {"method": "balance.query", "params": [7, "USDT"], "id": 4},
        {"method": "market.last", "params": ["BTCUSDT"], "id": 5},
        {"method": "balance.update", "params": [7, "USDT", "deposit", 1, "100", {}], "id": 2**63 - 1},
    ]
    r = await asgi_request(app, batch)
    assert r.status == 200
    assert r.header(b"content-type") == b"application/json"
    replies = r.json()
    assert [x["id"] for x in replies] == [1, 2, 3, 4, 5, 2**63 - 1]
    assert replies[0] == ok({"status": "success"}, 1)
    assert replies[1]["result"]["price"] == "5000" and replies[1]["error"] is None
    assert replies[2] == err(4, "method not found", 3)
    assert replies[3] == ok({"USDT": {"available": "50", "freeze": "50"}}, 4)  # executed in order
    assert replies[4]["error"]["code"] == 3
    assert replies[5] == err(10, "repeat update", 2**63 - 1)


async def test_batch_limits(app, matcher):
    one = {"method": "asset.list", "params": [], "id": 1}
    assert (await asgi_request(app, [])).status == 400
    r = await asgi_request(app, [one] * 1001)
    assert (r.status, r.body) == (400, b"")
    r = await asgi_request(app, [one] * 1000)
    assert r.status == 200 and len(r.json()) == 1000
    # one malformed element rejects the whole batch before anything runs
    before = len(matcher.service.calls)
    bad = [{"method": "balance.update", "params": [8, "USDT", "deposit", 1, "1", {}], "id": 1},
           {"method": "asset.list", "params": [], "id": "x"}]
    assert (await asgi_request(app, bad)).status == 400
    assert (await asgi_request(app, [{"method": "asset.list", "params": [], "id": 1}, 5])).status == 400
    assert len(matcher.service.calls) == before


async def test_batch_timeout_element(matcher):
    client = MatcherClient("127.0.0.1", matcher.port, timeout=0.1)
    app = JsonRpcApp(client=client, history_methods={}, marketdata_methods={})
    try:
        matcher.service.delay = 0.3
        r = await asgi_request(app, [{"method": "asset.list", "params": [], "id": 9}])
        assert r.status == 200
        assert r.json() == [err(5, "service timeout", 9)]
    finally:
        matcher.service.delay = 0
        await client.close()
        app.close()


# -- trust ---------------------------------------------------------------------------------------
# A deposit (mutating) per request, each with its own business id: a refused (403) request must
# not reach the matcher at all, an accepted one must reach it exactly once.
class Trust:
    def __init__(self, app, matcher):
        self.app, self.matcher, self.n, self.expected = app, matcher, 0, []

    async def __call__(self, status, body=None, **kwargs):
        self.n += 1
        params = [1, "BTC", "deposit", 9000 + self.n, "1", {}]
        r = await asgi_request(self.app, body if body is not None else
                               {"method": "balance.update", "params": params, "id": self.n}, **kwargs)
        assert r.status == status, (self.n, r.status, kwargs)
        if status == 403:
            assert r.body == b""
        else:
            self.expected.append(("balance.update", params))
        assert self.matcher.service.calls == self.expected, self.n
        return r


async def test_trust_networks_and_token(client, matcher):
    app = JsonRpcApp(client=client, history_methods={}, marketdata_methods={}, service_token="s3cret",
                     allowed_networks=["127.0.0.0/8", "::1/128", "10.1.0.0/16"])
    matcher.service.calls.clear()
    call = Trust(app, matcher)
    try:
        await call(200, client=("127.0.0.1", 1))
        await call(200, client=("::1", 1))
        await call(200, client=("10.1.2.3", 1))
        await call(403, client=("10.2.0.1", 1))
        await call(403, client=None)
        # the token opens it from anywhere; a wrong token is refused from anywhere
        for header in ((b"authorization", b"Bearer s3cret"), (b"x-service-token", b"s3cret")):
            await call(200, client=("203.0.113.9", 1), headers=[header])
        for header in ((b"authorization", b"Bearer nope"), (b"x-service-token", b"s3cre")):
            await call(403, client=("203.0.113.9", 1), headers=[header])
            await call(403, client=("127.0.0.1", 1), headers=[header])
        # 403 comes before body parsing
        await call(403, b"garbage", client=("10.2.0.1", 1))
        assert len(matcher.service.calls) == 5
    finally:
        app.close()


async def test_trust_require_token(client, matcher):
    app = JsonRpcApp(client=client, history_methods={}, marketdata_methods={}, service_token="tok",
                     require_token=True)
    matcher.service.calls.clear()
    call = Trust(app, matcher)
    try:
        await call(403)
        await call(200, headers=[(b"authorization", b"Bearer tok")])
        await call(403, client=("203.0.113.9", 1), headers=[(b"authorization", b"Bearer tok")])  # network and token
        assert len(matcher.service.calls) == 1
    finally:
        app.close()


async def test_trust_no_token_configured_ignores_auth_header(app, matcher):
    matcher.service.calls.clear()
    call = Trust(app, matcher)
    await call(200, headers=[(b"authorization", b"Bearer whatever")])
    await call(403, client=("203.0.113.9", 1), headers=[(b"authorization", b"Bearer whatever")])
    assert len(matcher.service.calls) == 1


@pytest.mark.parametrize("headers,status", [
    ([(b"origin", b"https://evil.example")], 403),
    ([(b"origin", b"null")], 403),
    ([(b"origin", b"http://127.0.0.1:8000")], 200),  # the site's own origin (Host header)
    ([(b"origin", b"http://127.0.0.1:8001")], 403),
    ([(b"sec-fetch-site", b"cross-site")], 403),
    ([(b"sec-fetch-site", b"same-origin")], 200),
    ([(b"sec-fetch-site", b"none")], 200),
    ([(b"origin", b"http://127.0.0.1:8000"), (b"sec-fetch-site", b"cross-site")], 403),
])
async def test_trust_cross_site_browser(app, matcher, headers, status):
    before = len(matcher.service.calls)
    r = await asgi_request(app, {"method": "balance.update", "params": [1, "BTC", "deposit", 77, "1", {}], "id": 1},
                           headers=headers)
    assert r.status == status
    if status == 403:
        assert r.body == b"" and len(matcher.service.calls) == before


async def test_trust_behind_proxy(client, matcher):
    app = JsonRpcApp(client=client, history_methods={}, marketdata_methods={},
                     allowed_networks=["127.0.0.0/8", "10.9.0.0/16"], trusted_proxies=["127.0.0.0/8", "::1/128"])
    matcher.service.calls.clear()
    call = Trust(app, matcher)
    try:
        # through a local reverse proxy the caller is the forwarded address
        await call(403, headers=[(b"x-forwarded-for", b"203.0.113.9")])
        await call(403, headers=[(b"x-forwarded-for", b"127.0.0.1, 203.0.113.9")])  # a spoofed left-most entry
        await call(200, headers=[(b"x-forwarded-for", b"10.9.1.1")])
        await call(403, headers=[(b"x-real-ip", b"203.0.113.9")])
        # forwarding headers from a peer that is not a trusted proxy: the caller is unknown
        await call(403, client=("10.9.1.1", 1), headers=[(b"x-forwarded-for", b"127.0.0.1")])
        await call(403, client=("203.0.113.9", 1), headers=[(b"x-forwarded-for", b"127.0.0.1")])
        await call(200, client=("10.9.1.1", 1))
        assert len(matcher.service.calls) == 2
    finally:
        app.close()


async def test_trust_no_proxy_by_default(client, matcher, settings):
    """TRUSTED_PROXIES (shared with REST's throttle) is empty by default: a proxy on this
    host forwarding outside callers does not make them loopback callers."""
    assert settings.TRUSTED_PROXIES == []
    app = JsonRpcApp(client=client, history_methods={}, marketdata_methods={})
    matcher.service.calls.clear()
    call = Trust(app, matcher)
    try:
        await call(403, headers=[(b"x-forwarded-for", b"203.0.113.9")])
        await call(403, headers=[(b"x-real-ip", b"127.0.0.1")])
        await call(200)
        assert len(matcher.service.calls) == 1
    finally:
        app.close()


# -- the plain-client scenario ---------------------------------------------------------------------
async def test_plain_client_scenario(app):
    async def call(method, *params):
        r = await rpc(app, method, list(params))
        assert r.status == 200, r
        body = r.json()
        assert body["error"] is None, (method, params, body)
        return body["result"]

    buyer, seller = 101, 102
    await call("balance.update", buyer, "USDT", "deposit", 1, "10000", {})
    await call("balance.update", seller, "BTC", "deposit", 2, "2", {})
    bid = await call("order.put_limit", buyer, "BTCUSDT", 2, "0.5", "9000.5", "0.002", "0.001", "")
    assert bid["left"] == "0.5"
    assert await call("order.depth", "BTCUSDT", 20, "0") == {"asks": [], "bids": [["9000.5", "0.5"]]}
    assert await call("balance.query", buyer, "USDT") == {"USDT": {"available": "5499.75", "freeze": "4500.25"}}
    sell = await call("order.put_limit", seller, "BTCUSDT", 1, "0.5", "9000", "0.002", "0.001", "")
    assert sell["left"] == "0e-8" and sell["deal_money"] == "4500.25"
    # immediately gone from the depth (no reply cache)
    assert await call("order.depth", "BTCUSDT", 20, "0") == {"asks": [], "bids": []}
    assert await call("order.pending_detail", "BTCUSDT", bid["id"]) is None
    # buyer (maker, fee 0.001 in BTC): +0.5 BTC − 0.0005; −4500.25 USDT
    assert await call("balance.query", buyer, "BTC", "USDT") == {
        "BTC": {"available": "0.4995", "freeze": "0"}, "USDT": {"available": "5499.75", "freeze": "0"}}
    # seller (taker, fee 0.002 in USDT): −0.5 BTC; +4500.25 − 9.0005 USDT
    assert await call("balance.query", seller, "BTC", "USDT") == {
        "BTC": {"available": "1.5", "freeze": "0"}, "USDT": {"available": "4491.2495", "freeze": "0"}}


async def test_concurrent_requests_share_pipelined_connections(app):
    rs = await asyncio.gather(*(rpc(app, "balance.update", [200 + i, "USDT", "deposit", i, "1", {}], rid=i)
                                for i in range(300)))
    assert all(r.status == 200 and r.json() == ok({"status": "success"}, i) for i, r in enumerate(rs))


async def test_request_larger_than_a_matcher_frame_is_code_1_and_spares_the_connection(client, matcher):
    app = JsonRpcApp(client=client, max_body=16 * 1024 * 1024, history_methods={}, marketdata_methods={})
    try:
        pending = asyncio.ensure_future(rpc(app, "asset.list", [], rid=1))
        big = ["BTC"] * (1024 * 1024)  # ~6 MiB of params: more than the matcher accepts in one frame
        r = await rpc(app, "asset.summary", big, rid=2)
        assert r.status == 200
        assert r.json() == err(1, "invalid argument", 2, data={"param": "params", "reason": "request too large"})
        assert (await pending).status == 200  # the connection (and requests on it) survived
        # in a batch it rejects the whole batch, the other elements included: nothing runs
        before = len(matcher.service.calls)
        r = await asgi_request(app, [{"method": "balance.update", "params": [9, "USDT", "deposit", 1, "5", {}], "id": 3},
                                     {"method": "asset.summary", "params": big, "id": 4}])
        assert (r.status, r.body) == (400, b"")
        assert len(matcher.service.calls) == before
        assert (await rpc(app, "balance.query", [9, "USDT"])).json()["result"]["USDT"]["available"] == "0"
    finally:
        app.close()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [65, 254, 255, 256, 1023])
async def test_unsendable_params_single_is_code_1_not_sent(app, matcher, depth):
    before = len(matcher.service.calls)
    body = b'{"method":"balance.query","params":' + _nested(depth) + b',"id":7}'
    r = await asgi_request(app, body)
    assert r.status == 200
    assert r.json() == err(1, "invalid argument", 7,
                           data={"param": "params", "reason": "nested deeper than 64 levels"})
    assert len(matcher.service.calls) == before


async def test_params_depth_boundaries(app, matcher):
    # 64 levels are sent (the engine answers), 1,024 within the envelope cannot be read: 400
    before = len(matcher.service.calls)
    r = await asgi_request(app, b'{"method":"balance.query","params":' + _nested(64) + b',"id":7}')
    assert r.status == 200 and r.json()["error"]["code"] == 1
    assert r.json()["error"]["data"]["param"] != "params" or "nested" not in r.json()["error"]["data"]["reason"]
    assert len(matcher.service.calls) == before + 1
    r = await asgi_request(app, b'{"method":"balance.query","params":' + _nested(1024) + b',"id":7}')
    assert (r.status, r.body) == (400, b"")


@pytest.mark.parametrize("depth", [65, 254, 255, 1023])
async def test_batch_with_an_unsendable_element_runs_nothing(app, matcher, depth):
    before = len(matcher.service.calls)
    body = (b'[{"method":"balance.update","params":[3,"USDT","deposit",1,"5",{}],"id":1},'
            b'{"method":"balance.query","params":' + _nested(depth) + b',"id":2},'
            b'{"method":"balance.update","params":[3,"USDT","deposit",2,"5",{}],"id":3}]')
    r = await asgi_request(app, body)
    assert (r.status, r.body) == (400, b"")
    assert len(matcher.service.calls) == before  # the matcher saw nothing
    r = await rpc(app, "balance.query", [3, "USDT"])
    assert r.json()["result"] == {"USDT": {"available": "0", "freeze": "0"}}


async def test_client_request_many_is_all_or_nothing(client, matcher):
    before = len(matcher.service.calls)
    deep = [[[]]]
    for _ in range(70):
        deep = [deep]
    with pytest.raises(RpcError) as info:
        await client.request_many([("balance.update", [4, "USDT", "deposit", 1, "5", {}]),
                                   ("balance.query", [4, 2**70]),
                                   ("balance.query", deep)])
    assert info.value.code == 1 and info.value.data["param"] == "params"
    assert len(matcher.service.calls) == before
    for params in ([4, float("nan")], [4, "\ud800"], deep, [4, 2**64]):
        with pytest.raises(RpcError) as info:
            await client.request("balance.query", params)
        assert info.value.data["param"] == "params"
    assert len(matcher.service.calls) == before


# -- dispatch: the hot path of make run's HTTP protocol (exchange_site/rpc_protocol.py) ------------
async def dispatched(app, body: bytes, client=None) -> tuple[int, bytes]:
    done = asyncio.get_running_loop().create_future()
    app.dispatch(body, lambda status, payload: done.set_result((status, payload)), client)
    return await asyncio.wait_for(done, 5)


async def test_dispatch_answers_as_handle_body(app, client):
    await client.ensure_connected()  # the hot path needs a live connection, else handle_body
    deposit = orjson.dumps({"method": "balance.update", "params": [1, "BTC", "deposit", 1, "10", {}], "id": 2**63 - 1})
    assert await dispatched(app, deposit, client) == (
        200, b'{"error":null,"result":{"status":"success"},"id":9223372036854775807}')
    bodies = [
        deposit,  # now a repeat: code 10
        orjson.dumps({"method": "balance.query", "params": [1, "BTC"], "id": -(2**63)}),
        orjson.dumps({"method": "balance.update", "params": [1, "BTC", "deposit", 2, "NaN", {}], "id": 3}),
        orjson.dumps({"method": "no.such", "params": [], "id": 4}),
        orjson.dumps({"method": "asset.list", "params": [], "id": 2**63}),  # id beyond 64 bits
        orjson.dumps({"method": "asset.list", "params": {}, "id": 5}),
        orjson.dumps([{"method": "asset.list", "params": [], "id": 6}]),
        b'{"method":"balance.query","params":[123456789012345678901234567890],"id":7}',
        b"{bad",
    ]
    for body in bodies:
        expected = await app.handle_body(body) if body not in (bodies[4], bodies[5], bodies[8]) else (400, b"")
        assert await dispatched(app, body, client) == expected, body
    assert orjson.loads((await dispatched(app, bodies[1], client))[1])["result"] == {
        "BTC": {"available": "10", "freeze": "0"}}


async def test_dispatch_timeout_504_and_connection_lost(matcher):
    client = MatcherClient("127.0.0.1", matcher.port, timeout=0.1)
    app = JsonRpcApp(client=client, history_methods={}, marketdata_methods={})
    try:
        await client.ensure_connected()
        matcher.service.delay = 0.5
        started = time.monotonic()
        status, body = await dispatched(app, b'{"method":"asset.list","params":[],"id":99}', client)
        assert (status, body) == (504, b'{"error":{"code":5,"message":"service timeout"},"result":null,"id":99}')
        assert time.monotonic() - started < 0.4
        # in flight when the connection breaks: 504 too (the command may have been applied)
        pending = asyncio.ensure_future(dispatched(app, b'{"method":"asset.list","params":[],"id":100}', client))
        await asyncio.sleep(0.02)
        client.ready_connection().transport.abort()
        assert (await pending)[0] == 504
    finally:
        matcher.service.delay = 0
        await client.close()
        app.close()


async def test_dispatch_without_connection_500_empty():
    client = MatcherClient("127.0.0.1", free_port(), timeout=0.5)
    app = JsonRpcApp(client=client, history_methods={}, marketdata_methods={})
    try:
        assert await dispatched(app, b'{"method":"asset.list","params":[],"id":1}', client) == (500, b"")
    finally:
        await client.close()
        app.close()
