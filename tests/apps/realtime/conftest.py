"""The realtime stack of `make run`, for real: uvicorn serving exchange_site.asgi
(devrun.web_command), `python -m matcher`, the market-data consumer and the realtime
bridge as child processes, on the test database (committed rows), the session's Kafka
broker (own topic prefix) and the test Redis (own key prefixes)."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from websockets.sync.client import connect

from apps.markets.services import demo_config_seed
from exchange_site import devrun
from tests.backing import free_port, until, wait_port
from tests.matcherproc import ROOT, MatcherProc, server_database_url


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict, log_dir):
        self.name, self.argv, self.env = name, argv, env
        self.log = log_dir / f"{name}.log"
        self.proc = None

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        return self

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Stack:
    def __init__(self, tmp_path, kafka, redis_url, **extra_env):
        tag = uuid.uuid4().hex[:8]
        self.prefix = f"rt{tag}."
        self.port = free_port()
        self.tmp = tmp_path
        self.redis_url = redis_url
        self.matcher = MatcherProc(server_database_url(), kafka, log_path=tmp_path / "matcher.log",
                                   MATCHER_KAFKA_TOPIC_PREFIX=self.prefix, MATCHER_CONFIG_SYNC_INTERVAL="0.5")
        self.env = dict(
            os.environ, DJANGO_SETTINGS_MODULE="exchange_site.settings", PYTHONPATH=str(ROOT),
            DATABASE_URL=server_database_url(), MATCHER_RPC_HOST="127.0.0.1", MATCHER_RPC_PORT=str(self.matcher.port),
            KAFKA_BOOTSTRAP=kafka, MATCHER_KAFKA_TOPIC_PREFIX=self.prefix, REDIS_URL=redis_url,
            MARKETDATA_KEY_PREFIX=f"test:{tag}:md:", REALTIME_KEY_PREFIX=f"test:{tag}:rt:",
            DEBUG="false", LOG_LEVEL="INFO", LOG_FORMAT="console", PYTHONUNBUFFERED="1", ALERTS_ENABLED="false",
            **{k: str(v) for k, v in extra_env.items()})
        self.web = Proc("web", shlex.split(devrun.web_command(self.port)), self.env, tmp_path)
        manage = [sys.executable, str(ROOT / "manage.py")]
        self.marketdata = Proc("marketdata", manage + ["marketdata_consumer"], self.env, tmp_path)
        self.bridge = Proc("bridge", manage + ["realtime_bridge"], self.env, tmp_path)
        self.rpc_id = 0

    def start(self, bridge=True):
        self.matcher.start(timeout=60)
        self.web.start()
        self.marketdata.start()
        if bridge:
            self.bridge.start()
        try:
            wait_port("127.0.0.1", self.port, timeout=90)
        except Exception:
            raise RuntimeError(self.web.output()[-3000:]) from None
        wait_for(lambda: len(self.rpc("market.list", [])["result"] or []) == 3, what="the market configuration")
        return self

    def stop(self):
        for proc in (self.bridge, self.marketdata, self.web):
            proc.stop()
        self.matcher.stop(timeout=10)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def ws(self, path="/ws"):
        return WsClient(connect(f"ws://127.0.0.1:{self.port}{path}", open_timeout=30, max_size=2**24))

    def rpc(self, method: str, params: list) -> dict:
        self.rpc_id += 1
        body = json.dumps({"method": method, "params": params, "id": self.rpc_id}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as response:
            return json.loads(response.read())

    def call(self, method: str, params: list):
        reply = self.rpc(method, params)
        assert reply["error"] is None, reply
        return reply["result"]

    def deposit(self, user: int, asset: str, amount: str):
        self.rpc_id += 1
        return self.call("balance.update", [user, asset, "deposit", self.rpc_id + int(time.time() * 1000),
                                            amount, {}])


class WsClient:
    def __init__(self, conn):
        self.conn = conn
        self.next_id = 0
        self.pushes: list[dict] = []

    def close(self):
        self.conn.close()

    def send_raw(self, text):
        self.conn.send(text)

    def recv(self, timeout=30.0) -> dict:
        return json.loads(self.conn.recv(timeout=timeout))

    def request(self, method: str, params: list, timeout=30.0) -> dict:
        self.next_id += 1
        rid = self.next_id
        self.conn.send(json.dumps({"method": method, "params": params, "id": rid}))
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(max(0.1, deadline - time.monotonic()))
            if msg.get("id") == rid and "result" in msg:
                return msg
            self.pushes.append(msg)

    def ok(self, method: str, params: list):
        reply = self.request(method, params)
        assert reply["error"] is None, reply
        return reply["result"]

    def wait_push(self, predicate, timeout=30.0, what="push") -> dict:
        """The first buffered or arriving push satisfying predicate (taken out of the buffer)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, msg in enumerate(self.pushes):
                if predicate(msg):
                    del self.pushes[i]
                    return msg
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; got {self.pushes[-5:]}")
            try:
                self.pushes.append(self.recv(min(remaining, 1.0)))
            except TimeoutError:
                pass

    def drain(self, seconds=0.5) -> list[dict]:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.pushes.append(self.recv(max(0.05, end - time.monotonic())))
            except TimeoutError:
                break
        out, self.pushes = self.pushes, []
        return out


def wait_for(condition, timeout=60.0, what="condition"):
    return until(condition, timeout, what, ignore=(Exception,), interval=0.1)

@pytest.fixture
def make_stack(transactional_db, kafka_broker, redis_url, tmp_path):
    demo_config_seed()
    stacks = []

    def make(bridge=True, **env):
        s = Stack(tmp_path, kafka_broker.bootstrap, redis_url, **env)
        stacks.append(s)
        try:
            return s.start(bridge=bridge)
        except Exception:
            for proc in (s.web, s.bridge, s.marketdata):
                print(proc.name, proc.output()[-3000:])
            raise

    yield make
    for s in stacks:
        s.stop()
        for proc in (s.web, s.bridge, s.marketdata):
            out = proc.output()
            if "Traceback" in out:
                print(f"--- {proc.name} ---\n{out[-4000:]}")


@pytest.fixture
def stack(make_stack):
    return make_stack()
