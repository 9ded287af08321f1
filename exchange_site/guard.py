"""The site's outermost ASGI layer (exchange_site/asgi.py): checks every HTTP request and
websocket handshake before anything else runs — JSON-RPC at `POST /`, Django, Channels.

- **Host** is validated exactly as Django validates it (``HttpRequest.get_host``:
  ``ALLOWED_HOSTS`` with its wildcards, the DEBUG localhost rule when the list is empty,
  ports, a trailing dot, ``USE_X_FORWARDED_HOST``), so a page whose name re-resolves to
  this machine (DNS rebinding) reaches nothing: 400 (websocket: the handshake is refused).
  The verdict per raw Host value is cached, so the hot path pays one dict lookup.
- Requests served by Django (every path but JSON-RPC, which has ``JSONRPC_MAX_BODY``):
  a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is refused with 413 from its
  ``Content-Length`` or, streamed, as soon as it passes the limit — before it is read into
  memory, before authentication; a query string with more than
  ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` fields is refused with 400 (Django's own count).

Refusals on API paths are JSON (docs/api.md "Errors"); `POST /` gets the JSON-RPC empty
400; other paths Django's plain "Bad Request (400)" page. Never a traceback.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.signals import setting_changed
from django.http.request import split_domain_port, validate_host

from exchange_site import errors

logger = logging.getLogger("django.security.DisallowedHost")

_CACHE_MAX = 4096  # distinct Host values remembered (cleared when full: attackers vary it)


class HostCheck:
    """Django's Host validation as a cached predicate over raw Host header values. The
    settings it needs are read once and again whenever Django signals a change (tests)."""

    def __init__(self):
        self._verdicts: dict | None = None
        setting_changed.connect(self._reset)  # settings overrides (tests) apply at once

    def _reset(self, *, setting=None, **kwargs):
        self._verdicts = None

    def verdicts(self) -> dict:
        """raw Host (bytes or str, as found) → allowed; filled lazily."""
        verdicts = self._verdicts
        if verdicts is None:
            verdicts = self._verdicts = {}
            allowed = settings.ALLOWED_HOSTS
            if settings.DEBUG and not allowed:
                allowed = [".localhost", "127.0.0.1", "[::1]"]  # as HttpRequest.get_host
            self.allowed_hosts = list(allowed)
            self.use_forwarded_host = settings.USE_X_FORWARDED_HOST
            self.max_fields = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
            self.max_body = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return verdicts

    def allowed(self, raw) -> bool:
        verdict = self.verdicts().get(raw)
        return self.decide(raw) if verdict is None else verdict

    def decide(self, raw) -> bool:
        """Django's verdict for a Host value not seen before (then remembered)."""
        verdicts = self.verdicts()
        text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
        domain, _port = split_domain_port(text)
        verdict = bool(domain) and validate_host(domain, self.allowed_hosts)
        if len(verdicts) >= _CACHE_MAX:
            verdicts.clear()
        verdicts[raw] = verdict
        return verdict

    def raw_host(self, scope):
        """The Host Django would see for this scope (HttpRequest._get_raw_host over
        ASGIRequest): bytes from the headers, or str built from the server address."""
        found = [value for name, value in scope["headers"] if name == b"host"]
        host = found[0] if len(found) == 1 else b",".join(found) if found else None  # ASGIRequest joins repeats
        if self.use_forwarded_host:
            forwarded = None
            for name, value in scope["headers"]:
                if name == b"x-forwarded-host":
                    forwarded = value if forwarded is None else forwarded + b"," + value
            if forwarded is not None:
                return forwarded
        if host is not None:
            return host
        server = scope.get("server")
        name, port = (server[0], str(server[1])) if server else ("unknown", "0")
        secure = scope.get("scheme") in ("https", "wss")
        return name if port == ("443" if secure else "80") else f"{name}:{port}"


def is_jsonrpc(scope) -> bool:
    """`POST /` (every method but GET/HEAD on `/`): the JSON-RPC endpoint."""
    return scope["path"] == "/" and scope["method"] not in ("GET", "HEAD")


class SiteGuard:
    """ASGI middleware: Host validation for http and websocket scopes; size limits for the
    requests Django serves (``is_jsonrpc(scope)`` tells which are not: `POST /` has its own)."""

    def __init__(self, app, *, is_jsonrpc=is_jsonrpc):
        self.app = app
        self.hosts = HostCheck()
        self.is_jsonrpc = is_jsonrpc

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http":
            jsonrpc = self.is_jsonrpc(scope)
            if not self.http_host_allowed(scope):
                if jsonrpc:
                    return await errors.send_plain(send, 400, b"")  # JSON-RPC: empty 400
                return await errors.send_error(send, scope, 400, "disallowed_host", "Host not allowed.")
            if jsonrpc:
                return await self.app(scope, receive, send)  # JSONRPC_MAX_BODY applies there
            return await self._django(scope, receive, send)
        if kind == "websocket":
            hosts = self.hosts
            hosts.verdicts()
            raw = hosts.raw_host(scope)
            if not hosts.allowed(raw):
                logger.warning("Invalid HTTP_HOST header: %r (websocket refused)", raw)
                return await _refuse_websocket(scope, receive, send)
        return await self.app(scope, receive, send)

    def http_host_allowed(self, scope) -> bool:
        """Host validation of an HTTP scope; a refusal is logged. Also called by the
        JSON-RPC hot path in the HTTP protocol (exchange_site/rpc_protocol.py)."""
        hosts = self.hosts
        verdicts = hosts.verdicts()  # the settings snapshot, read once
        raw = hosts.raw_host(scope)
        ok = verdicts.get(raw)
        if ok is None:
            ok = hosts.decide(raw)
        if not ok:
            logger.warning("Invalid HTTP_HOST header: %r (refused before the application)", raw)
        return ok

    async def _django(self, scope, receive, send):
        max_fields = self.hosts.max_fields
        query = scope.get("query_string", b"")
        # the count of urllib.parse.parse_qsl(max_num_fields=...), as QueryDict
        if max_fields is not None and query and query.count(b"&") + 1 > max_fields:
            return await errors.send_error(
                send, scope, 400, "too_many_fields",
                f"Too many query parameters (more than {max_fields}).")
        limit = self.hosts.max_body
        if limit is None:
            return await self.app(scope, receive, send)
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return await errors.send_error(send, scope, 400, "bad_request", "Bad Content-Length.")
                break
        if declared is not None and declared > limit:
            return await errors.send_error(send, scope, 413, "request_too_large", _too_large(limit))
        state = {"size": 0, "refused": False}

        async def limited_receive():
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["size"] += len(message.get("body", b""))
                if state["size"] > limit:
                    state["refused"] = True
                    await errors.send_error(send, scope, 413, "request_too_large", _too_large(limit))
                    return {"type": "http.disconnect"}  # Django stops reading (RequestAborted)
            return message

        async def guarded_send(message):
            if not state["refused"]:
                await send(message)

        return await self.app(scope, limited_receive, guarded_send)


def _too_large(limit: int) -> str:
    return f"Request body larger than {limit} bytes."


async def _refuse_websocket(scope, receive, send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = b"Bad Request (400)"
        await send({"type": "websocket.http.response.start", "status": 400,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})  # the server answers 403
