"""The matcher's RPC transport (docs/matcher-core.md "The edges").

One asyncio TCP server in front of a ``MatcherService``-like object (anything with
``async call(method, params) -> {"error": ..., "result": ...}``).

Wire format, both directions: frames of a 4-byte big-endian unsigned length followed by
that many bytes of JSON (orjson); the codec is matcher/frames.py.

- request  ``{"id": <int>, "method": <str>, "params": [...][, "deadline": <epoch seconds>]}``
- reply    ``{"id": <id>, "error": null | {"code", "message"[, "data"]}, "result": ...}``

Connections are persistent and pipelined: a client may send any number of requests
without waiting; each request is handed to the service as soon as its frame is complete,
in arrival order, and its reply is written when the service answers — replies may come
out of order, the client matches them by ``id``. Writes are coalesced: all replies that
become ready in one event-loop iteration go out in one ``write``; a reply with no other
request of its connection in flight is written at once.

Bad input:
- a frame longer than ``max_frame`` bytes, or a zero-length frame: the stream cannot be
  trusted any more, the connection is closed (after the replies already due are sent);
- a frame that is not JSON, not an object, or has an ill-typed ``id``/``method``/``params``:
  an error reply (code 1 ``invalid argument`` with ``data`` naming the field; ``id``
  echoed when it is an integer, else ``null``), and the connection stays open.

A request whose ``deadline`` (Unix time, set by the client to when it stops waiting) has
passed when its turn comes is answered code 5 ``service timeout`` and never reaches the
service: a request that sat in buffers or behind a stall is not applied after its caller
gave up. (One already applied when the deadline passes still is: docs/api.md "Timeouts".)

Who may connect: the server binds to loopback by default. With a shared secret
(MATCHER_RPC_SECRET) every connection must first answer the server's nonce with an HMAC
(the handshake in matcher/frames.py) or is closed with nothing executed; without one it
refuses to listen on any address that is not loopback (docs/operations.md).
"""
from __future__ import annotations

import asyncio
import logging
import time

import orjson

from apps.wire.errors import INTERNAL_ERROR as _INTERNAL, SERVICE_TIMEOUT, error_object, invalid_argument
from matcher.frames import (
    AUTH_SCHEME, AUTH_TIMEOUT, MAX_REQUEST_FRAME, FrameReader, auth_nonce, auth_valid, encode_frame, is_loopback,
    set_nodelay,
)

logger = logging.getLogger("matcher.server")

#: largest request frame accepted (bytes of JSON)
MAX_FRAME = MAX_REQUEST_FRAME
#: requests in flight per connection before the server stops reading from it
MAX_IN_FLIGHT = 20_000

_loads = orjson.loads

INTERNAL_ERROR = error_object(_INTERNAL)
TIMEOUT_ERROR = error_object(SERVICE_TIMEOUT, data={"reason": "deadline passed before the command ran"})
_now = time.time


class InsecureBind(RuntimeError):
    """A non-loopback address without a shared secret: the server does not start."""


class _Connection(asyncio.Protocol):
    """One client connection: parses frames, starts one task per request, writes replies."""

    def __init__(self, server: "RpcServer"):
        self.server = server
        self.service = server.service
        self.transport: asyncio.Transport | None = None
        self.frames = FrameReader(server.max_frame, min_size=1)
        self.out: list[bytes] = []
        self.flush_scheduled = False
        self.in_flight = 0
        self.reading_paused = False
        self.closing = False  # no more requests are read (bad frame or peer gone)
        self.lost = False
        self.loop = asyncio.get_running_loop()
        self.tasks: set[asyncio.Task] = set()
        self.nonce: str | None = None  # set while the shared-secret handshake is pending
        self.auth_timer: asyncio.TimerHandle | None = None
        # a service with ``submit(method, params, done)`` (MatcherService) takes its mutating
        # commands without a task per request; anything else goes through ``call``
        self.submit = getattr(self.service, "submit", None)
        self.mutating = getattr(self.service, "MUTATING", frozenset())

    # -- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport):
        self.transport = transport
        self.server.connections.add(self)
        set_nodelay(transport)
        if self.server.secret:
            self.nonce = auth_nonce()
            transport.write(encode_frame({"auth": AUTH_SCHEME, "nonce": self.nonce}))
            self.auth_timer = self.loop.call_later(self.server.auth_timeout, self._refuse, "no authentication in time")

    def connection_lost(self, exc):
        self.lost = True
        self.closing = True
        self.server.connections.discard(self)
        self.out.clear()
        if self.auth_timer is not None:
            self.auth_timer.cancel()

    def data_received(self, data: bytes):
        if self.closing:
            return
        bodies, bad_size = self.frames.feed(data)
        for body in bodies:
            if self.nonce is not None:
                self._authenticate(body)
            else:
                self._dispatch(body)
            if self.closing:
                break
        if bad_size is not None and not self.closing:
            logger.warning("matcher rpc: bad frame length %d from %s; closing", bad_size, self._peer())
            self._close_after_flush()
            return
        if self.in_flight >= self.server.max_in_flight and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    # -- shared-secret handshake --------------------------------------------------------
    def _authenticate(self, body: bytes) -> None:
        """The first frame of a connection when the server has a secret: the client's proof."""
        try:
            msg = _loads(body)
        except orjson.JSONDecodeError:
            msg = None
        if type(msg) is not dict or not auth_valid(self.server.secret, self.nonce, msg.get("auth")):
            self._refuse("wrong or missing shared secret")
            return
        self.nonce = None
        self.auth_timer.cancel()
        self.auth_timer = None
        self.transport.write(encode_frame({"auth": "ok"}))

    def _refuse(self, reason: str) -> None:
        """Close an unauthenticated connection at once: nothing it sent is executed."""
        if self.closing:
            return
        logger.warning("matcher rpc: %s from %s; closing", reason, self._peer())
        self.closing = True
        self.transport.close()

    # -- requests ---------------------------------------------------------------------
    def _dispatch(self, body: bytes) -> None:
        try:
            req = _loads(body)
        except orjson.JSONDecodeError:
            self._reply(None, invalid_argument("frame", "not valid JSON"), None)
            return
        if type(req) is not dict:
            self._reply(None, invalid_argument("frame", "must be a JSON object"), None)
            return
        rid = req.get("id")
        if type(rid) is not int:
            self._reply(None, invalid_argument("id", "must be an integer"), None)
            return
        method = req.get("method")
        if type(method) is not str:
            self._reply(rid, invalid_argument("method", "must be a string"), None)
            return
        params = req.get("params", [])
        if type(params) is not list:
            self._reply(rid, invalid_argument("params", "must be an array"), None)
            return
        deadline = req.get("deadline")
        if deadline is not None and type(deadline) not in (float, int):
            self._reply(rid, invalid_argument("deadline", "must be a number (Unix time)"), None)
            return
        if deadline is not None and _now() > deadline:
            self._reply(rid, TIMEOUT_ERROR, None)
            return
        self.in_flight += 1
        submit = self.submit
        if submit is not None and method in self.mutating:
            # fast path: no task and no future per request; the reply is written when the
            # service calls back (after the commit) or at once (refused, invalid, no-op)
            try:
                reply = submit(method, params, lambda rep, rid=rid: self._done(rid, rep))
            except Exception:
                logger.exception("matcher rpc: %s failed", method)
                reply = {"error": INTERNAL_ERROR, "result": None}
            if reply is not None:
                self._done(rid, reply)
            return
        task = self.loop.create_task(self._run(rid, method, params, deadline))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _done(self, rid: int, reply: dict) -> None:
        self.in_flight -= 1
        self._reply(rid, reply.get("error"), reply.get("result"))
        if self.reading_paused and self.in_flight < self.server.max_in_flight // 2 and not self.closing:
            self.reading_paused = False
            self.transport.resume_reading()

    async def _run(self, rid: int, method: str, params: list, deadline=None) -> None:
        try:
            if deadline is not None and _now() > deadline:
                reply = {"error": TIMEOUT_ERROR, "result": None}
            else:
                reply = await self.service.call(method, params)
            error = reply.get("error")
            result = reply.get("result")
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("matcher rpc: %s failed", method)
            error, result = INTERNAL_ERROR, None
        finally:
            self.in_flight -= 1
        self._reply(rid, error, result)
        if self.reading_paused and self.in_flight < self.server.max_in_flight // 2 and not self.closing:
            self.reading_paused = False
            self.transport.resume_reading()

    def _reply(self, rid, error, result) -> None:
        if self.lost:
            return
        try:
            frame = encode_frame({"id": rid, "error": error, "result": result})
        except (TypeError, orjson.JSONEncodeError):
            logger.exception("matcher rpc: reply of id %r is not JSON-encodable", rid)
            frame = encode_frame({"id": rid, "error": INTERNAL_ERROR, "result": None})
        if self.in_flight == 0 and not self.flush_scheduled and not self.closing:
            # the only reply due: out at once (no extra event-loop turn); with more in
            # flight, replies released together are coalesced into one write
            self.transport.write(frame)
            return
        self.out.append(frame)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_scheduled = False
        if self.lost or not self.out:
            return
        data = b"".join(self.out)
        self.out.clear()
        self.transport.write(data)
        if self.closing and self.in_flight == 0:
            self.transport.close()

    def _close_after_flush(self) -> None:
        self.closing = True
        if self.in_flight == 0 and not self.out:
            self.transport.close()
        elif not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _peer(self):
        return self.transport.get_extra_info("peername") if self.transport else None

    def abort(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.transport is not None:
            self.transport.close()


class RpcServer:
    """The listening socket and its connections; ``serve()`` is the usual entry point."""

    def __init__(self, service, *, max_frame: int = MAX_FRAME, max_in_flight: int = MAX_IN_FLIGHT,
                 secret: str = "", auth_timeout: float = AUTH_TIMEOUT):
        self.service = service
        self.max_frame = max_frame
        self.max_in_flight = max_in_flight
        self.secret = secret
        self.auth_timeout = auth_timeout
        self.connections: set[_Connection] = set()
        self.server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        if not self.secret and not await loop.run_in_executor(None, is_loopback, host):
            raise InsecureBind(f"matcher rpc: refusing to listen on {host or 'all interfaces'!r} without "
                               "MATCHER_RPC_SECRET (only loopback addresses may go without it)")
        self.server = await loop.create_server(lambda: _Connection(self), host, port, reuse_address=True)
        address = self.server.sockets[0].getsockname()
        return address[0], address[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections):
            conn.abort()
        if self.server is not None:
            try:
                await asyncio.wait_for(self.server.wait_closed(), 2)
            except asyncio.TimeoutError:
                pass


async def serve(service, host: str, port: int, *, ready=None, secret: str = "",
                max_frame: int = MAX_FRAME, max_in_flight: int = MAX_IN_FLIGHT) -> None:
    """Serve ``service`` on ``host:port`` until cancelled (matcher/__main__ passes the
    MATCHER_RPC_HOST / MATCHER_RPC_PORT / MATCHER_RPC_SECRET settings). Raises InsecureBind
    when ``host`` is not loopback and there is no ``secret``.

    ``ready`` (optional) is told the bound address ``(host, port)`` once the socket
    listens (useful with ``port=0``): an ``asyncio.Future`` gets it as its result, an
    ``asyncio.Event`` is set, any other callable is called with it.
    On cancellation the listening socket and every connection are closed.
    """
    rpc = RpcServer(service, max_frame=max_frame, max_in_flight=max_in_flight, secret=secret)
    address = await rpc.start(host, port)
    logger.info("matcher rpc listening on %s:%d", address[0], address[1])
    try:
        if ready is not None:
            if isinstance(ready, asyncio.Future):
                if not ready.done():
                    ready.set_result(address)
            elif isinstance(ready, asyncio.Event):
                ready.set()
            else:
                ready(address)
        await asyncio.Future()  # run until cancelled
    finally:
        await rpc.close()
