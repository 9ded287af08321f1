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
from django.http.request import split_domain_port, validate_host

from exchange_site import errors

logger = logging.getLogger("django.security.DisallowedHost")

_CACHE_MAX = 4096  # distinct Host values remembered (cleared when full: attackers vary it)


class HostCheck:
    """Django's Host validation as a cached predicate over raw Host header values."""

    def __init__(self):
        self._key = None
        self._verdicts: dict = {}

    def _allowed_hosts(self):
        allowed = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed:
            allowed = [".localhost", "127.0.0.1", "[::1]"]  # as HttpRequest.get_host
        return allowed

    def allowed(self, raw: str) -> bool:
        key = (settings.ALLOWED_HOSTS, settings.DEBUG)  # settings overrides (tests) apply at once
        if key != self._key:
            self._key, self._verdicts = key, {}
        verdict = self._verdicts.get(raw)
        if verdict is None:
            domain, _port = split_domain_port(raw)
            verdict = bool(domain) and validate_host(domain, self._allowed_hosts())
            if len(self._verdicts) >= _CACHE_MAX:
                self._verdicts.clear()
            self._verdicts[raw] = verdict
        return verdict


def raw_host(scope) -> str:
    """The Host Django would see for this scope (HttpRequest._get_raw_host over ASGIRequest)."""
    host = forwarded = None
    use_forwarded = settings.USE_X_FORWARDED_HOST
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value if host is None else host + b"," + value  # ASGIRequest joins repeats
        elif use_forwarded and name == b"x-forwarded-host":
            forwarded = value if forwarded is None else forwarded + b"," + value
    if forwarded is not None:
        return forwarded.decode("latin-1")
    if host is not None:
        return host.decode("latin-1")
    server = scope.get("server")
    name, port = (server[0], str(server[1])) if server else ("unknown", "0")
    secure = scope.get("scheme") in ("https", "wss")
    return name if port == ("443" if secure else "80") else f"{name}:{port}"


def is_jsonrpc(scope) -> bool:
    """`POST /` (every method but GET/HEAD on `/`): the JSON-RPC endpoint."""
    return scope["path"] == "/" and scope["method"] not in ("GET", "HEAD")


class SiteGuard:
    """ASGI middleware: Host validation for http and websocket scopes; size limits for the
    requests Django serves (``jsonrpc(scope)`` tells which are not)."""

    def __init__(self, app, *, is_jsonrpc=is_jsonrpc):
        self.app = app
        self.hosts = HostCheck()
        self.is_jsonrpc = is_jsonrpc

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http":
            raw = raw_host(scope)
            if not self.hosts.allowed(raw):
                logger.warning("Invalid HTTP_HOST header: %r (refused before the application)", raw)
                if self.is_jsonrpc(scope):
                    return await errors.send_plain(send, 400, b"")  # JSON-RPC: empty 400
                return await errors.send_error(send, scope, 400, "disallowed_host", "Host not allowed.")
            if self.is_jsonrpc(scope):
                return await self.app(scope, receive, send)  # JSONRPC_MAX_BODY applies there
            return await self._django(scope, receive, send)
        if kind == "websocket":
            raw = raw_host(scope)
            if not self.hosts.allowed(raw):
                logger.warning("Invalid HTTP_HOST header: %r (websocket refused)", raw)
                return await _refuse_websocket(scope, receive, send)
        return await self.app(scope, receive, send)

    async def _django(self, scope, receive, send):
        max_fields = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        query = scope.get("query_string", b"")
        # the count of urllib.parse.parse_qsl(max_num_fields=...), as QueryDict
        if max_fields is not None and query and query.count(b"&") + 1 > max_fields:
            return await errors.send_error(
                send, scope, 400, "too_many_fields",
                f"Too many query parameters (more than {max_fields}).")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
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
