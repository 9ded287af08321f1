"""exchange_site.asgi under a real HTTP server (daphne, uvicorn, `make run`'s uvicorn):
POST / reaches the JSON-RPC endpoint over keep-alive connections, everything else Django."""
from __future__ import annotations

import http.client
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from exchange_site import devrun
from tests.apps.trading.util import MatcherThread
from tests.backing import free_port, wait_port

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent

# both pinned in requirements/base.txt: a missing one fails; "makerun" = uvicorn with the
# JSON-RPC hot path in its HTTP protocol (exchange_site.devrun.web_command)
SERVERS = ["daphne", "uvicorn", "makerun"]


@pytest.fixture
def matcher():
    m = MatcherThread().start()
    yield m
    m.stop()


def start_server(kind: str, port: int, matcher_port: int) -> subprocess.Popen:
    env = dict(os.environ, MATCHER_RPC_PORT=str(matcher_port), DJANGO_SETTINGS_MODULE="exchange_site.settings",
               PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING")
    if kind == "daphne":
        cmd = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "exchange_site.asgi:application"]
    elif kind == "makerun":
        cmd = shlex.split(devrun.web_command(port))
    else:
        cmd = [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
               "exchange_site.asgi:application"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        wait_port("127.0.0.1", port, timeout=30)
    except Exception:
        proc.kill()
        raise RuntimeError(proc.stderr.read().decode()[-3000:])
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def post(conn, payload, headers=None):
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    conn.request("POST", "/", body=body, headers=headers or {})
    resp = conn.getresponse()
    return resp.status, resp.getheader("Content-Type"), resp.read()


@pytest.mark.parametrize("kind", SERVERS)
def test_real_http_server(kind, matcher):
    port = free_port()
    proc = start_server(kind, port, matcher.port)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        # keep-alive: several requests over one connection
        status, ctype, body = post(conn, {"method": "balance.update", "params": [1, "USDT", "deposit", 1, "100", {}],
                                          "id": 1602599518243})
        assert (status, ctype) == (200, "application/json")
        assert orjson.loads(body) == {"error": None, "result": {"status": "success"}, "id": 1602599518243}
        status, _, body = post(conn, {"method": "balance.query", "params": [1, "USDT"], "id": 2**63 - 1,
                                      "jsonrpc": "2.0"})
        assert status == 200
        assert body == b'{"error":null,"result":{"USDT":{"available":"100","freeze":"0"}},"id":9223372036854775807}'
        status, _, body = post(conn, {"method": "no.such", "params": [], "id": 5})
        assert status == 404 and orjson.loads(body)["error"]["code"] == 4
        status, _, body = post(conn, b"{bad")
        assert (status, body) == (400, b"")
        status, _, body = post(conn, [{"method": "asset.list", "params": [], "id": 1}] * 3)
        assert status == 200 and len(orjson.loads(body)) == 3
        status, _, body = post(conn, {"method": "asset.list", "params": [], "id": 1},
                               headers={"Origin": "https://evil.example"})
        assert (status, body) == (403, b"")
        # other methods on / are the JSON-RPC endpoint's 400; GET / goes to Django (the web UI)
        for verb in ("PUT", "DELETE", "PATCH"):
            conn.request(verb, "/", body=b'{"method":"asset.list","params":[],"id":1}')
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (400, b"")
        conn.request("GET", "/")
        resp = conn.getresponse()
        page = resp.read()
        # Django's landing page, not the JSON-RPC endpoint's empty 400
        assert resp.status == 200 and resp.getheader("Content-Type", "").startswith("text/html")
        assert b'href="/admin/"' in page
        conn.close()
        # the matcher goes away: 500 with an empty body
        matcher.stop()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        deadline = time.monotonic() + 60
        while True:
            status, _, body = post(conn, {"method": "asset.list", "params": [], "id": 1})
            if status == 500 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert (status, body) == (500, b"")
        conn.close()
    finally:
        stop_server(proc)
