"""uvicorn's httptools HTTP protocol with the JSON-RPC hot path answered inside it.

`make run` serves with ``uvicorn --http exchange_site.rpc_protocol:RpcHttpProtocol``
(exchange_site/devrun.py). For a plain keep-alive HTTP/1.1 ``POST /`` it does what the ASGI
chain — SiteGuard → route → apps.trading.jsonrpc.JsonRpcApp — does, with the same code
(``SiteGuard.http_host_allowed``, ``JsonRpcApp._trusted`` and ``JsonRpcApp.dispatch``),
but without the per-request ASGI machinery: no task, no event, no receive/send messages,
and the reply written with one ``write`` (status line, headers and body together).
Every other request — other paths and methods, websockets, ``Expect: 100-continue``,
HTTP/1.0 or ``Connection: close``, a request pipelined behind one in flight, a client
not reading its replies, or a served application other than exchange_site.asgi's —
goes through uvicorn's own code and the ASGI application unchanged.

Order of the checks as in the ASGI chain: Host (empty 400), caller trust (empty 403),
body over ``JSONRPC_MAX_BODY`` (empty 400 as soon as it passes the limit) or empty
(empty 400), then the request (http-jsonrpc.md §1).
"""
from __future__ import annotations

import logging
import sys

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

logger = logging.getLogger("exchange_site.rpc_protocol")


class _NoEvent:
    """Stands in for the cycle's message event, which uvicorn sets on disconnect."""

    @staticmethod
    def set() -> None:
        pass


_NO_EVENT = _NoEvent()


class _RpcCycle:
    """One JSON-RPC request in flight on a connection. Has the attributes uvicorn's own
    protocol code reads from ``self.cycle`` (connection_lost, shutdown, pipelining)."""

    __slots__ = ("protocol", "chunks", "size", "response_complete", "disconnected", "keep_alive")

    message_event = _NO_EVENT

    def __init__(self, protocol: "RpcHttpProtocol"):
        self.protocol = protocol
        self.chunks: list[bytes] = []
        self.size = 0
        self.response_complete = False
        self.disconnected = False
        self.keep_alive = True

    def reply(self, status: int, body: bytes) -> None:
        if self.response_complete:
            return
        self.response_complete = True
        protocol = self.protocol
        transport = protocol.transport
        if self.disconnected or transport.is_closing():
            return
        transport.write(_response(protocol.server_state.default_headers, status, body))
        if not self.keep_alive:  # the server is shutting down
            transport.close()
        protocol.on_response_complete()


_heads: dict = {}
_heads_for = None


def _response(default_headers: list, status: int, body: bytes) -> bytes:
    """The whole response as uvicorn writes it: its default headers (date, server) first,
    then the JSON-RPC endpoint's own (apps.trading.jsonrpc._respond)."""
    global _heads_for
    if default_headers is not _heads_for:  # uvicorn renews the list (date) every second
        _heads.clear()
        _heads_for = default_headers
    key = (status, not body)
    head = _heads.get(key)
    if head is None:
        lines = [STATUS_LINE[status]]
        lines.extend(b"%s: %s\r\n" % (name.lower(), value) for name, value in default_headers)
        if body:
            lines.append(b"content-type: application/json\r\n")
        lines.append(b"content-length: ")
        head = _heads[key] = b"".join(lines)
    return b"%s%d\r\n\r\n%s" % (head, len(body), body)


class RpcHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        asgi = sys.modules.get("exchange_site.asgi")
        # only when uvicorn serves exchange_site.asgi's application as it is (no
        # proxy-headers or logging middleware around it, no access log to write): the hot
        # path stands for it
        served = asgi is not None and self.app is asgi.application and not self.access_log
        self.guard = asgi.application if served else None
        self.rpc_app = asgi.jsonrpc_app if self.guard is not None else None
        self.matcher = self.rpc_app.client if self.guard is not None else None
        self.receiving: _RpcCycle | None = None
        self.idle_since: float | None = None

    # -- keep-alive timeout: one timer per idle period, not one per request ---------------
    # uvicorn arms a timer after every response and cancels it on the next request; here
    # the timer checks when the connection went idle and re-arms itself for the rest.
    def _unset_keepalive_if_required(self) -> None:
        self.idle_since = None

    def on_response_complete(self) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.idle_since = None
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self.idle_since = self.loop.time()
            if self.timeout_keep_alive_task is None:
                self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._idle_check)

    def _idle_check(self) -> None:
        self.timeout_keep_alive_task = None
        if self.idle_since is None:
            return  # busy: armed again when its response is complete
        left = self.idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._idle_check)
        else:
            self.timeout_keep_alive_handler()

    # -- the hot path --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        # the ASGI scope is built in on_headers_complete, for the requests that need one
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        parser = self.parser
        cycle = self.cycle
        if (self.guard is not None and self.url == b"/" and parser.get_method() == b"POST"
                and not self.expect_100_continue and parser.get_http_version() == "1.1"
                and parser.should_keep_alive() and not parser.should_upgrade()
                and (cycle is None or cycle.response_complete) and not self.pipeline
                and not self.flow.write_paused and self.limit_concurrency is None):
            try:
                self._begin_rpc()
            except Exception:  # a bug or a broken setting: never a traceback to the caller
                logger.exception("JSON-RPC request failed")
                self.receiving = None
                if self.cycle.__class__ is _RpcCycle:
                    self.cycle.reply(500, b"")
        else:
            url, headers, expect = self.url, self.headers, self.expect_100_continue
            super().on_message_begin()  # uvicorn's scope
            self.url, self.headers, self.expect_100_continue = url, headers, expect
            self.scope["headers"] = headers
            super().on_headers_complete()

    def _begin_rpc(self) -> None:
        # what SiteGuard and JsonRpcApp read of the scope
        scope = self.scope = {"type": "http", "method": "POST", "path": "/", "headers": self.headers,
                              "client": self.client, "server": self.server, "scheme": self.scheme}
        rpc = _RpcCycle(self)
        self.cycle = rpc  # a request pipelined behind it waits in uvicorn's queue
        if not self.guard.http_host_allowed(scope):
            rpc.reply(400, b"")
            return
        app = self.rpc_app
        app.ensure_configured()
        if not app._trusted(scope):
            rpc.reply(403, b"")
            return
        self.receiving = rpc

    def on_body(self, body: bytes) -> None:
        rpc = self.receiving
        if rpc is None:
            if self.cycle.__class__ is not _RpcCycle:  # refused one: the rest is not read
                super().on_body(body)
            return
        rpc.size += len(body)
        if rpc.size > self.rpc_app.max_body:
            self.receiving = None
            rpc.chunks.clear()
            rpc.reply(400, b"")
            return
        rpc.chunks.append(body)

    def on_message_complete(self) -> None:
        rpc = self.receiving
        if rpc is None:
            if self.cycle.__class__ is not _RpcCycle:
                super().on_message_complete()
            return
        self.receiving = None
        chunks = rpc.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        rpc.chunks = None
        if not body:
            rpc.reply(400, b"")
            return
        try:
            self.rpc_app.dispatch(body, rpc.reply, self.matcher)
        except Exception:  # a bug: never a traceback to the caller
            logger.exception("JSON-RPC request failed")
            rpc.reply(500, b"")
