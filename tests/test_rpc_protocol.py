"""exchange_site/rpc_protocol.py: the JSON-RPC hot path inside the HTTP protocol `make run`
uses answers exactly what the ASGI chain answers (plain uvicorn + httptools), byte for
byte but the date, including every refusal; pipelined requests keep their order; idle
keep-alive connections are closed; a matcher that does not answer gives 504."""
from __future__ import annotations

import os
import shlex
import socket
import subprocess
import threading
import time
from pathlib import Path

import orjson
import pytest

from exchange_site import devrun
from tests.apps.trading.util import MatcherThread
from tests.backing import free_port, wait_port

ROOT = Path(__file__).resolve().parent.parent
ASGI_CHAIN = "httptools"  # uvicorn's own protocol: every request through exchange_site.asgi


def start(port: int, matcher_port: int, http: str | None = None, extra: str = "", **env_vars):
    command = devrun.web_command(port) + extra
    if http is not None:
        command = command.replace("--http exchange_site.rpc_protocol:RpcHttpProtocol", f"--http {http}")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="exchange_site.settings", PYTHONPATH=str(ROOT),
               DEBUG="false", LOG_LEVEL="WARNING", MATCHER_RPC_PORT=str(matcher_port))
    env.update(env_vars)
    proc = subprocess.Popen(shlex.split(command), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_port("127.0.0.1", port, timeout=60)
    except Exception:
        proc.kill()
        raise RuntimeError(proc.stderr.read().decode()[-3000:])
    return proc


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def request(body: bytes, *, host: bytes = b"127.0.0.1", extra: bytes = b"", verb: bytes = b"POST") -> bytes:
    return (verb + b" / HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n" % len(body) + extra + b"\r\n" + body)


def read_responses(sock: socket.socket, count: int) -> list[tuple[bytes, bytes]]:
    """(head without the date line, body) of ``count`` responses (content-length framed)."""
    data = b""
    out = []
    while len(out) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(out)} responses"
            data += chunk
        head, data = data.split(b"\r\n\r\n", 1)
        length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
        while len(data) < length:
            chunk = sock.recv(65536)
            assert chunk
            data += chunk
        body, data = data[:length], data[length:]
        lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"date:")]
        out.append((b"\r\n".join(lines), body))
    return out


def exchange(port: int, raw: bytes, count: int = 1) -> list[tuple[bytes, bytes]]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        return read_responses(sock, count)


def call(method, params, rid=1, **kw) -> bytes:
    return request(orjson.dumps({"method": method, "params": params, "id": rid}), **kw)


# one request each, answered on a fresh connection (some are refusals that end it)
CASES = {
    "result, 64-bit id": call("asset.list", [], rid=2**63 - 1),
    "application error": call("balance.query", [1, "NOPE"], rid=7),
    "exponent and extra decimals": call("order.put_limit", [1, "BTCUSDT", 2, "1e-2", "8000.123456789",
                                                            "0.002", "0.001", "x"], rid=8),
    "NaN": call("balance.update", [1, "USDT", "deposit", 77, "NaN", {}], rid=9),
    "unknown method": call("no.such", [], rid=3),
    "configuration method": call("asset.put", [], rid=3),
    "history method": call("order.finished", [1, "BTCUSDT", 0, 0, 0, 10, 0], rid=4),
    "batch": request(orjson.dumps([{"method": "asset.list", "params": [], "id": 1},
                                   {"method": "no.such", "params": [], "id": 2}])),
    "malformed": request(b"{bad"),
    "id not an integer": call("asset.list", [], rid="1"),
    "id beyond 64 bits": request(b'{"method":"asset.list","params":[],"id":18446744073709551616}'),
    "empty body": request(b""),
    "too large": request(b"[" + b" " * 5000 + b"]"),
    "Host refused": call("asset.list", [], host=b"evil.example"),
    "cross-site": call("asset.list", [], extra=b"Sec-Fetch-Site: cross-site\r\n"),
    "Origin of another site": call("asset.list", [], extra=b"Origin: https://evil.example\r\n"),
    "X-Forwarded-For from a peer not a trusted proxy": call("asset.list", [], extra=b"X-Forwarded-For: 127.0.0.1\r\n"),
    "X-Real-IP from a peer not a trusted proxy": call("asset.list", [], extra=b"X-Real-IP: 127.0.0.1\r\n"),
    "PUT": call("asset.list", [], verb=b"PUT"),
}


@pytest.fixture(scope="module")
def matcher():
    m = MatcherThread().start()
    yield m
    m.stop()


@pytest.fixture(scope="module")
def servers(matcher):
    """(hot path, ASGI chain) ports; small body limit to test it cheaply."""
    ports = free_port(), free_port()
    procs = [start(ports[0], matcher.port, JSONRPC_MAX_BODY="4096", LOG_LEVEL="CRITICAL"),
             start(ports[1], matcher.port, http=ASGI_CHAIN, JSONRPC_MAX_BODY="4096", LOG_LEVEL="CRITICAL")]
    yield ports
    for proc in procs:
        stop(proc)


@pytest.mark.parametrize("case", list(CASES))
def test_same_reply_as_the_asgi_chain(servers, case):
    hot, chain = (exchange(port, CASES[case])[0] for port in servers)
    assert hot == chain
    head, body = hot
    status = int(head.split(b" ", 2)[1])
    expected = {"result, 64-bit id": 200, "unknown method": 404, "configuration method": 404,
                "malformed": 400, "empty body": 400, "too large": 400, "Host refused": 400,
                "cross-site": 403, "Origin of another site": 403, "PUT": 400,
                "X-Forwarded-For from a peer not a trusted proxy": 403,
                "X-Real-IP from a peer not a trusted proxy": 403,
                "id not an integer": 400, "id beyond 64 bits": 400}.get(case, 200)
    assert status == expected, (case, head, body)
    if case == "result, 64-bit id":
        assert body.endswith(b',"id":9223372036854775807}') and body.startswith(b'{"error":null,"result":')
    if case == "NaN":
        assert orjson.loads(body)["error"]["code"] == 1
    if status >= 400 and case not in ("unknown method", "configuration method"):
        assert body == b""


def test_pipelined_requests_answered_in_order(servers):
    port = servers[0]
    raw = (call("asset.list", [], rid=1) + call("no.such", [], rid=2) + request(b"{bad")
           + call("balance.query", [1, "BTC"], rid=4) + call("asset.list", [], rid=5, verb=b"PUT")  # ASGI chain
           + call("asset.list", [], rid=6))
    replies = exchange(port, raw, 6)
    ids = [orjson.loads(body).get("id") if body.startswith(b'{"error"') else None for _, body in replies]
    assert ids == [1, 2, None, 4, None, 6]
    assert [int(head.split(b" ", 2)[1]) for head, _ in replies] == [200, 404, 400, 200, 400, 200]


def test_idle_keep_alive_connection_closed(matcher):
    port = free_port()
    proc = start(port, matcher.port, extra=" --timeout-keep-alive 1")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for rid in range(3):  # busy: stays open past the idle limit
                time.sleep(0.6)
                sock.sendall(call("asset.list", [], rid=rid))
                read_responses(sock, 1)
            started = time.monotonic()
            assert sock.recv(100) == b""  # then closed by the server once idle for 1 s
            assert 0.7 < time.monotonic() - started < 3
    finally:
        stop(proc)


def test_matcher_silent_gives_504():
    """A matcher that accepts the connection and never answers: 504, code 5, the id echoed."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    port = free_port()
    proc = start(port, listener.getsockname()[1], MATCHER_RPC_TIMEOUT="0.3")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(call("order.put_limit", [1, "BTCUSDT", 2, "1", "1", "0", "0", "x"], rid=42))
            ((head, body),) = read_responses(sock, 1)
            assert head.startswith(b"HTTP/1.1 504 ")
            assert orjson.loads(body) == {"error": {"code": 5, "message": "service timeout"}, "result": None, "id": 42}
            assert time.monotonic() - started < 2
    finally:
        stop(proc)
        listener.close()


def test_broken_setting_500_without_traceback(matcher):
    """JSONRPC_REQUIRE_TOKEN without a token: the endpoint refuses to configure itself."""
    port = free_port()
    proc = start(port, matcher.port, JSONRPC_REQUIRE_TOKEN="true", JSONRPC_SERVICE_TOKEN="", LOG_LEVEL="CRITICAL")
    try:
        ((head, body),) = exchange(port, call("asset.list", []))
        assert head.startswith(b"HTTP/1.1 500 ") and body == b""
    finally:
        stop(proc)
