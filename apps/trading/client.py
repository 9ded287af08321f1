"""Client of the matcher's RPC server (matcher/server.py) for the access layer.

Async use (ASGI code, one client per event loop)::

    client = get_client()                      # settings MATCHER_RPC_HOST/PORT/TIMEOUT
    result = await client.call("balance.query", [1])       # raises RpcError
    reply = await client.request("order.put_limit", [...]) # {"error": ..., "result": ...}

Sync use (Django views, management commands, Celery tasks)::

    from apps.trading.client import call_sync, request_sync
    result = call_sync("balance.query", [1])

Errors (all ``RpcError`` from apps.wire.errors):

- ``call`` raises ``RpcError(code, message, data)`` for an application error of the
  matcher (code 1, 10, 11, …); ``request`` returns the envelope instead.
- ``MatcherTimeout`` (code 5 ``service timeout``): no reply within ``timeout`` seconds,
  or the connection broke while the request was in flight. **The command may still have
  been applied**: retry an order with the same ``client_order_id`` (or a deposit with the
  same ``business_id``) — the matcher refuses the duplicate, so a retry is safe.
- ``MatcherUnavailable`` (code 3 ``service unavailable``, data ``{"reason": "matcher not
  connected"}``): no connection to the matcher could be made; the request was **not**
  sent. The JSON-RPC endpoint answers this with HTTP 500 and an empty body (spec).

Transport: a small pool of persistent TCP connections; requests go round-robin over
them and are pipelined (many in flight on one connection, matched by id); writes made in
one event-loop iteration are coalesced into one ``write``. A broken connection is
replaced on the next request (reconnect with a short back-off; while it is down requests
fail fast with ``MatcherUnavailable``). With a shared secret (MATCHER_RPC_SECRET) a new
connection first answers the matcher's challenge (matcher/frames.py) and is used only once
the matcher accepted it; a refusal is ``MatcherUnavailable`` (nothing sent).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
import weakref

import orjson

from apps.wire.errors import SERVICE_TIMEOUT, SERVICE_UNAVAILABLE, RpcError
from apps.wire.nesting import MAX_DEPTH, encoded_deeper_than, has_non_finite
from apps.wire.numbers import INT64_MAX
from matcher.frames import (
    AUTH_SCHEME, MAX_REPLY_FRAME, MAX_REQUEST_FRAME, FrameReader, auth_proof, encode_frame, pack_header, set_nodelay,
)

logger = logging.getLogger("apps.trading.client")

_dumps = orjson.dumps
_loads = orjson.loads

# frames (matcher/frames.py): replies up to MAX_REPLY_FRAME accepted, requests up to
# MAX_REQUEST_FRAME (the matcher server's limit) sent
_ID_WRAP = INT64_MAX
# send_callback's requests are checked for their timeout this often (s)
_SWEEP_INTERVAL = 0.01


class MatcherTimeout(RpcError):
    """No reply in time (or the connection broke with the request in flight): the command
    may or may not have been applied."""

    def __init__(self, reason: str = "no reply within the timeout"):
        super().__init__(SERVICE_TIMEOUT)
        self.reason = reason


class MatcherUnavailable(RpcError):
    """No connection to the matcher: the request was not sent."""

    def __init__(self, reason: str = "matcher not connected"):
        super().__init__(SERVICE_UNAVAILABLE, data={"reason": reason})


# bytes of a request frame besides the method's and the params' JSON
_FRAME_OVERHEAD = len(_dumps({"id": INT64_MAX, "method": "", "params": None, "deadline": -1.7976931348623157e308})) - 4


def encode_params(method: str, params) -> orjson.Fragment:
    """The JSON of a request's ``params``, checked to be sendable to the matcher, ready to
    embed in the frame. Raises RpcError code 1 (``data.param`` ``params``) — nothing sent —
    when it nests deeper than apps.wire.nesting.MAX_DEPTH, holds a value JSON cannot carry
    (an integer beyond 64 bits, NaN / Infinity, a lone surrogate), or the frame would
    exceed the matcher's MAX_REQUEST_FRAME."""
    try:
        raw = _dumps(params)
    except orjson.JSONEncodeError as exc:
        if "Recursion limit" in str(exc):
            raise RpcError.invalid("params", f"nested deeper than {MAX_DEPTH} levels") from None
        raise RpcError.invalid("params", f"not sendable as JSON: {exc}") from None
    if encoded_deeper_than(params, raw):
        raise RpcError.invalid("params", f"nested deeper than {MAX_DEPTH} levels")
    if b"null" in raw and has_non_finite(params):
        raise RpcError.invalid("params", "not sendable as JSON: NaN or Infinity")
    if len(raw) + len(method) + _FRAME_OVERHEAD > MAX_REQUEST_FRAME:
        raise RpcError.invalid("params", "request too large")
    return orjson.Fragment(raw)


def _error_from_reply(error: dict) -> RpcError:
    if isinstance(error, dict):
        return RpcError(int(error.get("code", 2)), error.get("message"), error.get("data"))
    return RpcError(2)


class _Conn(asyncio.Protocol):
    """One pipelined connection: id → future of the reply envelope."""

    def __init__(self, pool: "MatcherClient"):
        self.pool = pool
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.pending: dict[int, asyncio.Future] = {}
        # requests sent with send_callback, in send order: id → (callback, expiry, loop time)
        self.callbacks: dict[int, tuple] = {}
        self.sweeper: asyncio.TimerHandle | None = None
        self.ids = itertools.count(1)
        self.frames = FrameReader(MAX_REPLY_FRAME)
        self.out: list[bytes] = []
        self.flush_scheduled = False
        self.alive = False
        # with a shared secret: resolved once the matcher accepted the handshake
        self.secret = pool.secret
        self.ready = self.loop.create_future()
        self.auth_step = "challenge" if self.secret else None

    def connection_made(self, transport):
        self.transport = transport
        set_nodelay(transport)
        if self.auth_step is None:
            self.alive = True
            self.ready.set_result(self)

    def connection_lost(self, exc):
        self.alive = False
        self.out.clear()
        if not self.ready.done():
            self.ready.set_exception(MatcherUnavailable("matcher refused the connection (shared secret)"))
            self.ready.exception()  # mark retrieved
        pending, self.pending = self.pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(MatcherTimeout("connection to the matcher lost"))
        callbacks, self.callbacks = self.callbacks, {}
        for callback, _expiry in callbacks.values():
            _run_callback(callback, MatcherTimeout("connection to the matcher lost"))
        self.pool._lost(self)

    def data_received(self, data: bytes):
        bodies, bad_size = self.frames.feed(data)
        pending = self.pending
        callbacks = self.callbacks
        for body in bodies:
            try:
                reply = _loads(body)
            except orjson.JSONDecodeError:
                reply = None
            if self.auth_step is not None:
                self._handshake(reply)
                if self.transport.is_closing():
                    return
                continue
            if type(reply) is not dict:
                logger.error("matcher sent a frame that is not a JSON object")
                continue
            rid = reply.get("id")
            fut = pending.pop(rid, None)
            if fut is not None:
                if not fut.done():
                    fut.set_result(reply)
                continue
            waiting = callbacks.pop(rid, None)
            if waiting is not None:
                _run_callback(waiting[0], reply)
        if bad_size is not None:
            logger.error("matcher reply frame of %d bytes; dropping the connection", bad_size)
            self.transport.abort()

    def _handshake(self, msg) -> None:
        if type(msg) is dict and self.auth_step == "challenge" and msg.get("auth") == AUTH_SCHEME \
                and type(msg.get("nonce")) is str:
            try:
                proof = auth_proof(self.secret, msg["nonce"])
            except ValueError:
                proof = None
            if proof is not None:
                self.auth_step = "accepted?"
                self.transport.write(encode_frame({"auth": proof}))
                return
        elif type(msg) is dict and self.auth_step == "accepted?" and msg.get("auth") == "ok":
            self.auth_step = None
            self.alive = True
            self.ready.set_result(self)
            return
        logger.error("matcher sent an unexpected handshake frame; dropping the connection")
        self.transport.abort()

    def send(self, method: str, params: list, deadline: float) -> tuple[int, asyncio.Future]:
        """Queue one request; the matcher will not start it after ``deadline`` (Unix time)."""
        rid = self._queue(method, params, deadline)
        fut = self.loop.create_future()
        self.pending[rid] = fut
        return rid, fut

    def send_callback(self, method: str, params, callback) -> None:
        """Queue one request; ``callback(reply)`` is called once, from the event loop, with
        the reply envelope or a MatcherTimeout (no reply within the client's timeout — up
        to _SWEEP_INTERVAL later —, or the connection lost). No future, task or timer per
        request: the web process's hot path (apps.trading.jsonrpc.JsonRpcApp.dispatch).
        Raises RpcError (code 1) when the request cannot be sent; nothing is sent then."""
        timeout = self.pool.timeout
        rid = self._queue(method, params, time.time() + timeout)
        # one timeout for all: expiries grow in send order, the sweep stops at the first
        self.callbacks[rid] = (callback, self.loop.time() + timeout)
        if self.sweeper is None:
            self.sweeper = self.loop.call_later(min(timeout, _SWEEP_INTERVAL), self._sweep)

    def _sweep(self) -> None:
        self.sweeper = None
        callbacks = self.callbacks
        if not callbacks:
            return
        now = self.loop.time()
        expired = []
        for rid, (_callback, expiry) in callbacks.items():
            if expiry > now:
                break
            expired.append(rid)
        for rid in expired:
            _run_callback(callbacks.pop(rid)[0], MatcherTimeout())
        if callbacks:
            self.sweeper = self.loop.call_later(_SWEEP_INTERVAL, self._sweep)

    def _queue(self, method: str, params, deadline: float) -> int:
        rid = next(self.ids)
        if rid >= _ID_WRAP:
            self.ids = itertools.count(1)
            rid = next(self.ids)
        if type(params) is not orjson.Fragment:
            params = encode_params(method, params)
        body = _dumps({"id": rid, "method": method, "params": params, "deadline": deadline})
        if len(body) > MAX_REQUEST_FRAME:
            # the server would drop the connection (and every request in flight on it)
            raise RpcError.invalid("params", "request too large")
        self.out.append(pack_header(len(body)))
        self.out.append(body)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)
        return rid

    def _flush(self):
        self.flush_scheduled = False
        if self.alive and self.out:
            data = b"".join(self.out)
            self.out.clear()
            self.transport.write(data)

    def close(self):
        if self.transport is not None:
            self.transport.close()


class MatcherClient:
    """Async pooled, pipelined client. Bound to the event loop it is first used in."""

    def __init__(self, host: str | None = None, port: int | None = None, timeout: float | None = None, *,
                 pool_size: int | None = None, connect_timeout: float = 1.0, retry_interval: float = 0.2,
                 secret: str | None = None):
        """Arguments left None come from the MATCHER_RPC_* settings."""
        from django.conf import settings

        self.secret = settings.MATCHER_RPC_SECRET if secret is None else secret
        self.host = settings.MATCHER_RPC_HOST if host is None else host
        self.port = settings.MATCHER_RPC_PORT if port is None else port
        self.timeout = settings.MATCHER_RPC_TIMEOUT if timeout is None else timeout
        self.pool_size = max(1, settings.MATCHER_RPC_POOL_SIZE if pool_size is None else pool_size)
        self.connect_timeout = connect_timeout
        self.retry_interval = retry_interval
        self._conns: list[_Conn | None] = [None] * self.pool_size
        self._connecting: list[asyncio.Future | None] = [None] * self.pool_size
        self._next = 0
        self._down_until = 0.0  # after a failed connect, fail fast until then
        self._closed = False

    # -- public API ---------------------------------------------------------------------
    async def request(self, method: str, params: list, *, timeout: float | None = None) -> dict:
        """Send one request; return the reply envelope ``{"error": ..., "result": ...}``.
        Raises MatcherTimeout / MatcherUnavailable (both RpcError) on transport failure."""
        conn = await self._pick()
        return await self._send(conn, method, params, timeout)

    async def call(self, method: str, params: list, *, timeout: float | None = None):
        """Send one request; return its result or raise RpcError with the matcher's code."""
        reply = await self.request(method, params, timeout=timeout)
        error = reply.get("error")
        if error is not None:
            raise _error_from_reply(error)
        return reply.get("result")

    async def request_many(self, calls: list[tuple[str, list]], *, timeout: float | None = None) -> list:
        """Send several requests back to back on one connection (so the matcher receives
        them in this order); return, per request, its envelope or the RpcError raised.
        All or nothing: when one cannot be sent (``encode_params``) its RpcError is raised
        and none is sent. ``params`` may be pre-encoded (``encode_params``)."""
        # every request is encoded and checked first: one that cannot be sent raises its
        # RpcError (code 1) before any is sent
        calls = [(method, encode_params(method, params)) for method, params in calls]
        conn = await self._pick()
        results: list = [None] * len(calls)
        sent, where = [], []
        limit = self.timeout if timeout is None else timeout
        deadline = time.time() + limit
        for i, (method, params) in enumerate(calls):
            sent.append(conn.send(method, params, deadline))
            where.append(i)
        handle = conn.loop.call_later(limit, _expire_many, conn, sent)
        try:
            replies = await asyncio.gather(*(fut for _, fut in sent), return_exceptions=True)
        finally:
            handle.cancel()
        for i, reply in zip(where, replies):
            results[i] = reply
        return results

    def ready_connection(self) -> _Conn | None:
        """The first connection of the pool that is up, without waiting; None when none is
        (then ``request`` connects, or fails with MatcherUnavailable). Not round-robin: the
        requests of one loop iteration then leave in one write and their replies come back
        in one read (the others are spares)."""
        if self._closed:
            return None
        for conn in self._conns:
            if conn is not None and conn.alive:
                return conn
        return None

    async def ensure_connected(self) -> None:
        """Raise MatcherUnavailable unless at least one connection is (or can be) up."""
        await self._pick()

    @property
    def connected(self) -> bool:
        return any(c is not None and c.alive for c in self._conns)

    async def close(self) -> None:
        self._closed = True
        for i, conn in enumerate(self._conns):
            if conn is not None:
                conn.close()
            self._conns[i] = None

    # -- internals ----------------------------------------------------------------------
    async def _send(self, conn: _Conn, method: str, params: list, timeout: float | None) -> dict:
        limit = self.timeout if timeout is None else timeout
        rid, fut = conn.send(method, params, time.time() + limit)
        loop = conn.loop
        handle = loop.call_later(limit, _expire, conn, rid, fut)
        try:
            return await fut
        finally:
            handle.cancel()

    async def _pick(self) -> _Conn:
        if self._closed:
            raise MatcherUnavailable("client closed")
        n = self.pool_size
        start = self._next
        self._next = (start + 1) % n
        for k in range(n):
            conn = self._conns[(start + k) % n]
            if conn is not None and conn.alive:
                if k:
                    # the round-robin slot is down: reconnect it in the background
                    self._spawn_connect((start) % n)
                return conn
        # nothing is up: connect the slot now (fail fast while in back-off)
        if time.monotonic() < self._down_until:
            raise MatcherUnavailable()
        return await self._connect(start)

    def _spawn_connect(self, i: int) -> None:
        if self._connecting[i] is None and time.monotonic() >= self._down_until:
            task = asyncio.ensure_future(self._connect(i))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _connect(self, i: int) -> _Conn:
        pending = self._connecting[i]
        if pending is not None:
            return await asyncio.shield(pending)
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._connecting[i] = fut
        try:
            try:
                conn = await asyncio.wait_for(self._open(loop), self.connect_timeout)
            except (OSError, asyncio.TimeoutError, MatcherUnavailable) as exc:
                self._down_until = time.monotonic() + self.retry_interval
                logger.warning("matcher not reachable at %s:%d: %s", self.host, self.port, exc)
                err = MatcherUnavailable()
                fut.set_exception(err)
                fut.exception()  # mark retrieved
                raise err from None
            self._conns[i] = conn
            fut.set_result(conn)
            return conn
        finally:
            self._connecting[i] = None

    async def _open(self, loop) -> _Conn:
        transport, conn = await loop.create_connection(lambda: _Conn(self), self.host, self.port)
        try:
            return await conn.ready  # at once without a secret; after the handshake with one
        except BaseException:
            transport.abort()
            raise

    def _lost(self, conn: _Conn) -> None:
        for i, c in enumerate(self._conns):
            if c is conn:
                self._conns[i] = None


def _run_callback(callback, reply) -> None:
    try:
        callback(reply)
    except Exception:  # noqa: BLE001 - one caller's bug must not break the connection
        logger.exception("matcher reply callback failed")


def _expire(conn: _Conn, rid: int, fut: asyncio.Future) -> None:
    conn.pending.pop(rid, None)
    if not fut.done():
        fut.set_exception(MatcherTimeout())


def _expire_many(conn: _Conn, sent: list) -> None:
    for rid, fut in sent:
        _expire(conn, rid, fut)


# -- per-loop default client (ASGI) ------------------------------------------------------
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MatcherClient]" = weakref.WeakKeyDictionary()


def get_client() -> MatcherClient:
    """The client of the running event loop, configured from settings (created on first use)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = MatcherClient()
    return client


# -- sync wrapper (Django views) ---------------------------------------------------------
class SyncMatcherClient:
    """Thread-safe blocking facade: one background thread runs an event loop that owns a
    MatcherClient; calls from any thread are handed to it."""

    def __init__(self, host: str | None = None, port: int | None = None, timeout: float | None = None, **kwargs):
        """Arguments left None come from the MATCHER_RPC_* settings (see MatcherClient)."""
        from django.conf import settings

        self.timeout = settings.MATCHER_RPC_TIMEOUT if timeout is None else timeout
        self._args = dict(host=host, port=port, timeout=self.timeout, **kwargs)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: MatcherClient | None = None

    def _ensure(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            with self._lock:
                if self._loop is None:
                    loop = asyncio.new_event_loop()
                    self._client = MatcherClient(**self._args)
                    thread = threading.Thread(target=loop.run_forever, name="matcher-client", daemon=True)
                    thread.start()
                    self._loop = loop
        return self._loop

    def request(self, method: str, params: list, *, timeout: float | None = None) -> dict:
        loop = self._ensure()
        fut = asyncio.run_coroutine_threadsafe(self._client.request(method, params, timeout=timeout), loop)
        limit = (self.timeout if timeout is None else timeout) + 5.0
        try:
            return fut.result(limit)
        except TimeoutError:
            fut.cancel()
            raise MatcherTimeout() from None

    def call(self, method: str, params: list, *, timeout: float | None = None):
        reply = self.request(method, params, timeout=timeout)
        error = reply.get("error")
        if error is not None:
            raise _error_from_reply(error)
        return reply.get("result")

    def close(self) -> None:
        loop = self._loop
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._client.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        self._loop = None


_sync_client: SyncMatcherClient | None = None
_sync_lock = threading.Lock()


def get_sync_client() -> SyncMatcherClient:
    global _sync_client
    if _sync_client is None:
        with _sync_lock:
            if _sync_client is None:
                _sync_client = SyncMatcherClient()
    return _sync_client


def set_sync_client(client: SyncMatcherClient | None) -> None:
    """Replace the process-wide sync client (tests)."""
    global _sync_client
    with _sync_lock:
        old, _sync_client = _sync_client, client
    if old is not None and old is not client:
        old.close()


def call_sync(method: str, params: list, *, timeout: float | None = None):
    """Blocking call for sync Django code: the result, or RpcError (see module doc)."""
    return get_sync_client().call(method, params, timeout=timeout)


def request_sync(method: str, params: list, *, timeout: float | None = None) -> dict:
    """Blocking call returning the reply envelope ``{"error": ..., "result": ...}``."""
    return get_sync_client().request(method, params, timeout=timeout)
