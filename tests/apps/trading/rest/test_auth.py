"""Who may do what: signatures, scopes, revocation, sessions, staff, no cross-user access."""
import json
import time

import pytest
from django.test import Client

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_revoke
from apps.console.models import AuditLog

from .conftest import fund, signed_client
from .helpers import SignedClient, sign

pytestmark = pytest.mark.django_db

PATH = "/api/v1/balances/"


def _error(r):
    return r.json()["error"]


def test_signed_request_is_accepted_and_marks_last_used(engine, alice_api):
    r = alice_api.get(PATH)
    assert r.status_code == 200, r.content
    assert ApiKey.objects.get(pk=alice_api.api_key.pk).last_used is not None


def test_unsigned_request_is_401(engine, alice):
    r = Client().get(PATH)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("ApiKey")


@pytest.mark.parametrize("missing", ["HTTP_X_API_TIMESTAMP", "HTTP_X_API_SIGNATURE"])
def test_incomplete_signature_headers_are_401(engine, alice_api, missing):
    headers = alice_api.headers("GET", PATH)
    del headers[missing]
    r = Client().get(PATH, **headers)
    assert r.status_code == 401 and "required" in _error(r)["message"]


@pytest.mark.parametrize("skew_s", [-31, 31])
def test_timestamp_outside_window_is_401(engine, alice_api, skew_s):
    r = alice_api.get(PATH, timestamp=int((time.time() + skew_s) * 1000))
    assert r.status_code == 401 and "window" in _error(r)["message"]


def test_timestamp_in_seconds_is_401(engine, alice_api):
    assert alice_api.get(PATH, timestamp=int(time.time())).status_code == 401


def test_replayed_request_is_401(engine, alice_api):
    headers = alice_api.headers("GET", PATH)
    assert Client().get(PATH, **headers).status_code == 200
    r = Client().get(PATH, **headers)
    assert r.status_code == 401 and "replayed" in _error(r)["message"]


def test_replayed_order_places_nothing(engine, alice_api):
    fund(engine, alice_api.user, "USDT", "10000")
    body = json.dumps({"market": "BTCUSDT", "side": "buy", "amount": "0.1", "price": "100"}).encode()
    headers = alice_api.headers("POST", "/api/v1/orders/", body)
    c = Client()
    assert c.post("/api/v1/orders/", body, content_type="application/json", **headers).status_code == 201
    assert c.post("/api/v1/orders/", body, content_type="application/json", **headers).status_code == 401
    assert alice_api.get("/api/v1/orders/?market=BTCUSDT").json()["total"] == 1


def test_wrong_signature_is_401(engine, alice_api):
    assert alice_api.get(PATH, signature="0" * 64).status_code == 401
    other = SignedClient(alice_api.access_id, "not-the-secret")
    assert other.get(PATH).status_code == 401
    # a non-hex, non-ASCII signature is just a bad signature
    assert alice_api.get(PATH, signature="é" * 64).status_code == 401


def test_signature_covers_body_query_and_method(engine, alice_api):
    fund(engine, alice_api.user, "USDT", "10000")
    ts = str(int(time.time() * 1000))
    signed = json.dumps({"market": "BTCUSDT", "side": "buy", "amount": "0.1", "price": "100"}).encode()
    sent = json.dumps({"market": "BTCUSDT", "side": "buy", "amount": "0.2", "price": "100"}).encode()
    headers = {"HTTP_X_API_KEY": alice_api.access_id, "HTTP_X_API_TIMESTAMP": ts,
               "HTTP_X_API_SIGNATURE": sign(alice_api.secret, ts, "POST", "/api/v1/orders/", signed)}
    r = Client().post("/api/v1/orders/", sent, content_type="application/json", **headers)
    assert r.status_code == 401
    # the query string is signed: a signature for ?asset=BTC does not work for ?asset=USDT
    headers = alice_api.headers("GET", PATH + "?asset=BTC")
    assert Client().get(PATH + "?asset=USDT", **headers).status_code == 401
    # and the method: a GET signature does not authorise a DELETE
    headers = alice_api.headers("GET", "/api/v1/orders/?market=BTCUSDT")
    assert Client().delete("/api/v1/orders/?market=BTCUSDT", **headers).status_code == 401
    assert [c for c in engine.mutating_calls() if c[0] != "balance.update"] == []


def test_unknown_revoked_and_inactive_keys_are_401(engine, alice_api, bob_api):
    assert SignedClient("f" * 32, "x").get(PATH).status_code == 401
    api_key_revoke(api_key=alice_api.api_key)
    r = alice_api.get(PATH)
    assert r.status_code == 401 and "revoked" in _error(r)["message"]
    bob_api.user.is_active = False
    bob_api.user.save()
    assert bob_api.get(PATH).status_code == 401


def test_bad_key_fails_even_on_public_endpoints(markets):
    assert SignedClient("f" * 32, "x").get("/api/v1/markets/").status_code == 401


def test_scopes(engine, alice):
    read_only = signed_client(alice, scopes=["read"])
    trade_only = signed_client(alice, scopes=["trade"])
    body = {"market": "BTCUSDT", "side": "buy", "amount": "0.1", "price": "100"}
    assert read_only.get(PATH).status_code == 200
    r = read_only.post("/api/v1/orders/", body)
    assert r.status_code == 403 and "trade" in _error(r)["message"]
    assert read_only.delete("/api/v1/orders/?market=BTCUSDT").status_code == 403
    assert trade_only.get(PATH).status_code == 403
    assert trade_only.post("/api/v1/orders/", body).status_code == 400  # got past scopes: balance not enough
    assert [c[0] for c in engine.mutating_calls()] == ["order.put_limit"]


def test_session_auth_needs_csrf_for_writes(engine, alice):
    fund(engine, alice, "USDT", "10000")
    c = Client(enforce_csrf_checks=True)
    c.force_login(alice)
    assert c.get(PATH).status_code == 200
    body = {"market": "BTCUSDT", "side": "buy", "amount": "0.1", "price": "100"}
    r = c.post("/api/v1/orders/", body, content_type="application/json")
    assert r.status_code == 403 and "CSRF" in _error(r)["message"]
    c.get("/admin/login/")  # sets the csrftoken cookie
    token = c.cookies["csrftoken"].value
    r = c.post("/api/v1/orders/", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert r.status_code == 201, r.content
    assert r.json()["source"] == "web"


def test_no_cross_user_reads_or_cancels(engine, alice_api, bob_api):
    fund(engine, alice_api.user, "USDT", "10000")
    order = alice_api.post("/api/v1/orders/", {"market": "BTCUSDT", "side": "buy", "amount": "0.1",
                                               "price": "100"}).json()
    oid = order["id"]
    for path in (f"/api/v1/orders/{oid}/", f"/api/v1/orders/{oid}/?market=BTCUSDT"):
        r = bob_api.get(path)
        assert r.status_code == 404, path
        r = bob_api.delete(path)
        assert r.status_code == 404 and _error(r)["message"] == "order not found"
    assert bob_api.get("/api/v1/orders/?market=BTCUSDT").json()["records"] == []
    assert bob_api.delete("/api/v1/orders/?market=BTCUSDT").json() == {"count": 0, "orders": []}
    assert bob_api.get(f"/api/v1/orders/{oid}/deals/").json()["records"] == []
    # still open for alice
    assert alice_api.get(f"/api/v1/orders/{oid}/").json()["status"] == "open"
    balances = {b["asset"]: b for b in bob_api.get(PATH).json()}
    assert balances["USDT"] == {"asset": "USDT", "available": "0", "freeze": "0"}


def test_cross_user_finished_order_is_404(engine, alice_api, bob_api):
    from .test_orders import _history_rows

    _history_rows(alice_api.user, bob_api.user)
    assert alice_api.get("/api/v1/orders/900/").status_code == 200
    assert bob_api.get("/api/v1/orders/900/").status_code == 404
    assert bob_api.get("/api/v1/orders/900/?market=BTCUSDT").status_code == 404
    assert bob_api.get("/api/v1/orders/finished/?market=BTCUSDT").json()["records"] == []
    assert [h["asset"] for h in bob_api.get("/api/v1/balances/history/").json()["records"]] == ["BTC"]


def test_deposits_and_withdrawals_are_staff_only(engine, alice_api, staff_api, bob):
    body = {"user_id": bob.pk, "asset": "BTC", "amount": "1.5", "business_id": 7}
    r = alice_api.post("/api/v1/staff/deposits/", body)
    assert r.status_code == 403
    assert Client().post("/api/v1/staff/deposits/", body, content_type="application/json").status_code == 401
    assert engine.mutating_calls() == []

    r = staff_api.post("/api/v1/staff/deposits/", body)
    assert r.status_code == 201, r.content
    assert r.json() == {"user_id": bob.pk, "asset": "BTC", "business": "deposit", "business_id": 7, "change": "1.5"}
    assert engine.call("balance.query", [bob.pk, "BTC"]) == {"BTC": {"available": "1.5", "freeze": "0"}}
    method, params = engine.mutating_calls()[-1]
    assert params[5] == {"staff": staff_api.user.pk}
    (row,) = AuditLog.objects.all()  # a staff action: one audit row (refusals write none)
    assert (row.actor, row.action, row.target) == (staff_api.user, "balance.deposit", f"user {bob.pk}")
    assert row.details == {**r.json(), "via": "rest"}

    # the same business_id again: refused, applied once
    r = staff_api.post("/api/v1/staff/deposits/", body)
    assert r.status_code == 409 and _error(r)["code"] == 10
    r = staff_api.post("/api/v1/staff/withdrawals/", {**body, "amount": "2", "business_id": 8})
    assert r.status_code == 400 and _error(r)["code"] == 11 and "amount" in _error(r)["fields"]
    r = staff_api.post("/api/v1/staff/withdrawals/", {**body, "amount": "0.5", "business_id": 8})
    assert r.status_code == 201 and r.json()["change"] == "-0.5" and r.json()["business"] == "withdraw"
    assert engine.call("balance.query", [bob.pk, "BTC"])["BTC"]["available"] == "1"
    assert [a.action for a in AuditLog.objects.order_by("id")] == ["balance.deposit", "balance.withdraw"]


def test_staff_key_without_trade_scope_cannot_deposit(engine, staff, bob):
    read_only = signed_client(staff, scopes=["read"])
    body = {"user_id": bob.pk, "asset": "BTC", "amount": "1", "business_id": 1}
    r = read_only.post("/api/v1/staff/deposits/", body)
    assert r.status_code == 403 and "trade" in _error(r)["message"]
    assert engine.mutating_calls() == []  # nothing reached the matcher
    assert engine.call("balance.query", [bob.pk, "BTC"])["BTC"] == {"available": "0", "freeze": "0"}


def test_throttle_per_key(engine, alice, settings):
    rf = dict(settings.REST_FRAMEWORK)
    rf["DEFAULT_THROTTLE_RATES"] = {"anon": "2/min", "user": "3/min"}
    settings.REST_FRAMEWORK = rf
    one, two = signed_client(alice), signed_client(alice)
    assert [one.get(PATH).status_code for _ in range(4)] == [200, 200, 200, 429]
    r = one.get(PATH)
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert two.get(PATH).status_code == 200  # another key has its own budget
    anon = Client()
    assert [anon.get("/api/v1/markets/").status_code for _ in range(3)] == [200, 200, 429]


def _anon_rate(settings, rate):
    rf = dict(settings.REST_FRAMEWORK)
    rf["DEFAULT_THROTTLE_RATES"] = {"anon": rate, "user": "1000/min"}
    settings.REST_FRAMEWORK = rf


def test_forwarded_headers_from_an_untrusted_peer_do_not_make_new_clients(engine, settings):
    _anon_rate(settings, "5/min")
    settings.TRUSTED_PROXIES = []  # the default: no proxy is trusted
    c = Client(REMOTE_ADDR="203.0.113.5")
    codes = [c.get("/api/v1/markets/", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}", HTTP_X_REAL_IP=f"192.0.2.{i}")
             .status_code for i in range(100)]
    assert codes == [200] * 5 + [429] * 95  # one client, whatever it claims
    assert Client(REMOTE_ADDR="203.0.113.6").get("/api/v1/markets/").status_code == 200  # another peer


def test_behind_a_trusted_proxy_the_right_most_untrusted_address_counts(engine, settings):
    _anon_rate(settings, "3/min")
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    proxy = Client(REMOTE_ADDR="10.0.0.2")

    def get(xff):
        return proxy.get("/api/v1/markets/", HTTP_X_FORWARDED_FOR=xff).status_code

    # the client's own (spoofed) left-most entries do not matter; trusted hops are skipped
    assert [get(f"{i}.1.1.1, 198.51.100.7, 10.0.0.3") for i in range(4)] == [200, 200, 200, 429]
    assert get("198.51.100.8") == 200  # another client behind the proxy has its own budget
    # the same peer is untrusted once the setting does not list it: headers ignored
    settings.TRUSTED_PROXIES = ["192.168.0.0/16"]
    assert [get(f"198.51.100.{20 + i}") for i in range(4)] == [200, 200, 200, 429]
