"""exchange_site.asgi.application's outer layer (exchange_site/guard.py): Host validated as
Django does on every HTTP request and websocket handshake, before anything runs (DNS
rebinding), and the size limits of requests served by Django."""
from __future__ import annotations

import orjson
import pytest

from exchange_site import asgi
from exchange_site.guard import HostCheck, SiteGuard
from tests.apps.trading.util import MatcherThread
from tests.asgi_call import http, websocket

ATTACKER = b"attacker.example:8000"


@pytest.fixture
def matcher(settings):
    m = MatcherThread().start()
    settings.MATCHER_RPC_PORT = m.port  # the served app's matcher client (one per event loop)
    yield m
    m.stop()


async def rpc(method, params, **kwargs):
    return await http(asgi.application, "POST", "/", body={"method": method, "params": params, "id": 1}, **kwargs)


async def test_dns_rebinding_post_reaches_nothing(matcher, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
    # a page on attacker.example re-resolved to 127.0.0.1: same-origin, simple request
    r = await rpc("balance.update", [1, "USDT", "deposit", 1, "100", {}], host=ATTACKER,
                  headers=[(b"origin", b"http://attacker.example:8000"), (b"content-type", b"text/plain")])
    assert (r.status, r.body) == (400, b"")
    r = await rpc("balance.query", [1, "USDT"])
    assert r.status == 200
    assert r.json()["result"] == {"USDT": {"available": "0", "freeze": "0"}}  # nothing was applied
    # the same request with the site's own Host works (control)
    r = await rpc("balance.update", [1, "USDT", "deposit", 1, "100", {}])
    assert r.json()["result"] == {"status": "success"}


@pytest.mark.parametrize(("host", "allowed"), [
    (b"127.0.0.1:8000", True),
    (b"127.0.0.1", True),
    (b"localhost:8000", True),
    (b"LOCALHOST:8000", True),
    (b"localhost.:8000", True),  # trailing dot, as Django
    (b"[::1]:8000", True),
    (b"www.example.com", True),  # ".example.com" wildcard
    (b"example.com", True),
    (b"attacker.example:8000", False),
    (b"127.0.0.1.attacker.example", False),
    (b"127.0.0.1:8000,127.0.0.1", False),
    (b"127.0.0.1:abc", False),
    (b"", False),
    (None, True),  # no Host (HTTP/1.0): the server's address, as Django
])
async def test_host_rules_are_djangos(settings, host, allowed):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", ".example.com"]
    guard = SiteGuard(_ok)
    r = await http(guard, "GET", "/admin/", host=host)
    assert (r.status == 200) is allowed
    if not allowed:
        assert r.status == 400 and b"Traceback" not in r.body
    r = await http(guard, "GET", "/api/v1/markets/", host=host)
    if not allowed:
        assert r.status == 400 and r.content_type == "application/json"
        assert r.json() == {"error": {"type": "disallowed_host", "message": "Host not allowed."}}


async def test_debug_localhost_rule_and_cache_follows_settings(settings):
    check = HostCheck()
    settings.ALLOWED_HOSTS = []
    settings.DEBUG = True
    assert check.allowed("foo.localhost:8000") and check.allowed("[::1]")
    assert not check.allowed("attacker.example")
    settings.DEBUG = False
    assert not check.allowed("foo.localhost:8000")
    settings.ALLOWED_HOSTS = ["*"]
    assert check.allowed("attacker.example")


async def test_every_path_and_the_websocket_handshake(settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    for method, path in [("GET", "/"), ("HEAD", "/"), ("GET", "/admin/login/"), ("GET", "/api/v1/markets/"),
                         ("POST", "/api/v1/orders/"), ("GET", "/static/admin/css/base.css"),
                         ("GET", "/no/such/path"), ("PUT", "/")]:
        r = await http(asgi.application, method, path, host=ATTACKER)
        assert r.status == 400, (method, path, r)
        assert b"Traceback" not in r.body and b"ALLOWED_HOSTS" not in r.body
    # websocket: refused with a 400 when the server can send one, else closed before accept
    sent = await websocket(asgi.application, host=ATTACKER, extensions={"websocket.http.response": {}})
    assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 400
    sent = await websocket(asgi.application, host=ATTACKER)
    assert [m["type"] for m in sent] == ["websocket.close"]
    sent = await websocket(SiteGuard(_ws_accept), host=b"127.0.0.1:8000")
    assert sent[0]["type"] == "websocket.accept"


async def _ok(scope, receive, send):
    body = orjson.dumps({"ok": True})
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def _ws_accept(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept"})
