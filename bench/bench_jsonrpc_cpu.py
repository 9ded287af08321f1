"""CPU per request of the web process's JSON-RPC hot path, without sockets.

Drives exchange_site.asgi:application through uvicorn's own HTTP protocol (the one
`make run` uses: httptools on uvloop) over in-memory transports: --conns keep-alive
connections send the request bodies viabtc_rpc_load.py sends (`order.put_limit`, ~10 %
`order.cancel`, the same headers), the MatcherClient's connection answers every frame at once
with an order object. What is left out: the socket system calls of the real server and
the matcher's own time. So the figure is the Python/C work per request in the web process —
a lower bound of what `bench/run_http_stack.sh` reads from /proc.

    .venv/bin/python bench/bench_jsonrpc_cpu.py [--requests 50000] [--conns 32] [--http httptools] [--profile out.prof]
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
os.environ.setdefault("DEBUG", "false")

import orjson  # noqa: E402

ORDER = {"id": 0, "market": "BTCUSDT", "source": "bench", "type": 1, "side": 2, "user": 166429382,
         "ctime": 1765000000.123456, "mtime": 1765000000.123456, "price": "8160.00",
         "amount": "0.05284120", "taker_fee": "0.002", "maker_fee": "0.001", "left": "0",
         "deal_stock": "0.05284120", "deal_money": "430.28", "deal_fee": "0.00010568"}


def request_bytes(rng: random.Random, rid: int, host: str) -> bytes:
    """One request as viabtc_rpc_load.py writes it (json.dumps, compact)."""
    import json

    if rng.random() < 0.1:
        method, params = "order.cancel", [166429382 + rng.randrange(200), "BTCUSDT", rng.randrange(1, 10**6)]
    else:
        side = 1 if rng.random() < 0.5 else 2
        params = [166429382 + rng.randrange(200), "BTCUSDT", side, f"{rng.uniform(0.001, 0.1):.8f}",
                  f"{8000 * rng.uniform(0.98, 1.02):.2f}", "0.002", "0.001", "bench"]
        method = "order.put_limit"
    body = json.dumps({"method": method, "params": params, "id": rid}, separators=(",", ":")).encode()
    return (f"POST / HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: keep-alive\r\n\r\n").encode() + body


class MatcherTransport:
    """The matcher: answers each request frame with an order object, on the next loop turn."""

    def __init__(self, conn, loop):
        from matcher.frames import FrameReader, pack_header

        self.conn, self.loop = conn, loop
        self.reader = FrameReader(1 << 30)
        self.pack_header = pack_header
        self.frames = 0

    def write(self, data):
        out = []
        for body in self.reader.feed(data)[0]:
            rid = orjson.loads(body)["id"]
            reply = orjson.dumps({"id": rid, "error": None, "result": dict(ORDER, id=rid)})
            out.append(self.pack_header(len(reply)))
            out.append(reply)
            self.frames += 1
        self.loop.call_soon(self.conn.data_received, b"".join(out))

    def get_extra_info(self, name, default=None):
        return default

    def is_closing(self):
        return False

    def close(self):
        pass

    abort = close


class HttpTransport(asyncio.Transport):
    """One client connection: the next request goes out once the previous reply is complete."""

    def __init__(self, bench, idx):
        super().__init__()
        self.bench, self.idx = bench, idx
        self.received = 0
        self.expect = None
        self.protocol = None

    def write(self, data):
        self.received += len(data)
        if self.expect is None:
            head, sep, rest = bytes(data).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
            length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
            self.expect = len(head) + len(sep) + length
        if self.received >= self.expect:
            self.received, self.expect = 0, None
            self.bench.done += 1
            self.bench.loop.call_soon(self.bench.send_next, self)

    def get_extra_info(self, name, default=None):
        if name == "peername":
            return ("127.0.0.1", 40000 + self.idx)
        if name == "sockname":
            return ("127.0.0.1", 8000)
        return default

    def is_closing(self):
        return False

    def close(self):
        pass

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def set_write_buffer_limits(self, high=None, low=None):
        pass

    def get_write_buffer_size(self):
        return 0


class Bench:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(1)
        self.requests = [request_bytes(self.rng, i + 1, "127.0.0.1:8000") for i in range(4096)]
        self.sent = 0
        self.done = 0

    def send_next(self, transport):
        if self.sent >= self.total:
            if self.done >= self.total:
                self.finished.set_result(None) if not self.finished.done() else None
            return
        data = self.requests[self.sent % len(self.requests)]
        self.sent += 1
        transport.protocol.data_received(data)

    async def run(self, total, profile=None):
        from uvicorn.config import Config
        from uvicorn.server import ServerState

        from apps.trading import client as client_mod
        from exchange_site.asgi import application

        self.loop = asyncio.get_running_loop()
        # the matcher client of this loop, connected to the in-memory matcher
        client = client_mod.get_client()
        client.pool_size = 1
        client._conns = [None]
        client._connecting = [None]
        conn = client_mod._Conn(client)
        conn.connection_made(MatcherTransport(conn, self.loop))
        client._conns[0] = conn

        config = Config(app=application, loop="uvloop", http=self.args.http, lifespan="off",
                        proxy_headers=False, access_log=False, log_level="warning")
        config.load()
        state = ServerState()
        transports = []
        for i in range(self.args.conns):
            t = HttpTransport(self, i)
            p = config.http_protocol_class(config=config, server_state=state, app_state={})
            p.connection_made(t)
            t.protocol = p
            transports.append(t)
        self.total, self.sent, self.done = total, 0, 0
        self.finished = self.loop.create_future()
        c0 = time.process_time()
        w0 = time.perf_counter()
        if profile is not None:
            profile.enable()
        for t in transports:
            self.send_next(t)
        await self.finished
        if profile is not None:
            profile.disable()
        cpu = time.process_time() - c0
        wall = time.perf_counter() - w0
        for p in [t.protocol for t in transports]:
            if p.timeout_keep_alive_task is not None:
                p.timeout_keep_alive_task.cancel()
        return cpu, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=50_000)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--http", default="exchange_site.rpc_protocol:RpcHttpProtocol",
                    help="uvicorn --http: the protocol `make run` uses (default) or httptools")
    ap.add_argument("--profile", help="write cProfile stats of the last round to this file")
    args = ap.parse_args()
    import django

    django.setup()
    import uvloop

    bench = Bench(args)

    async def go():
        await bench.run(2000)  # warm-up
        best = None
        for r in range(args.rounds):
            prof = cProfile.Profile() if args.profile and r == args.rounds - 1 else None
            cpu, wall = await bench.run(args.requests, prof)
            us = cpu / args.requests * 1e6
            print(f"round {r + 1}: {args.requests} requests, {us:.1f} µs CPU per request, "
                  f"{args.requests / wall:,.0f} req/s{' (profiled)' if prof else ''}")
            if prof is None:
                best = us if best is None else min(best, us)
            else:
                prof.dump_stats(args.profile)
        print(f"best: {best:.1f} µs CPU per request")

    uvloop.run(go())


if __name__ == "__main__":
    main()
