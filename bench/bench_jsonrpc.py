"""Batch benchmark of the HTTP JSON-RPC endpoint: `order.put_limit` in batches.

Every request is `POST <url>` with a JSON **array** body of --batch `order.put_limit`
calls (spec README §6 batches); --concurrency keep-alive connections each send one batch at a
time (closed loop). About --cross-ratio of the orders are priced through the mid so that
they trade with resting orders of the other side; the rest rest in the book.

Phases: market.list (precisions) → deposits of both assets for --users fresh users (also
batched) → workload → report (orders/s, batches/s, taker fills, latency per batch, errors).
Only the standard library (asyncio streams, HTTP/1.1 keep-alive) + orjson if present;
--procs N splits the connections over N client processes.

`--serve-stand-in PORT` instead runs a matcher stand-in without durability (the real
Engine behind the real RPC server) to measure the access layer by itself.

Example (see docs/benchmarks.md "HTTP JSON-RPC"):
    .venv/bin/python bench/bench_jsonrpc.py --url http://127.0.0.1:8000/ --batch 100 \
        --concurrency 32 --orders 400000 --market BTCUSDT --mid 8000
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from decimal import ROUND_DOWN, Decimal
from urllib.parse import urlsplit

try:
    import orjson

    def dumps(obj) -> bytes:
        return orjson.dumps(obj)

    loads = orjson.loads
except ImportError:  # pragma: no cover
    def dumps(obj) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    loads = json.loads


class Http:
    """One HTTP/1.1 keep-alive connection."""

    def __init__(self, url: str, token: str | None):
        u = urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.path = u.path or "/"
        self.token = token
        self.reader = self.writer = None

    async def connect(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, body: bytes, timeout: float):
        head = (f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n")
        if self.token:
            head += f"Authorization: Bearer {self.token}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        return await asyncio.wait_for(self._response(), timeout)

    async def _response(self):
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        chunked = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            body = b"".join(parts)
        else:
            body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self):
        if self.writer:
            self.writer.close()


async def rpc(conn: Http, method: str, params: list, timeout=10.0):
    status, body = await conn.post(dumps({"method": method, "params": params, "id": 1}), timeout)
    if status != 200:
        raise RuntimeError(f"{method}: HTTP {status} {body[:200]!r}")
    reply = loads(body)
    if reply["error"]:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def q(value: Decimal, prec: int) -> str:
    return str(value.quantize(Decimal(1).scaleb(-prec), ROUND_DOWN))


class OrderGen:
    def __init__(self, args, market, seed):
        self.rng = random.Random(seed)
        self.args = args
        self.sp, self.mp = market["stock_prec"], market["money_prec"]
        self.name = market["name"]
        self.min_amount = Decimal(str(args.amount_min or market["min_amount"]))
        self.max_amount = Decimal(str(args.amount_max)) if args.amount_max else self.min_amount * 100
        self.mid = Decimal(str(args.mid))
        self.spread = Decimal(str(args.spread))

    def order(self, user: int) -> list:
        rng = self.rng
        side = rng.choice((1, 2))
        amount = self.min_amount + (self.max_amount - self.min_amount) * Decimal(rng.random())
        off = self.mid * self.spread * Decimal(rng.random())
        tick = Decimal(1).scaleb(-self.mp)
        if rng.random() < self.args.cross_ratio:  # through the mid: trades with the other side
            price = self.mid + off + tick if side == 2 else self.mid - off - tick
        else:  # passive: rests
            price = self.mid - off - tick if side == 2 else self.mid + off + tick
        return [user, self.name, side, q(amount, self.sp), q(price, self.mp),
                self.args.taker_fee, self.args.maker_fee, self.args.source]


async def setup(args) -> tuple[dict, list[int]]:
    conn = Http(args.url, args.token)
    await conn.connect()
    try:
        markets = await rpc(conn, "market.list", [])
        market = next((m for m in markets if m["name"] == args.market), None)
        if market is None:
            raise SystemExit(f"market {args.market} not in market.list")
        base = args.user_base or (int(time.time() * 1000) % 3_000_000_000 + 100_000)
        users = list(range(base, base + args.users))
        business_id = int(time.time() * 1e6)
        calls = []
        for i, user in enumerate(users):
            calls.append({"method": "balance.update", "id": 2 * i, "params": [
                user, market["money"], "deposit", business_id + 2 * i, args.deposit_money, {}]})
            calls.append({"method": "balance.update", "id": 2 * i + 1, "params": [
                user, market["stock"], "deposit", business_id + 2 * i + 1, args.deposit_stock, {}]})
        for k in range(0, len(calls), 500):
            status, body = await conn.post(dumps(calls[k:k + 500]), 30)
            errors = [r["error"] for r in loads(body) if r["error"]] if status == 200 else [status]
            if errors:
                raise SystemExit(f"deposit failed: {errors[:3]}")
        return market, users
    finally:
        conn.close()


async def worker_proc(args, market, users, n_conns, n_batches, seed, out):
    gen = OrderGen(args, market, seed)
    stats = {"orders_ok": 0, "orders": 0, "fills": 0, "batches": 0, "errors": {}, "lat": []}
    deadline = time.monotonic() + args.max_seconds
    remaining = [n_batches]
    rid = [0]

    async def one(k):
        conn = Http(args.url, args.token)
        await conn.connect()
        rng = random.Random(seed * 1000 + k)
        try:
            while remaining[0] > 0 and time.monotonic() < deadline:
                remaining[0] -= 1
                batch = []
                for _ in range(args.batch):
                    rid[0] += 1
                    batch.append({"method": "order.put_limit", "params": gen.order(rng.choice(users)), "id": rid[0]})
                t0 = time.perf_counter()
                try:
                    status, body = await conn.post(dumps(batch), args.timeout)
                except Exception as exc:  # noqa: BLE001
                    key = f"transport:{type(exc).__name__}"
                    stats["errors"][key] = stats["errors"].get(key, 0) + 1
                    conn.close()
                    conn = Http(args.url, args.token)
                    await conn.connect()
                    continue
                stats["lat"].append(time.perf_counter() - t0)
                stats["batches"] += 1
                stats["orders"] += len(batch)
                if status != 200:
                    key = f"http:{status}"
                    stats["errors"][key] = stats["errors"].get(key, 0) + len(batch)
                    continue
                for reply in loads(body):
                    err = reply["error"]
                    if err is None:
                        stats["orders_ok"] += 1
                        if reply["result"]["deal_stock"] not in ("0", "0e-8") and not reply["result"]["deal_stock"].startswith("0e"):
                            stats["fills"] += 1
                    else:
                        key = f"code {err['code']} {err['message']}"
                        stats["errors"][key] = stats["errors"].get(key, 0) + 1
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(n_conns)))
    stats["wall"] = time.perf_counter() - t0
    stats["cpu"] = time.process_time()
    out.put(stats)


def _proc_main(args, market, users, n_conns, n_batches, seed, out):
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(worker_proc(args, market, users, n_conns, n_batches, seed, out))


def serve_stand_in(port: int) -> None:
    """A matcher without durability: the real Engine (demo markets) behind the real RPC
    server (matcher/server.py) — to measure the access layer by itself."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, root)
    from matcher.server import serve
    from matcher.standin import EngineService

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    service = EngineService()
    print(f"stand-in matcher (no durability) on 127.0.0.1:{port}", flush=True)
    try:
        asyncio.run(serve(service, "127.0.0.1", port))
    except KeyboardInterrupt:
        pass


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--serve-stand-in"]:
        serve_stand_in(int(argv[1]) if len(argv) > 1 else 7316)
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8000/")
    p.add_argument("--token", default=os.environ.get("JSONRPC_SERVICE_TOKEN"), help="service token, if required")
    p.add_argument("--batch", type=int, default=100, help="orders per HTTP request (≤ 1000)")
    p.add_argument("--orders", type=int, default=200_000, help="orders in total")
    p.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    p.add_argument("--procs", type=int, default=1, help="client processes")
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--user-base", type=int, default=0)
    p.add_argument("--market", default="BTCUSDT")
    p.add_argument("--mid", default="8000")
    p.add_argument("--spread", default="0.01")
    p.add_argument("--cross-ratio", type=float, default=0.5)
    p.add_argument("--amount-min", default=None)
    p.add_argument("--amount-max", default=None)
    p.add_argument("--taker-fee", default="0.002")
    p.add_argument("--maker-fee", default="0.001")
    p.add_argument("--source", default="bench")
    p.add_argument("--deposit-money", default="100000000000")
    p.add_argument("--deposit-stock", default="10000000")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--max-seconds", type=float, default=300.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json-out")
    p.add_argument("--label", default="")
    args = p.parse_args(argv)
    if not 1 <= args.batch <= 1000:
        p.error("--batch must be 1..1000")

    market, users = asyncio.run(setup(args))
    total_batches = max(1, args.orders // args.batch)
    procs = max(1, min(args.procs, args.concurrency))
    out = multiprocessing.Queue()
    workers = []
    for i in range(procs):
        n_conns = args.concurrency // procs + (1 if i < args.concurrency % procs else 0)
        n_batches = total_batches // procs + (1 if i < total_batches % procs else 0)
        w = multiprocessing.Process(target=_proc_main, args=(args, market, users, n_conns, n_batches, args.seed + i, out))
        w.start()
        workers.append(w)
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()

    wall = max(r["wall"] for r in results)
    orders_ok = sum(r["orders_ok"] for r in results)
    orders = sum(r["orders"] for r in results)
    batches = sum(r["batches"] for r in results)
    fills = sum(r["fills"] for r in results)
    lat = sorted(x for r in results for x in r["lat"])
    errors: dict = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v

    def pct(x):
        return lat[min(len(lat) - 1, int(len(lat) * x))] * 1000 if lat else float("nan")

    report = {
        "label": args.label, "url": args.url, "batch": args.batch, "concurrency": args.concurrency,
        "procs": procs, "users": args.users, "market": args.market, "cross_ratio": args.cross_ratio,
        "wall_s": round(wall, 3), "orders_per_s": round(orders_ok / wall, 1) if wall else 0,
        "batches_per_s": round(batches / wall, 1) if wall else 0, "orders_sent": orders, "orders_ok": orders_ok,
        "taker_fills": fills, "errors": errors,
        "batch_latency_ms": {"p50": round(pct(0.5), 2), "p90": round(pct(0.9), 2), "p99": round(pct(0.99), 2),
                             "max": round(lat[-1] * 1000, 2) if lat else None,
                             "mean": round(statistics.fmean(lat) * 1000, 2) if lat else None},
        "client_cpu_s": round(sum(r["cpu"] for r in results), 2),
    }
    print(f"# target {args.url} market {args.market}; batch {args.batch}, concurrency {args.concurrency}, "
          f"procs {procs}, users {args.users}, cross {args.cross_ratio} {args.label}")
    print(f"wall_s          {report['wall_s']}")
    print(f"orders_per_s    {report['orders_per_s']}   (successful order.put_limit per second)")
    print(f"batches_per_s   {report['batches_per_s']}")
    print(f"orders_ok       {orders_ok} of {orders}")
    print(f"taker_fills     {fills}   ({100.0 * fills / max(1, orders_ok):.1f}% of orders traded on entry)")
    print(f"errors          {errors or 0}")
    print(f"batch latency   p50 {report['batch_latency_ms']['p50']} ms, p90 {report['batch_latency_ms']['p90']} ms, "
          f"p99 {report['batch_latency_ms']['p99']} ms, max {report['batch_latency_ms']['max']} ms")
    print(f"client_cpu_s    {report['client_cpu_s']}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(report, f, indent=2)
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
