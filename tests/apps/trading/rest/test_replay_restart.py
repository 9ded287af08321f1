"""A signature is accepted at most once, also across a restart of the Redis that keeps the
replay marks: the embedded Redis of `make run` (exchange_site.devrun.redis_command) writes
every mark to its append-only file, fsynced, before it answers (issue 17 item 6)."""

import pytest
from django.test import Client

from tests.backing import PrivateRedis

pytestmark = pytest.mark.django_db

PATH = "/api/v1/balances/"


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    yield server
    server.stop()


def test_replay_refused_after_the_redis_restarts(engine, alice_api, private_redis, settings):
    client = private_redis.start()
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "always"}
    settings.CACHES = {**settings.CACHES, "api": {**settings.CACHES["api"], "LOCATION": private_redis.url}}

    headers = alice_api.headers("GET", PATH)
    assert Client().get(PATH, **headers).status_code == 200

    private_redis.crash()
    private_redis.start()
    settings.CACHES = {**settings.CACHES}  # fresh cache connections to the restarted server

    r = Client().get(PATH, **headers)
    assert r.status_code == 401 and "replayed" in r.json()["error"]["message"]
