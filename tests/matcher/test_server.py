"""matcher/server.py transport + apps/trading/client.py, against a small in-test service."""
from __future__ import annotations

import asyncio
import struct
import time

import orjson
import pytest

from apps.trading.client import MatcherClient, MatcherTimeout, MatcherUnavailable, SyncMatcherClient
from apps.wire.errors import RpcError
from matcher.server import serve
from tests.backing import free_port


class EchoService:
    """Answers immediately; "sleep" waits params[0] seconds; "stall" blocks the whole event
    loop params[0] seconds (as a long GC pause would); "boom" raises."""

    def __init__(self):
        self.calls = []

    async def call(self, method, params):
        self.calls.append((method, params))
        if method == "sleep":
            await asyncio.sleep(params[0])
            return {"error": None, "result": params[0]}
        if method == "stall":
            time.sleep(params[0])
            return {"error": None, "result": params[0]}
        if method == "boom":
            raise RuntimeError("boom")
        if method == "fail":
            return {"error": {"code": 10, "message": "balance not enough"}, "result": None}
        return {"error": None, "result": {"method": method, "params": params}}


async def start(service, **kwargs):
    ready = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(service, "127.0.0.1", 0, ready=ready, **kwargs))
    host, port = await asyncio.wait_for(ready, 5)
    return task, port


async def stop(task):
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def frame(obj) -> bytes:
    body = obj if isinstance(obj, bytes) else orjson.dumps(obj)
    return struct.pack(">I", len(body)) + body


async def read_frame(reader):
    (size,) = struct.unpack(">I", await reader.readexactly(4))
    return orjson.loads(await reader.readexactly(size))


async def test_pipelined_replies_out_of_order_matched_by_id():
    task, port = await start(EchoService())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(frame({"id": 1, "method": "sleep", "params": [0.2]}) + frame({"id": 2, "method": "x", "params": [7]}))
        await writer.drain()
        first = await read_frame(reader)
        second = await read_frame(reader)
        assert first == {"id": 2, "error": None, "result": {"method": "x", "params": [7]}}
        assert second == {"id": 1, "error": None, "result": 0.2}
        writer.close()
    finally:
        await stop(task)


async def test_bad_frames_error_reply_connection_stays_open():
    task, port = await start(EchoService())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        cases = [
            (b"not json", None, "frame"),
            (b"[1,2]", None, "frame"),
            (b'{"id":"7","method":"x","params":[]}', None, "id"),
            (b'{"id":7,"method":5,"params":[]}', 7, "method"),
            (b'{"id":8,"method":"x","params":{}}', 8, "params"),
        ]
        for body, rid, param in cases:
            writer.write(frame(body))
            reply = await read_frame(reader)
            assert reply["id"] == rid
            assert reply["result"] is None
            assert reply["error"]["code"] == 1 and reply["error"]["data"]["param"] == param
        writer.write(frame({"id": 2**63 - 1, "method": "ok", "params": []}))
        assert (await read_frame(reader))["id"] == 2**63 - 1
        writer.close()
    finally:
        await stop(task)


async def test_oversized_frame_closes_connection():
    task, port = await start(EchoService(), max_frame=1000)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(frame({"id": 1, "method": "ok", "params": []}) + struct.pack(">I", 10_000) + b"x" * 100)
        await writer.drain()
        assert (await read_frame(reader))["id"] == 1  # the reply already due still comes
        assert await asyncio.wait_for(reader.read(), 5) == b""  # then EOF
        writer.close()
    finally:
        await stop(task)


async def test_service_exception_is_internal_error():
    task, port = await start(EchoService())
    client = MatcherClient("127.0.0.1", port, timeout=2)
    try:
        reply = await client.request("boom", [])
        assert reply["error"] == {"code": 2, "message": "internal error"}
        with pytest.raises(RpcError) as info:
            await client.call("fail", [])
        assert info.value.code == 10 and info.value.message == "balance not enough"
    finally:
        await client.close()
        await stop(task)


async def test_client_many_concurrent_requests_pooled():
    service = EchoService()
    task, port = await start(service)
    client = MatcherClient("127.0.0.1", port, timeout=60, pool_size=3, connect_timeout=30)  # generous: a loaded box
    try:
        results = await asyncio.gather(*(client.call("x", [i]) for i in range(5000)))
        assert [r["params"][0] for r in results] == list(range(5000))
        replies = await client.request_many([("x", [i]) for i in range(100)])
        assert [r["result"]["params"][0] for r in replies] == list(range(100))
        # request_many keeps the order on the wire
        assert [p[0] for m, p in service.calls[-100:]] == list(range(100))
    finally:
        await client.close()
        await stop(task)


async def test_client_timeout_is_code_5_and_late_reply_ignored():
    task, port = await start(EchoService())
    client = MatcherClient("127.0.0.1", port, timeout=0.1)
    try:
        with pytest.raises(MatcherTimeout) as info:
            await client.call("sleep", [0.3])
        assert info.value.code == 5 and info.value.message == "service timeout"
        await asyncio.sleep(0.4)  # the late reply arrives and is dropped
        assert (await client.call("x", [1]))["params"] == [1]
    finally:
        await client.close()
        await stop(task)


async def test_request_past_its_deadline_never_reaches_the_service():
    service = EchoService()
    task, port = await start(service)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(frame({"id": 1, "method": "late", "params": [], "deadline": time.time() - 0.01})
                     + frame({"id": 2, "method": "on_time", "params": [], "deadline": time.time() + 5})
                     + frame({"id": 3, "method": "no_deadline", "params": []})
                     + frame({"id": 4, "method": "bad", "params": [], "deadline": "soon"}))
        await writer.drain()
        replies = {r["id"]: r for r in [await read_frame(reader) for _ in range(4)]}
        assert replies[1]["error"]["code"] == 5 and replies[1]["error"]["message"] == "service timeout"
        assert replies[2]["error"] is None and replies[3]["error"] is None
        assert replies[4]["error"]["data"]["param"] == "deadline"
        assert [m for m, _ in service.calls] == ["on_time", "no_deadline"]
        writer.close()
    finally:
        await stop(task)


async def test_client_timeout_means_not_started_when_the_matcher_stalled():
    """A request queued behind a stall is answered code 5 and is not applied later."""
    service = EchoService()
    task, port = await start(service)
    client = MatcherClient("127.0.0.1", port, timeout=2.0, pool_size=1)
    try:
        await client.call("warm", [])
        stall = asyncio.create_task(client.call("stall", [0.5]))
        await asyncio.sleep(0)  # the stall is queued first; both go out in one write
        with pytest.raises(MatcherTimeout):
            await client.call("deposit", [1], timeout=0.2)
        assert await stall == 0.5
        await asyncio.sleep(0.1)
        assert [m for m, _ in service.calls] == ["warm", "stall"]  # the deposit never ran
    finally:
        await client.close()
        await stop(task)


async def until_answered(client, method, params, timeout=30.0):
    """The client's answer once the server is reachable again (it refuses with code 3 while
    it is not, for retry_interval after each failed connect): waits, with a generous deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await client.call(method, params)
        except MatcherUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)


async def test_client_not_connected_then_reconnects():
    port = free_port()
    client = MatcherClient("127.0.0.1", port, timeout=1, retry_interval=0.05)
    with pytest.raises(MatcherUnavailable) as info:
        await client.call("x", [])
    assert info.value.code == 3
    service = EchoService()
    task, _ = await _start_on(service, port)
    try:
        assert (await until_answered(client, "x", [1]))["params"] == [1]
        # server goes away with a request in flight → timeout semantics (may have applied)
        pending = asyncio.ensure_future(client.call("sleep", [5]))
        deadline = time.monotonic() + 30
        while ("sleep", [5]) not in service.calls:  # the request reached the server
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        await stop(task)
        with pytest.raises(MatcherTimeout):
            await pending
        with pytest.raises(MatcherUnavailable):
            await client.call("x", [])
        service = EchoService()
        task, _ = await _start_on(service, port)
        assert (await until_answered(client, "x", [2]))["params"] == [2]
        assert service.calls == [("x", [2])]
    finally:
        await client.close()
        if not task.done():
            await stop(task)


async def _start_on(service, port):
    ready = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(service, "127.0.0.1", port, ready=ready))
    await asyncio.wait_for(ready, 5)
    return task, port


async def test_sync_client_from_threads():
    task, port = await start(EchoService())
    sync = SyncMatcherClient("127.0.0.1", port, timeout=2)
    try:
        results = await asyncio.gather(
            *(asyncio.to_thread(sync.call, "x", [i]) for i in range(20))
        )
        assert [r["params"] for r in results] == [[i] for i in range(20)]
        with pytest.raises(RpcError) as info:
            await asyncio.to_thread(sync.call, "fail", [])
        assert info.value.code == 10
    finally:
        await asyncio.to_thread(sync.close)
        await stop(task)


# -- shared secret (issue 17 item 9; docs/operations.md) ------------------------------------
SECRET = "correct horse battery staple"


async def test_right_secret_works():
    service = EchoService()
    task, port = await start(service, secret=SECRET)
    client = MatcherClient("127.0.0.1", port, timeout=5, pool_size=2, connect_timeout=5, secret=SECRET)
    try:
        results = await asyncio.gather(*(client.call("x", [i]) for i in range(50)))
        assert [r["params"] for r in results] == [[i] for i in range(50)]
    finally:
        await client.close()
        await stop(task)


# a wrong secret: the handshake fails (matcher unavailable); none: the challenge answers
# nothing, so the request never gets a reply
@pytest.mark.parametrize("secret, refusal", [("guess", MatcherUnavailable), ("", RpcError)], ids=["wrong", "none"])
async def test_a_client_without_the_secret_is_refused_and_nothing_runs(secret, refusal):
    service = EchoService()
    task, port = await start(service, secret=SECRET)
    client = MatcherClient("127.0.0.1", port, timeout=2, connect_timeout=2, secret=secret)
    try:
        with pytest.raises(refusal):
            await client.call("x", [1])
        assert service.calls == []
    finally:
        await client.close()
        await stop(task)


@pytest.mark.parametrize("first", [
    frame({"id": 1, "method": "x", "params": [1]}),  # no handshake at all
    frame({"auth": "00" * 32}) + frame({"id": 1, "method": "x", "params": [1]}),  # wrong proof, pipelined request
    frame(b"not json") + frame({"id": 1, "method": "x", "params": [1]}),
])
async def test_raw_connection_must_authenticate_first(first):
    service = EchoService()
    task, port = await start(service, secret=SECRET)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        challenge = await read_frame(reader)
        assert challenge["auth"] == "hmac-sha256" and len(bytes.fromhex(challenge["nonce"])) == 32
        writer.write(first)
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, no reply
        writer.close()
        assert service.calls == []
    finally:
        await stop(task)


async def test_raw_connection_with_the_right_proof():
    from matcher.frames import auth_proof

    service = EchoService()
    task, port = await start(service, secret=SECRET)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        challenge = await read_frame(reader)
        writer.write(frame({"auth": auth_proof(SECRET, challenge["nonce"])}) + frame({"id": 7, "method": "x",
                                                                                      "params": [1]}))
        assert await read_frame(reader) == {"auth": "ok"}
        assert (await read_frame(reader))["id"] == 7
        writer.close()
    finally:
        await stop(task)


async def test_non_loopback_bind_needs_a_secret():
    from matcher.server import InsecureBind

    for host in ("0.0.0.0", ""):
        with pytest.raises(InsecureBind):
            await serve(EchoService(), host, 0)
    ready = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(EchoService(), "0.0.0.0", 0, ready=ready, secret=SECRET))
    await asyncio.wait_for(ready, 5)
    await stop(task)


def test_matcher_process_refuses_a_public_address_without_a_secret():
    import os
    import subprocess
    import sys

    env = {**os.environ, "MATCHER_RPC_HOST": "0.0.0.0", "MATCHER_RPC_SECRET": "", "ALERTS_ENABLED": "0"}
    out = subprocess.run([sys.executable, "-m", "matcher"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "MATCHER_RPC_SECRET" in out.stdout + out.stderr
