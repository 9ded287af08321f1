"""Drive one request through an ASGI application with full control of the scope (Host,
query string, chunks) — for the tests of exchange_site.asgi's outer layers."""
from __future__ import annotations

import asyncio

import orjson


class Reply:
    def __init__(self, status, headers, body, messages):
        self.status = status
        self.headers = {k.decode().lower(): v.decode() for k, v in headers}
        self.body = body
        self.messages = messages

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self):
        return orjson.loads(self.body)

    def __repr__(self):
        return f"Reply({self.status}, {self.content_type!r}, {self.body[:300]!r})"


async def http(app, method="GET", path="/", *, body=b"", host=b"127.0.0.1:8000", headers=(), query=b"",
               chunks=None, client=("127.0.0.1", 50000), declare_length=True) -> Reply:
    if not isinstance(body, (bytes, bytearray)):
        body = orjson.dumps(body)
    parts = list(chunks) if chunks is not None else [body]
    hdrs = [] if host is None else [(b"host", host)]
    if declare_length and chunks is None and body:
        hdrs.append((b"content-length", str(len(body)).encode()))
    hdrs.extend(headers)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
        "root_path": "", "headers": hdrs, "client": client, "server": ("127.0.0.1", 8000),
    }
    queue = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]
    state = {"read": 0}
    sent = []

    async def receive():
        if queue:
            state["read"] += 1
            return queue.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 30)
    start = next(m for m in sent if m["type"] == "http.response.start")
    out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    reply = Reply(start["status"], start.get("headers", []), out, sent)
    reply.chunks_read = state["read"]
    return reply


async def websocket(app, path="/ws", *, host=b"127.0.0.1:8000", extensions=None) -> list:
    """The messages the app sends for a websocket handshake (then a client close)."""
    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "ws",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [] if host is None else [(b"host", host)], "client": ("127.0.0.1", 50000),
             "server": ("127.0.0.1", 8000), "subprotocols": [], "extensions": extensions or {}}
    queue = [{"type": "websocket.connect"}]
    sent = []

    async def receive():
        if queue:
            return queue.pop(0)
        if sent:
            return {"type": "websocket.disconnect", "code": 1000}
        await asyncio.sleep(0.05)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message):
        sent.append(message)

    try:
        await asyncio.wait_for(app(scope, receive, send), 10)
    except Exception:  # noqa: BLE001 - routing errors after the handshake are not the point
        pass
    return sent
