"""Every class of bad input → HTTP 400 naming the field, and nothing reaches the matcher."""
import pytest
from django.test import Client

from .conftest import fund

pytestmark = pytest.mark.django_db

GOOD = {"market": "BTCUSDT", "side": "buy", "type": "limit", "amount": "0.5", "price": "8000"}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"amount": 0.5}, "amount"),  # a JSON number
        ({"amount": "1e-3"}, "amount"),  # exponent
        ({"amount": "NaN"}, "amount"),
        ({"amount": "Infinity"}, "amount"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": " 1"}, "amount"),
        ({"amount": "1\n"}, "amount"),  # "$" would match before a trailing newline
        ({"amount": "\u0661"}, "amount"),  # a non-ASCII digit
        ({"amount": "1000000000000000"}, "amount"),  # 10^15
        ({"amount": "0.123456789"}, "amount"),  # 9 decimals > stock_prec 8
        ({"amount": "0.0001"}, "amount"),  # < min_amount 0.001
        ({"price": "8000.123"}, "price"),  # 3 decimals > money_prec 2
        ({"price": "0"}, "price"),
        ({"price": None}, "price"),
        ({"market": "NOPE"}, "market"),
        ({"market": 5}, "market"),
        ({"side": "long"}, "side"),
        ({"side": 2}, "side"),
        ({"type": "stop"}, "type"),
        ({"time_in_force": "DAY"}, "time_in_force"),
        ({"post_only": "true"}, "post_only"),
        ({"post_only": True, "time_in_force": "IOC"}, "post_only"),
        ({"client_order_id": "bad id!"}, "client_order_id"),
        ({"client_order_id": "x" * 37}, "client_order_id"),
        ({"self_trade": "maybe"}, "self_trade"),
        ({"leverage": 10}, "leverage"),  # unknown field
        ({"type": "market"}, "price"),  # price not allowed on a market order
        ({"type": "market", "price": None, "amount": "10.123"}, "amount"),  # market buy: money_prec 2
    ],
)
def test_bad_order_input_is_400_naming_the_field(engine, alice_api, change, field):
    fund(engine, alice_api.user, "USDT", "100000")
    fund(engine, alice_api.user, "BTC", "10")
    body = {k: v for k, v in {**GOOD, **change}.items() if not (v is None and k == "price" and "type" in change)}
    r = alice_api.post("/api/v1/orders/", body)
    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["code"] == 1 and error["type"] == "invalid"
    assert field in error["fields"], error
    assert [c for c in engine.mutating_calls() if c[0] != "balance.update"] == []


def test_missing_price_on_limit_order(engine, alice_api):
    body = {k: v for k, v in GOOD.items() if k != "price"}
    r = alice_api.post("/api/v1/orders/", body)
    assert r.status_code == 400 and "price" in r.json()["error"]["fields"]


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"amount": NaN}', b""])
def test_malformed_body_is_400(engine, alice_api, body):
    r = alice_api.post("/api/v1/orders/", body)
    assert r.status_code == 400, r.content
    assert engine.mutating_calls() == []


def test_unlisted_market_refuses_orders(engine, alice_api):
    from apps.markets.models import Market

    Market.objects.filter(name="BTCUSDT").update(listed=False)
    r = alice_api.post("/api/v1/orders/", GOOD)
    assert r.status_code == 400 and "market" in r.json()["error"]["fields"]


@pytest.mark.parametrize(
    "query, field",
    [
        ("market=NOPE", "market"),
        ("", "market"),
        ("market=BTCUSDT&limit=0", "limit"),
        ("market=BTCUSDT&limit=101", "limit"),
        ("market=BTCUSDT&interval=0.001", "interval"),  # money_prec 2
        ("market=BTCUSDT&interval=1e1", "interval"),
        ("market=BTCUSDT&interval=-1", "interval"),
    ],
)
def test_bad_depth_query(engine, query, field):
    r = Client().get(f"/api/v1/depth/?{query}")
    assert r.status_code == 400 and field in r.json()["error"]["fields"]
    assert engine.calls == []


@pytest.mark.parametrize(
    "path, field",
    [
        ("/api/v1/balances/?asset=BTC,NOPE", "asset"),
        ("/api/v1/balances/history/?asset=NOPE", "asset"),
        ("/api/v1/balances/history/?business=a,b", "business"),
        ("/api/v1/balances/history/?start_time=10&end_time=5", "end_time"),
        ("/api/v1/balances/history/?limit=1000", "limit"),
        ("/api/v1/balances/history/?offset=-1", "offset"),
        ("/api/v1/orders/?market=NOPE", "market"),
        ("/api/v1/orders/finished/?market=BTCUSDT&side=up", "side"),
        ("/api/v1/orders/finished/", "market"),
        ("/api/v1/my/deals/?market=NOPE", "market"),
        ("/api/v1/orders/1/?market=NOPE", "market"),
        ("/api/v1/orders/0/", "order_id"),
        (f"/api/v1/orders/{2**64}/", "order_id"),
        ("/api/v1/deals/?market=BTCUSDT&limit=0", "limit"),
    ],
)
def test_bad_queries(engine, alice_api, path, field):
    r = alice_api.get(path)
    assert r.status_code == 400, (path, r.content)
    assert field in r.json()["error"]["fields"]


def test_bad_cancel_queries_change_nothing(engine, alice_api):
    assert alice_api.delete("/api/v1/orders/?market=NOPE").status_code == 400
    assert alice_api.delete("/api/v1/orders/?market=BTCUSDT&side=left").status_code == 400
    assert alice_api.delete(f"/api/v1/orders/{2**64}/").status_code == 400
    assert engine.mutating_calls() == []


@pytest.mark.parametrize(
    "change, field",
    [
        ({"amount": "0.000000001"}, "amount"),  # prec_show 8
        ({"amount": "1e2"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": 5}, "amount"),
        ({"asset": "NOPE"}, "asset"),
        ({"user_id": 999999}, "user_id"),
        ({"user_id": "1"}, "user_id"),
        ({"business_id": "7"}, "business_id"),
        ({"business_id": 2**64}, "business_id"),
        ({"business_id": 1.5}, "business_id"),
        ({"business": "with,comma"}, "business"),
        ({"detail": [1]}, "detail"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_deposit_input(engine, staff_api, bob, change, field):
    body = {"user_id": bob.pk, "asset": "BTC", "amount": "1", "business_id": 1, **change}
    r = staff_api.post("/api/v1/staff/deposits/", body)
    assert r.status_code == 400, r.content
    assert field in r.json()["error"]["fields"]
    assert engine.mutating_calls() == []


@pytest.mark.parametrize("path, field", [
    ("/api/v1/balances/?asset=", "asset"),
    ("/api/v1/balances/history/?business=", "business"),
    ("/api/v1/my/deals/?market=", "market"),
    ("/api/v1/orders/1/?market=", "market"),
])
def test_blank_query_parameters_are_refused(engine, alice_api, path, field):
    r = alice_api.get(path)
    assert r.status_code == 400 and field in r.json()["error"]["fields"]


INTEGER_QUERY_PARAMS = [
    ("/api/v1/depth/?market=BTCUSDT", "limit"),
    ("/api/v1/deals/?market=BTCUSDT", "limit"),
    ("/api/v1/deals/?market=BTCUSDT", "last_id"),
    ("/api/v1/balances/history/?asset=BTC", "offset"),
    ("/api/v1/balances/history/?asset=BTC", "limit"),
    ("/api/v1/balances/history/?asset=BTC", "start_time"),
    ("/api/v1/balances/history/?asset=BTC", "end_time"),
    ("/api/v1/orders/?market=BTCUSDT", "offset"),
    ("/api/v1/orders/?market=BTCUSDT", "limit"),
    ("/api/v1/orders/finished/?market=BTCUSDT", "offset"),
    ("/api/v1/orders/finished/?market=BTCUSDT", "limit"),
    ("/api/v1/orders/finished/?market=BTCUSDT", "start_time"),
    ("/api/v1/orders/finished/?market=BTCUSDT", "end_time"),
    ("/api/v1/my/deals/?market=BTCUSDT", "offset"),
    ("/api/v1/my/deals/?market=BTCUSDT", "limit"),
    ("/api/v1/orders/1/deals/", "offset"),
    ("/api/v1/orders/1/deals/", "limit"),
]


# Percent-encoded: "10.0", "1e1", " 10", "+10", "10 ", "-0", "0x10", a tab, a newline, a
# non-ASCII digit ("١"), an empty fraction "10." and 21 digits.
@pytest.mark.parametrize("raw", ["10.0", "1e1", "%2010", "%2B10", "10%20", "-0", "0x10", "%0910", "10%0A",
                                 "%D9%A1", "10.", "1" * 21])
@pytest.mark.parametrize("path, param", INTEGER_QUERY_PARAMS)
def test_integer_query_parameters_are_strict(engine, alice_api, path, param, raw):
    """REST v1 is strict (spec README §6): an integer query parameter is ASCII digits only."""
    r = alice_api.get(f"{path}{'&' if '?' in path else '?'}{param}={raw}")
    assert r.status_code == 400, (path, param, raw, r.content)
    error = r.json()["error"]
    assert error["code"] == 1 and list(error["fields"]) == [param], error
    assert engine.mutating_calls() == []


@pytest.mark.parametrize("path, param", INTEGER_QUERY_PARAMS)
def test_integer_query_parameters_accept_digits(engine, alice_api, path, param):
    r = alice_api.get(f"{path}{'&' if '?' in path else '?'}{param}=010")
    assert r.status_code == 200, (path, param, r.content)  # "010" is 10: accepted, not refused
    body = r.json()
    if param in ("offset", "limit") and isinstance(body, dict) and "records" in body:
        assert body[param] == 10, (path, param, body)  # paged lists echo the value they used
