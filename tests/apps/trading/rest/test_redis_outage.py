"""The API's Redis (replay marks of signatures, throttle counters) unreachable: REST v1
fails closed with HTTP 503 and a JSON error, logged once, and changes nothing."""
import logging

import pytest
from django.test import Client

from apps.accounts.models import ApiKey
from tests.backing import free_port

from .conftest import fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_redis(settings, api_cache):
    """Point the `api` cache at a port nothing listens on (after the autouse api_cache)."""
    caches = dict(settings.CACHES)
    caches["api"] = {**caches["api"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    settings.CACHES = caches


def _assert_503(r):
    assert r.status_code == 503, r.content
    error = r.json()["error"]
    assert error["type"] == "unavailable"
    assert "retry" in error["message"].lower()
    assert r.headers["Retry-After"] == "5"


def _outage_records(caplog):
    return [rec for rec in caplog.records if rec.levelno >= logging.WARNING
            and rec.name in ("apps.trading.rest.errors", "django.request")]


def test_signed_order_is_503_and_changes_nothing(engine, alice_api, dead_redis, caplog):
    fund(engine, alice_api.user, "USDT", "100000")
    before = engine.call("balance.query", [alice_api.user.pk])
    calls = len(engine.calls)
    caplog.set_level(logging.INFO)

    r = alice_api.post("/api/v1/orders/", {"market": "BTCUSDT", "side": "buy", "amount": "0.5", "price": "8000"})

    _assert_503(r)
    assert engine.calls[calls:] == []  # the matcher was not asked anything
    assert engine.call("balance.query", [alice_api.user.pk]) == before
    assert ApiKey.objects.get(pk=alice_api.api_key.pk).last_used is None  # not accepted
    records = _outage_records(caplog)
    assert len(records) == 1, [(rec.name, rec.getMessage()) for rec in records]
    assert records[0].levelno == logging.ERROR and "Redis" in records[0].getMessage()
    assert "POST /api/v1/orders/" in records[0].getMessage()


def test_signed_read_is_503(engine, alice_api, dead_redis):
    _assert_503(alice_api.get("/api/v1/balances/"))
    assert engine.calls == []


def test_bad_signature_is_still_401(engine, alice_api, dead_redis):
    """The signature is checked before the replay store: a forged request learns nothing new."""
    r = Client().get("/api/v1/balances/", **alice_api.headers("GET", "/api/v1/balances/", signature="0" * 64))
    assert r.status_code == 401


def test_session_and_anonymous_requests_are_503_not_unthrottled(engine, alice, dead_redis):
    """Throttle counters live in the same Redis: no request is served unthrottled."""
    _assert_503(Client().get("/api/v1/markets/"))
    c = Client()
    c.force_login(alice)
    _assert_503(c.get("/api/v1/balances/"))
    assert engine.calls == []
