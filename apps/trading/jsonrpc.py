"""The ViaBTC HTTP JSON-RPC endpoint (`POST /`) as a lean ASGI application.

Routed in exchange_site/asgi.py ahead of Django: no middleware, no DRF, orjson, and the
pooled pipelined MatcherClient. Wire rules: ../shared/spec/http-jsonrpc.md §1 and
spec README §6 (batches, trust, code 1 `data`); what this platform decides is in docs/api.md
"JSON-RPC".

Backends by method:
- matchengine methods (+ the `order.cancel_all` extension) → the matcher over its RPC
  port; the engine validates params itself;
- readhistory methods → `apps.history.rpc.HISTORY_METHODS` (sync ORM functions) in a
  thread pool;
- marketprice methods → `apps.marketdata.rpc.MARKETDATA_METHODS` when that module exists
  (sync or async functions), else code 3 `service unavailable`;
- everything else — including the configuration commands `asset.put`, `market.put`,
  `config.fee_account`, which come from the admin/database only — is 404 code 4.
"""
from __future__ import annotations

import asyncio
import hmac
import importlib
import importlib.util
import inspect
import logging
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import orjson

from apps.trading.client import MatcherTimeout, MatcherUnavailable, encode_params, get_client
from apps.wire.errors import (
    INTERNAL_ERROR, METHOD_NOT_FOUND, SERVICE_TIMEOUT, SERVICE_UNAVAILABLE, RpcError, error_object,
)
from apps.wire.numbers import INT64_MAX, INT64_MIN
from exchange_site.proxies import forwarded_client, in_networks, parse_networks

logger = logging.getLogger("apps.trading.jsonrpc")

MATCHER_METHODS = frozenset((
    "asset.list", "asset.summary", "balance.query", "balance.update",
    "order.put_limit", "order.put_market", "order.cancel", "order.book", "order.depth",
    "order.pending", "order.pending_detail", "market.list", "market.summary",
    # extension (docs/matcher-core.md)
    "order.cancel_all",
))
HISTORY_METHOD_NAMES = frozenset((
    "balance.history", "order.finished", "order.finished_detail", "order.deals", "market.user_deals",
))
MARKETDATA_METHOD_NAMES = frozenset((
    "market.last", "market.deals", "market.kline", "market.status", "market.status_today",
))

MAX_BATCH = 1000

_loads = orjson.loads
_dumps = orjson.dumps

_ERR_NOT_FOUND = error_object(METHOD_NOT_FOUND)
_ERR_TIMEOUT = error_object(SERVICE_TIMEOUT)
_ERR_INTERNAL = error_object(INTERNAL_ERROR)


class _Malformed(Exception):
    """The request cannot be answered with an envelope: HTTP 400, empty body."""


class _NotConnected(Exception):
    """The matcher is not connected: HTTP 500, empty body."""


def _unavailable(reason: str) -> dict:
    return error_object(SERVICE_UNAVAILABLE, data={"reason": reason})


class JsonRpcApp:
    """ASGI app for the JSON-RPC endpoint. Arguments default to Django settings
    (read on first request): JSONRPC_ALLOWED_NETWORKS, JSONRPC_SERVICE_TOKEN,
    JSONRPC_REQUIRE_TOKEN, TRUSTED_PROXIES, JSONRPC_ALLOWED_ORIGINS,
    JSONRPC_MAX_BODY, JSONRPC_BACKEND_TIMEOUT, JSONRPC_BATCH_TIMEOUT_PER_CALL, JSONRPC_THREADS."""

    _UNSET = object()

    def __init__(self, *, allowed_networks=_UNSET, service_token=_UNSET, require_token=_UNSET,
                 trusted_proxies=_UNSET, allowed_origins=_UNSET, max_body=_UNSET,
                 backend_timeout=_UNSET, batch_timeout_per_call=_UNSET, threads=_UNSET, client=None,
                 history_methods=_UNSET, marketdata_methods=_UNSET):
        self._overrides = {
            "allowed_networks": allowed_networks, "service_token": service_token,
            "require_token": require_token, "trusted_proxies": trusted_proxies,
            "allowed_origins": allowed_origins, "max_body": max_body,
            "backend_timeout": backend_timeout, "batch_timeout_per_call": batch_timeout_per_call,
            "threads": threads,
            "history_methods": history_methods, "marketdata_methods": marketdata_methods,
        }
        self._client = client
        self._configured = False
        self._executor: ThreadPoolExecutor | None = None
        self._trusted_hosts: dict[str, bool] = {}
        self._tasks: set = set()  # dispatch's fallbacks in flight

    # -- configuration -----------------------------------------------------------------
    def _opt(self, name, setting):
        value = self._overrides[name]
        if value is not self._UNSET:
            return value
        from django.conf import settings

        return getattr(settings, setting)

    def _configure(self) -> None:
        self.allowed_networks = parse_networks(
            self._opt("allowed_networks", "JSONRPC_ALLOWED_NETWORKS"))
        token = self._opt("service_token", "JSONRPC_SERVICE_TOKEN") or ""
        self.service_token = token.encode() if token else b""
        self.require_token = bool(self._opt("require_token", "JSONRPC_REQUIRE_TOKEN"))
        if self.require_token and not self.service_token:
            raise RuntimeError("JSONRPC_REQUIRE_TOKEN is set but JSONRPC_SERVICE_TOKEN is empty")
        self.trusted_proxies = parse_networks(self._opt("trusted_proxies", "TRUSTED_PROXIES"))
        origins = self._opt("allowed_origins", "JSONRPC_ALLOWED_ORIGINS")
        self.allowed_origins = frozenset(o.rstrip("/").lower().encode() for o in origins)
        self.max_body = int(self._opt("max_body", "JSONRPC_MAX_BODY"))
        self.backend_timeout = float(self._opt("backend_timeout", "JSONRPC_BACKEND_TIMEOUT"))
        self.batch_timeout_per_call = float(
            self._opt("batch_timeout_per_call", "JSONRPC_BATCH_TIMEOUT_PER_CALL"))
        threads = int(self._opt("threads", "JSONRPC_THREADS"))
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="jsonrpc-history")
        self.history_methods = self._load_backend(
            "history_methods", "apps.history.rpc", "HISTORY_METHODS")
        self.marketdata_methods = self._load_backend(
            "marketdata_methods", "apps.marketdata.rpc", "MARKETDATA_METHODS")
        self._configured = True

    def _load_backend(self, name: str, module: str, attr: str) -> dict:
        value = self._overrides[name]
        if value is not self._UNSET:
            return dict(value or {})
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return {}
        return dict(getattr(importlib.import_module(module), attr, {}))

    @property
    def client(self):
        return self._client if self._client is not None else get_client()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # -- ASGI ----------------------------------------------------------------------------
    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"JsonRpcApp cannot handle {scope['type']!r}")
        if not self._configured:
            self._configure()
        if not self._trusted(scope):
            await _respond(send, 403, b"")
            return
        if scope["method"] != "POST":
            await _respond(send, 400, b"")
            return
        body = await self._read_body(receive)
        if not body:  # empty, too large, or the client went away
            if body is not None:
                await _respond(send, 400, b"")
            return
        await _respond(send, *await self._status_and_payload(body))

    async def _read_body(self, receive) -> bytes | None:
        """The request body; b"" when empty or larger than max_body (refused as soon as it
        passes the limit: the rest is not read); None on disconnect."""
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self.max_body:
                    return b""
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    # -- trust ---------------------------------------------------------------------------
    def _trusted(self, scope) -> bool:
        origin = host = fetch_site = token = forwarded = real_ip = None
        for name, value in scope.get("headers", ()):
            if name == b"origin":
                origin = value
            elif name == b"host":
                host = value
            elif name == b"sec-fetch-site":
                fetch_site = value
            elif name == b"authorization":
                if value[:7].lower() == b"bearer ":
                    token = value[7:].strip()
            elif name == b"x-service-token":
                token = value.strip()
            elif name == b"x-forwarded-for":
                forwarded = value if forwarded is None else forwarded + b"," + value
            elif name == b"x-real-ip":
                real_ip = value
        # a browser sending this request from another site: never (spec README §6)
        if fetch_site is not None and fetch_site.strip().lower() == b"cross-site":
            return False
        if origin is not None and not self._same_origin(origin, host):
            return False
        token_ok = False
        if token is not None and self.service_token:
            if not hmac.compare_digest(token, self.service_token):
                return False  # a wrong token is refused even from an allowed network
            token_ok = True
        if self.require_token and not token_ok:
            return False
        if token_ok and (not self.require_token or not self.allowed_networks):
            return True
        return self._client_allowed(scope, forwarded, real_ip)

    def _same_origin(self, origin: bytes, host: bytes | None) -> bool:
        origin = origin.strip().lower().rstrip(b"/")
        if origin in self.allowed_origins:
            return True
        if origin == b"null" or host is None:
            return False
        try:
            netloc = urlsplit(origin.decode("latin-1")).netloc
        except ValueError:
            return False
        return bool(netloc) and netloc == host.strip().lower().decode("latin-1")

    def _client_allowed(self, scope, forwarded: bytes | None, real_ip: bytes | None) -> bool:
        peer = scope.get("client")
        peer_host = peer[0] if peer else None
        if forwarded is not None or real_ip is not None:
            if not in_networks(peer_host, self.trusted_proxies):
                # forwarded by a peer that is not a trusted proxy: the caller is unknown (a
                # proxy on this host would otherwise make every caller look like loopback)
                return False
            # behind our reverse proxy: the caller is the right-most address that is not a proxy
            caller = forwarded_client(None if forwarded is None else forwarded.decode("latin-1"),
                                      None if real_ip is None else real_ip.decode("latin-1"),
                                      self.trusted_proxies)
            return in_networks(caller, self.allowed_networks)
        return self._host_in(peer_host, self.allowed_networks)

    def _host_in(self, host, nets) -> bool:
        ok = self._trusted_hosts.get(host)
        if ok is None:
            ok = in_networks(host, nets)
            if len(self._trusted_hosts) > 10_000:
                self._trusted_hosts.clear()
            self._trusted_hosts[host] = ok
        return ok

    # -- the hot path, without a task (exchange_site/rpc_protocol.py) ----------------------
    def ensure_configured(self) -> None:
        if not self._configured:
            self._configure()

    def dispatch(self, body: bytes, reply, client=None) -> None:
        """Answer one request body (trust and size already checked) by calling
        ``reply(status, payload)`` once: a single call of a matcher method on a connection
        that is up goes out at once and is answered from the matcher's reply, with no task or
        future per request; everything else (batches, history, market data, errors, a
        connection to make) runs ``handle_body`` in a task. Same replies either way.
        ``client``: this loop's MatcherClient when the caller has it at hand."""
        try:
            req = _loads(body)
        except orjson.JSONDecodeError:
            reply(400, b"")
            return
        if type(req) is dict:
            rid = req.get("id")
            method = req.get("method")
            params = req.get("params")
            if (method in MATCHER_METHODS and type(rid) is int and INT64_MIN <= rid <= INT64_MAX
                    and type(params) is list):
                conn = (client or self.client).ready_connection()
                if conn is not None:
                    try:
                        conn.send_callback(method, encode_params(method, params), _MatcherReply(rid, reply))
                        return
                    except RpcError:
                        pass  # not sendable: handle_body answers code 1
        self._spawn(body, reply)

    def _spawn(self, body: bytes, reply) -> None:
        task = asyncio.get_running_loop().create_task(self._answer(body, reply))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, body: bytes, reply) -> None:
        reply(*await self._status_and_payload(body))

    async def _status_and_payload(self, body: bytes) -> tuple[int, bytes]:
        """``handle_body``, with a malformed body answered 400 and no matcher 500 (empty)."""
        try:
            return await self.handle_body(body)
        except _Malformed:
            return 400, b""
        except _NotConnected:
            return 500, b""

    # -- requests ------------------------------------------------------------------------
    async def handle_body(self, body: bytes) -> tuple[int, bytes]:
        """(status, payload) for a request body; raises _Malformed / _NotConnected."""
        try:
            req = _loads(body)
        except orjson.JSONDecodeError:
            raise _Malformed from None
        if type(req) is dict:
            rid, method, params = _envelope(req)
            try:
                status, reply = await self._one(rid, method, params)
                return status, _dumps(reply)
            except (_Malformed, _NotConnected):
                raise
            except Exception:  # a bug: an envelope, never a bare 500 (that means "nothing sent")
                logger.exception("JSON-RPC %s failed", method)
                return 200, _dumps(_error(rid, _ERR_INTERNAL))
        if type(req) is list:
            if not req or len(req) > MAX_BATCH:
                raise _Malformed
            calls = [_envelope(item) if type(item) is dict else _raise_malformed() for item in req]
            try:
                replies = await self._batch(calls)
                return 200, _dumps(replies)
            except (_Malformed, _NotConnected):
                raise
            except Exception:
                logger.exception("JSON-RPC batch failed")
                return 200, _dumps([_error(c[0], _ERR_INTERNAL) for c in calls])
        raise _Malformed

    async def _one(self, rid, method, params) -> tuple[int, dict]:
        if method in MATCHER_METHODS:
            try:
                params = encode_params(method, params)  # unsendable → code 1, nothing sent
            except RpcError as exc:
                return 200, _error(rid, exc.as_error())
            try:
                reply = await self.client.request(method, params)
            except MatcherTimeout:
                return 504, {"error": _ERR_TIMEOUT, "result": None, "id": rid}
            except MatcherUnavailable:
                raise _NotConnected from None
            except RpcError as exc:  # refused before sending (e.g. request too large)
                return 200, _error(rid, exc.as_error())
            return 200, {"error": reply.get("error"), "result": reply.get("result"), "id": rid}
        return await self._local(rid, method, params)

    async def _local(self, rid, method, params) -> tuple[int, dict]:
        """History / market-data methods, answered in this process."""
        if method in HISTORY_METHOD_NAMES:
            fn = self.history_methods.get(method)
            if fn is None:
                return 200, _error(rid, _unavailable("history not available"))
        elif method in MARKETDATA_METHOD_NAMES:
            fn = self.marketdata_methods.get(method)
            if fn is None:
                return 200, _error(rid, _unavailable("market data not available yet"))
        else:
            return 404, _error(rid, _ERR_NOT_FOUND)
        try:
            if inspect.iscoroutinefunction(fn):
                result = await asyncio.wait_for(fn(params), self.backend_timeout)
            else:
                loop = asyncio.get_running_loop()
                result = await asyncio.wait_for(
                    loop.run_in_executor(self._executor, _run_sync, fn, params), self.backend_timeout)
        except asyncio.TimeoutError:
            return 504, _error(rid, _ERR_TIMEOUT)
        except RpcError as exc:
            return 200, _error(rid, exc.as_error())
        except Exception:
            logger.exception("JSON-RPC %s failed", method)
            return 200, _error(rid, _ERR_INTERNAL)
        return 200, {"error": None, "result": result, "id": rid}

    async def _batch(self, calls: list[tuple]) -> list[dict]:
        """Every element as if sent alone, replies in request order; matcher calls go out
        back to back on one connection, in request order."""
        replies: list = [None] * len(calls)
        matcher_idx = [i for i, c in enumerate(calls) if c[1] in MATCHER_METHODS]
        local_idx = [i for i, c in enumerate(calls) if c[1] not in MATCHER_METHODS]
        # every matcher element is encoded and checked before the first one is sent: one
        # that cannot be sent (too deep, too large) rejects the whole batch, nothing runs
        try:
            for i in matcher_idx:
                rid, method, params = calls[i]
                calls[i] = (rid, method, encode_params(method, params))
        except RpcError:
            raise _Malformed from None
        tasks = []
        if matcher_idx:
            try:
                await self.client.ensure_connected()
            except MatcherUnavailable:
                raise _NotConnected from None
            tasks.append(self._batch_matcher(calls, matcher_idx, replies))
        for i in local_idx:
            tasks.append(self._batch_local(calls, i, replies))
        await asyncio.gather(*tasks)
        return replies

    async def _batch_matcher(self, calls, idx, replies) -> None:
        # the batch's matcher calls share one deadline: the client's timeout plus a little
        # per call, since they queue behind each other in the matcher
        client = self.client
        timeout = client.timeout + self.batch_timeout_per_call * len(idx)
        try:
            results = await client.request_many([(calls[i][1], calls[i][2]) for i in idx], timeout=timeout)
        except MatcherUnavailable as exc:
            results = [exc] * len(idx)
        for i, res in zip(idx, results):
            rid = calls[i][0]
            if isinstance(res, dict):
                replies[i] = {"error": res.get("error"), "result": res.get("result"), "id": rid}
            elif isinstance(res, MatcherTimeout):
                replies[i] = _error(rid, _ERR_TIMEOUT)
            elif isinstance(res, MatcherUnavailable):
                replies[i] = _error(rid, _unavailable("matcher not connected"))
            elif isinstance(res, RpcError):
                replies[i] = _error(rid, res.as_error())
            else:
                logger.error("JSON-RPC batch element failed: %r", res)
                replies[i] = _error(rid, _ERR_INTERNAL)

    async def _batch_local(self, calls, i, replies) -> None:
        rid, method, params = calls[i]
        _, replies[i] = await self._local(rid, method, params)


class _MatcherReply:
    """The callback of one dispatched matcher call: the envelope as ``_one`` answers it."""

    __slots__ = ("rid", "reply")

    def __init__(self, rid: int, reply):
        self.rid = rid
        self.reply = reply

    def __call__(self, res) -> None:
        if type(res) is dict:
            self.reply(200, _dumps({"error": res.get("error"), "result": res.get("result"), "id": self.rid}))
        elif isinstance(res, MatcherTimeout):
            self.reply(504, _dumps({"error": _ERR_TIMEOUT, "result": None, "id": self.rid}))
        else:
            logger.error("JSON-RPC matcher call failed: %r", res)
            self.reply(200, _dumps(_error(self.rid, _ERR_INTERNAL)))


def _envelope(req: dict) -> tuple:
    rid = req.get("id")
    method = req.get("method")
    params = req.get("params")
    if (type(rid) is not int or not INT64_MIN <= rid <= INT64_MAX
            or type(method) is not str or type(params) is not list):
        raise _Malformed
    return rid, method, params


def _raise_malformed():
    raise _Malformed


def _error(rid, error: dict) -> dict:
    return {"error": error, "result": None, "id": rid}


def _run_sync(fn, params):
    """Run a sync (ORM) backend function in a worker thread with a usable DB connection."""
    from django.db import close_old_connections

    close_old_connections()
    try:
        return fn(params)
    finally:
        close_old_connections()


async def _respond(send, status: int, body: bytes) -> None:
    if body:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    else:
        headers = [(b"content-length", b"0")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


#: the endpoint used by exchange_site/asgi.py (configured from settings)
app = JsonRpcApp()
