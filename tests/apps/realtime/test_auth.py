"""server.auth against a configured auth URL (a small local HTTP stub: the one mock, it
stands for the operator's web backend) and against the site's own sessions; server.sign
with good, wrong, replayed and stale signatures, and with the replay store unreachable."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from apps.accounts.services import api_key_create, signature_compute
from tests.backing import free_port

pytestmark = pytest.mark.django_db(transaction=True)


class AuthStub(BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):  # noqa: N802
        token = self.headers.get("Authorization")
        AuthStub.seen.append({"path": self.path, "authorization": token,
                              "accept-language": self.headers.get("Accept-Language"),
                              "content-type": self.headers.get("Content-Type")})
        replies = {
            "Bearer good-7": {"code": 0, "message": None, "data": {"user_id": 7}},
            "good-8": {"code": 0, "message": None, "data": {"user_id": 8}},
            "refused": {"code": 3, "message": "token expired", "data": None},
            "refused-no-message": {"code": 3},
            "zero": {"code": 0, "message": None, "data": {"user_id": 0}},
            "no-data": {"code": 0, "message": None},
        }
        if token == "slow":
            time.sleep(3)
        body = b"<html>oops" if token not in replies else json.dumps(replies[token]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def auth_stub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), AuthStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    AuthStub.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/auth/check"
    server.shutdown()


def _sign(key, tonce=None, secret=None):
    tonce = tonce if tonce is not None else int(time.time() * 1000)
    sig = signature_compute(secret=secret or key.secret, message=(key.api_key.access_id + str(tonce)).encode())
    return [key.api_key.access_id, sig, tonce]


def test_auth_url_and_signatures(make_stack, auth_stub, django_user_model):
    stack = make_stack(bridge=False, REALTIME_AUTH_URL=auth_stub)
    ws = stack.ws()
    err = lambda reply: reply["error"] and (reply["error"]["code"], reply["error"]["message"])  # noqa: E731
    assert err(ws.request("server.auth", ["refused", "web"])) == (11, "token expired")
    assert err(ws.request("server.auth", ["refused-no-message", "web"]))[0] == 2
    assert err(ws.request("server.auth", ["zero", "web"]))[0] == 2
    assert err(ws.request("server.auth", ["no-data", "web"]))[0] == 2
    assert err(ws.request("server.auth", ["garbage", "web"]))[0] == 2
    assert err(ws.request("server.auth", ["slow", "web"])) == (5, "service timeout")
    assert ws.request("asset.query", [])["error"]["code"] == 6  # still not authenticated
    assert ws.ok("server.auth", ["Bearer good-7", "web"]) == {"status": "success"}
    assert AuthStub.seen[-1] == {"path": "/auth/check", "authorization": "Bearer good-7",
                                 "accept-language": "en_US", "content-type": "application/json"}
    stack.deposit(7, "BTC", "1.5")
    assert ws.ok("asset.query", ["BTC"]) == {"BTC": {"available": "1.5", "freeze": "0"}}
    assert ws.ok("server.auth", ["good-8", "app"]) == {"status": "success"}  # the last one wins
    assert ws.ok("asset.query", ["BTC"]) == {"BTC": {"available": "0", "freeze": "0"}}

    # server.sign: checked here with apps.accounts, whatever the auth URL
    user = django_user_model.objects.create_user(username="signer")
    key = api_key_create(user=user)
    other = stack.ws()
    assert err(other.request("server.sign", _sign(key, secret="0" * 64)))[0] == 11  # wrong secret
    stale = int(time.time() * 1000) - 120_000
    assert err(other.request("server.sign", _sign(key, tonce=stale))) == (11, "tonce outside the ±30 s window")
    unknown = _sign(key)
    unknown[0] = "f" * 32
    assert err(other.request("server.sign", unknown)) == (11, "unknown API key")
    good = _sign(key)
    assert other.ok("server.sign", good) == {"status": "success"}
    assert err(stack.ws().request("server.sign", good)) == (11, "tonce already used")  # replayed
    stack.deposit(user.pk, "ETH", "3")
    assert other.ok("asset.query", ["ETH"]) == {"ETH": {"available": "3", "freeze": "0"}}
    assert other.ok("server.ping", []) == "pong"


def test_session_tokens_and_replay_store_down(make_stack, django_user_model):
    dead = free_port()
    stack = make_stack(bridge=False, API_CACHE_URL=f"redis://127.0.0.1:{dead}/0")
    user = django_user_model.objects.create_user(username="webuser", password="pw-123456")
    browser = Client()
    assert browser.login(username="webuser", password="pw-123456")
    session_key = browser.cookies["sessionid"].value
    ws = stack.ws()
    assert ws.request("server.auth", ["not-a-session", "web"])["error"]["code"] == 11
    assert ws.ok("server.auth", [session_key, "web"]) == {"status": "success"}
    stack.deposit(user.pk, "USDT", "12.5")
    assert ws.ok("asset.query", ["USDT"]) == {"USDT": {"available": "12.5", "freeze": "0"}}

    # a good signature while the replay store cannot be reached: an error reply, no login, no crash
    key = api_key_create(user=user)
    other = stack.ws()
    reply = other.request("server.sign", _sign(key))
    assert reply["error"]["code"] == 2 and reply["error"]["data"] == {"reason": "replay store unavailable"}
    assert other.request("asset.query", [])["error"]["code"] == 6
    assert other.ok("server.ping", []) == "pong"
