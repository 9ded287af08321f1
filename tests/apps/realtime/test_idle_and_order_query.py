"""websocket.md §1 and §3 over the real server: an idle connection is closed after
REALTIME_KEEP_ALIVE s without a client frame (tiny values here), one that sends
server.ping stays; order.query checks the matcher connection before auth."""
import time

import pytest
from websockets.exceptions import ConnectionClosed

from tests.apps.realtime.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_idle_connections_are_closed_and_pinging_ones_stay(make_stack):
    stack = make_stack(bridge=False, REALTIME_KEEP_ALIVE="1", REALTIME_IDLE_CHECK_INTERVAL="0.2")
    pinging, idle = stack.ws(), stack.ws()
    assert idle.ok("server.ping", []) == "pong"
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        assert pinging.ok("server.ping", []) == "pong"
        time.sleep(0.3)
    with pytest.raises(ConnectionClosed) as closed:
        idle.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    assert pinging.ok("server.ping", []) == "pong"  # still open after > 2 s
    pinging.close()


def test_order_query_checks_the_matcher_before_auth(make_stack):
    stack = make_stack(bridge=False)
    ws = stack.ws()
    assert ws.request("order.query", ["BTCUSDT", 0, 10])["error"] == {"code": 6, "message": "require authentication"}
    stack.matcher.stop(timeout=10)
    # the matcher is down: code 2 before auth (and before the params are looked at)
    wait_for(lambda: ws.request("order.query", ["BTCUSDT", 0, 10])["error"]["code"] == 2,
             what="code 2 with the matcher down")
    assert ws.request("order.query", [])["error"]["code"] == 2
    assert ws.request("asset.query", [])["error"]["code"] == 6  # other private methods: auth first
    ws.close()
