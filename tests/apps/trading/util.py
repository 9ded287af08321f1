"""Helpers of the access-layer tests: an in-test matcher (the real Engine behind the real
RPC server, in a background thread) and a minimal ASGI HTTP caller."""
from __future__ import annotations

import asyncio
import threading

import orjson

from matcher.server import serve
from matcher.standin import EngineService as _EngineService

#: the spec's example time (http-jsonrpc.md §3): 1602599518.243492
FIXED_TIME_US = 1_602_599_518_243_492


class EngineService(_EngineService):
    """matcher.standin.EngineService with the spec's example time as its default clock."""

    def __init__(self, clock=lambda: FIXED_TIME_US):
        super().__init__(clock=clock)


class MatcherThread:
    """serve(EngineService) on a free loopback port in its own thread and event loop."""

    def __init__(self, service=None):
        self.service = service or EngineService()
        self.loop = asyncio.new_event_loop()
        self.port = None
        self._task = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self, port: int = 0) -> "MatcherThread":
        self._thread.start()

        async def boot():
            ready = asyncio.get_running_loop().create_future()
            self._task = asyncio.ensure_future(serve(self.service, "127.0.0.1", port, ready=ready))
            return await ready

        _, self.port = asyncio.run_coroutine_threadsafe(boot(), self.loop).result(5)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def halt():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

        asyncio.run_coroutine_threadsafe(halt(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return orjson.loads(self.body)

    def header(self, name: bytes):
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def __repr__(self):
        return f"Response({self.status}, {self.body[:200]!r})"


async def asgi_request(app, body=b"", *, method="POST", path="/", headers=(), client=("127.0.0.1", 50000),
                       chunks=None) -> Response:
    """Drive one HTTP request through an ASGI app. ``body`` may be bytes or a JSON-able
    object; ``chunks`` sends the body in several http.request messages."""
    if not isinstance(body, (bytes, bytearray)):
        body = orjson.dumps(body)
    parts = list(chunks) if chunks is not None else [body]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"127.0.0.1:8000"), *headers], "client": client,
        "server": ("127.0.0.1", 8000),
    }
    queue = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]
    sent = []

    async def receive():
        if queue:
            return queue.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body_out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Response(start["status"], start.get("headers", []), body_out)
