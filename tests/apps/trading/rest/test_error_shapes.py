"""Whatever DEBUG is, API paths answer errors in REST v1's JSON shape (never HTML, never a
traceback), parse and size failures are 4xx, oversized bodies are refused before they are
read or any credential is looked up; non-API pages show plain 400/404 pages for refused
requests (exchange_site/errors.py, exchange_site/guard.py, apps/trading/rest/parsers.py)."""
from __future__ import annotations

import json

import pytest
from django.test import Client

from exchange_site import asgi
from tests.asgi_call import http

from .conftest import fund
from .helpers import sign

GOOD = {"market": "BTCUSDT", "side": "buy", "amount": "0.5", "price": "8000"}


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def assert_json_error(r, status, error_type=None):
    body = r.content if hasattr(r, "content") else r.body
    ctype = r["Content-Type"] if hasattr(r, "content") else r.content_type
    assert status_of(r) == status
    assert ctype == "application/json", (ctype, body[:300])
    assert b"Traceback" not in body and b"<html" not in body.lower()
    error = json.loads(body)["error"]
    if error_type:
        assert error["type"] == error_type, error
    return error


def status_of(r):
    return r.status_code if hasattr(r, "status_code") else r.status


def no_traceback(r):
    body = r.content if hasattr(r, "content") else r.body
    return b"Traceback" not in body and b"technical" not in body.lower() and b"urlpatterns" not in body.lower()


def test_deeply_nested_signed_body_is_400_json(debug, engine, alice_api):
    for depth in (65, 3000, 100_000):
        r = alice_api.post("/api/v1/orders/", b"[" * depth + b"]" * depth)
        assert status_of(r) == 400
        assert_json_error(r, 400, "parse_error")
    r = alice_api.post("/api/v1/orders/", b"[" * 64 + b"]" * 64)  # parsed; not an object → invalid
    assert status_of(r) == 400
    assert engine.mutating_calls() == []


def test_duplicate_keys_are_refused(debug, engine, alice_api):
    fund(engine, alice_api.user, "USDT", "1000000")
    r = alice_api.post("/api/v1/orders/", b'{"market": "BTCUSDT", "side": "buy", "amount": "0.5", '
                                          b'"price": "8000", "amount": "100"}')
    assert status_of(r) == 400
    error = assert_json_error(r, 400, "parse_error")
    assert "duplicate key 'amount'" in error["message"]
    r = alice_api.post("/api/v1/orders/", b'{"market": "BTCUSDT", "side": "buy", "amount": "0.5", '
                                          b'"price": "8000", "x": {"a": 1, "a": 2}}')
    assert "duplicate key 'a'" in assert_json_error(r, 400, "parse_error")["message"]
    assert [c for c in engine.mutating_calls() if c[0] != "balance.update"] == []
    assert status_of(alice_api.post("/api/v1/orders/", GOOD)) == 201  # the control


def test_unknown_api_path_is_json_404(debug, db):
    c = Client()
    for path in ("/api/v1/nope/", "/api/v1/orders/x/y/z/", "/api/nothing"):
        r = c.get(path)
        assert status_of(r) == 404
        assert_json_error(r, 404, "not_found")


def test_server_error_on_api_path_is_json_500(debug, db, monkeypatch):
    from apps.trading import selectors

    def broken():
        raise RuntimeError("a bug")

    monkeypatch.setattr(selectors, "market_list", broken)
    r = Client(raise_request_exception=False).get("/api/v1/markets/")
    assert status_of(r) == 500
    assert_json_error(r, 500, "server_error")
    assert b"a bug" not in r.content


def test_too_many_query_parameters(debug, engine, alice_api):
    query = "&".join(f"p{i}=1" for i in range(1001))
    r = alice_api.get("/api/v1/balances/?" + query)
    assert status_of(r) == 400
    assert_json_error(r, 400, "too_many_fields")
    r = Client(raise_request_exception=False).get("/api/v1/markets/?" + query)
    assert_json_error(r, 400, "too_many_fields")


def test_body_over_the_limit_is_413_json_before_authentication(debug, engine, alice_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = b'{"market": "' + b"x" * 2000 + b'"}'
    r = alice_api.post("/api/v1/orders/", body)  # past the ASGI layer: Django's own check
    assert status_of(r) == 413
    assert_json_error(r, 413, "request_too_large")


def test_bad_host_and_suspicious_operations_never_show_a_traceback(debug, admin_client, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    r = Client(HTTP_HOST="attacker.example").get("/api/v1/markets/")
    assert status_of(r) == 400
    assert_json_error(r, 400)
    r = Client(HTTP_HOST="attacker.example").get("/admin/login/")
    assert status_of(r) == 400 and no_traceback(r) and b"ALLOWED_HOSTS" not in r.content
    settings.ALLOWED_HOSTS = ["testserver"]
    r = admin_client.get("/admin/auth/user/?_to_field=password")
    assert status_of(r) == 400 and no_traceback(r), r.content[:500]
    query = "&".join(f"p{i}=1" for i in range(1001))
    r = admin_client.post("/admin/login/", query, content_type="application/x-www-form-urlencoded")
    assert status_of(r) == 400 and no_traceback(r), r.content[:500]
    r = admin_client.get("/admin/no/such/page/")
    assert status_of(r) == 404 and no_traceback(r)
    r = Client().get("/no/such/page/")
    assert status_of(r) == 404 and no_traceback(r)


# -- through the served ASGI application (exchange_site/guard.py) --------------------------------
def signed_headers(api, method, path, body=b""):
    h = api.headers(method, path, body)
    return [(b"x-api-key", h["HTTP_X_API_KEY"].encode()), (b"x-api-timestamp", h["HTTP_X_API_TIMESTAMP"].encode()),
            (b"x-api-signature", h["HTTP_X_API_SIGNATURE"].encode()), (b"content-type", b"application/json")]


@pytest.mark.django_db(transaction=True)
async def test_oversized_body_refused_before_it_is_read_or_authenticated(debug, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    ts = "1"
    headers = [(b"x-api-key", b"0" * 32), (b"x-api-timestamp", ts.encode()),
               (b"x-api-signature", sign("x", ts, "POST", "/api/v1/orders/").encode()),
               (b"content-type", b"application/json")]
    # declared: refused from Content-Length, nothing of the body read
    chunks = [b"[" + b" " * 1_000_000] + [b" " * 1_000_000] * 3 + [b"]"]
    r = await http(asgi.application, "POST", "/api/v1/orders/", chunks=chunks, headers=headers + [
        (b"content-length", str(sum(map(len, chunks))).encode())])
    assert r.status == 413 and r.chunks_read == 0
    assert r.json() == {"error": {"type": "request_too_large", "message": "Request body larger than 2621440 bytes."}}
    # streamed without a length: refused as soon as it passes the limit (not 401: no key lookup)
    r = await http(asgi.application, "POST", "/api/v1/orders/", chunks=chunks, headers=headers)
    assert r.status == 413 and r.chunks_read == 3
    assert r.json()["error"]["type"] == "request_too_large"
    assert [m["type"] for m in r.messages] == ["http.response.start", "http.response.body"]
    # at the limit: read, then refused by authentication (401), as any bad key
    exact = [b"[" + b" " * (2_621_440 - 2) + b"]"]
    r = await http(asgi.application, "POST", "/api/v1/orders/", chunks=exact, headers=headers)
    assert r.status == 401 and r.json()["error"]["type"] == "authentication_failed"
    # admin too (plain page)
    r = await http(asgi.application, "POST", "/admin/login/", chunks=chunks)
    assert r.status == 413 and b"Traceback" not in r.body


@pytest.mark.django_db(transaction=True)
async def test_too_many_query_fields_on_any_path(debug):
    query = "&".join(f"p{i}=1" for i in range(1001)).encode()
    for path in ("/", "/admin/login/", "/api/v1/markets/", "/api/docs/", "/static/x.css"):
        r = await http(asgi.application, "GET", path, query=query)
        assert r.status == 400, (path, r)
        assert b"Traceback" not in r.body
        if path.startswith("/api/"):
            assert r.json()["error"]["type"] == "too_many_fields"
    r = await http(asgi.application, "GET", "/api/v1/markets/", query=b"&".join([b"a=1"] * 1000))
    assert r.status == 200


def test_api_path_without_trailing_slash(debug, engine, alice_api):
    r = alice_api.post("/api/v1/orders", GOOD)
    assert status_of(r) == 404
    assert "/api/v1/orders/" in assert_json_error(r, 404, "not_found")["message"]
    r = Client().get("/api/v1/markets")  # GET: redirected, as Django does
    assert status_of(r) == 301 and r["Location"] == "/api/v1/markets/"
