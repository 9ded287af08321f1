"""A signature is accepted at most once, also across a restart of the Redis that keeps the
replay marks: the embedded Redis of `make run` (exchange_site.devrun.redis_command) writes
every mark to its append-only file, fsynced, before it answers (issue 17 item 6)."""
import shlex
import signal
import subprocess
import time

import pytest
import redis
from django.test import Client

from exchange_site import devrun
from tests.services import free_port

pytestmark = pytest.mark.django_db

PATH = "/api/v1/balances/"


class PrivateRedis:
    """A redis-server on a free port, started exactly as `make run` starts its own."""

    def __init__(self, directory):
        self.port = free_port()
        binary, _ = devrun._redis_server_binary()
        self.argv = shlex.split(devrun.redis_command(binary, self.port, directory))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_timeout=2)
        deadline = time.monotonic() + 30
        while True:  # up and done loading its append-only file
            try:
                if client.ping():
                    return client
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def crash(self):
        self.proc.send_signal(signal.SIGKILL)  # no shutdown save: only what was fsynced survives
        self.proc.wait()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    yield server
    if server.proc and server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait()


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
