"""Another user's order and an order id that does not exist are indistinguishable on every
REST path that takes an order id: same status, byte-identical body, and the same work done
(matcher round trips and database queries), so neither the answer nor its timing class tells
whether the id exists (issue 17 item 4)."""
import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from .conftest import fund
from .test_orders import _history_rows

MISSING_FINISHED = 999


def _probe(engine, api, method, path):
    api.get("/api/v1/balances/")  # warm per-key caches so that both probes start alike
    calls = len(engine.calls)
    with CaptureQueriesContext(connections["default"]) as queries:
        r = getattr(api, method)(path)
    return r.status_code, r.content, len(engine.calls) - calls, len(queries)


def _paths(oid):
    return [
        ("get", f"/api/v1/orders/{oid}/"),
        ("get", f"/api/v1/orders/{oid}/?market=BTCUSDT"),
        ("delete", f"/api/v1/orders/{oid}/"),
        ("delete", f"/api/v1/orders/{oid}/?market=BTCUSDT"),
        ("get", f"/api/v1/orders/{oid}/deals/"),
    ]


@pytest.mark.parametrize("index", range(5))
def test_another_users_open_order_answers_like_a_missing_id(engine, alice_api, bob_api, index):
    fund(engine, alice_api.user, "USDT", "10000")
    oid = alice_api.post("/api/v1/orders/", {"market": "BTCUSDT", "side": "buy", "amount": "0.1",
                                             "price": "100"}).json()["id"]
    missing = oid + 5  # never placed, same number of digits
    assert len(str(missing)) == len(str(oid))
    method, path = _paths(oid)[index]
    _, missing_path = _paths(missing)[index]
    assert _probe(engine, bob_api, method, path) == _probe(engine, bob_api, method, missing_path)
    assert alice_api.get(f"/api/v1/orders/{oid}/").json()["status"] == "open"


@pytest.mark.parametrize("index", range(5))
def test_another_users_finished_order_answers_like_a_missing_id(engine, alice_api, bob_api, index):
    _history_rows(alice_api.user, bob_api.user)  # alice's finished order 900, with deals
    method, path = _paths(900)[index]
    _, missing_path = _paths(MISSING_FINISHED)[index]
    assert _probe(engine, bob_api, method, path) == _probe(engine, bob_api, method, missing_path)
