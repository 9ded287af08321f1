"""Websocket benchmark (docs/benchmarks.md "Websocket"): N subscribed connections while
orders flow.

Starts its own stack as `make run` does — a private Tansu broker, `python -m matcher`,
uvicorn serving exchange_site.asgi (devrun.web_command), `manage.py realtime_bridge` —
on a fresh MySQL database (DATABASE_URL, dropped and re-created) and Redis keys under a
fresh prefix. `server.auth` goes to a tiny auth URL in this script (token = user id).

For each N in --conns: N websocket connections (one client process, asyncio), each
authenticated as user (i mod --users)+1 and subscribed to `order.subscribe BTCUSDT`, and
every --depth-every-th one also to `depth.subscribe BTCUSDT 10 "0"`. Then an order driver (another process) places resting
limit bids over HTTP JSON-RPC at --rate orders/s for --seconds, round-robin over the
users, recording when each was acknowledged — through a second uvicorn process (as
production runs several web workers), so the websocket process's load is measured alone. Latency of an order push = time the client
received `order.update` (put) − the acknowledgement time of that order (clamped at 0: the
push can beat the HTTP reply). Depth latency = receipt of the first depth push showing an
order's price − its acknowledgement (includes the bridge's poll interval, 0.5 s).
Memory per connection = growth of the web process's RSS (and the bridge's) / N.

    DATABASE_URL=mysql://root@127.0.0.1:3306/bench_websocket \\
        .venv/bin/python bench/bench_websocket.py --conns 1000,2500,5000 --rate 20 --seconds 20
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchdb import fresh_database  # bench/benchdb.py (scripts run from bench/)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} not open")


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


class Auth(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = json.dumps({"code": 0, "message": None, "data": {"user_id": int(self.headers["Authorization"])}})
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *a):
        pass


def rpc(port: int, method: str, params: list):
    body = json.dumps({"method": method, "params": params, "id": 1}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        reply = json.loads(r.read())
    if reply["error"]:
        raise RuntimeError(reply)
    return reply["result"]


# -- client process: N connections ----------------------------------------------------------
def clients_main(port, n, users, depth_every, ready, go, done, out):
    import uvloop

    uvloop.run(_clients(port, n, users, depth_every, ready, go, done, out))


async def _clients(port, n, users, depth_every, ready, go, done, out):
    from websockets.asyncio.client import connect

    orders: dict[int, list] = {}  # order id → receipt times (one per connection of its user)
    depth_prices: dict[str, float] = {}
    counts = {"msgs": 0, "errors": 0, "closed": 0}
    conns = []
    sem = asyncio.Semaphore(100)

    async def open_one(i):
        async with sem:
            for attempt in range(5):
                try:
                    ws = await connect(f"ws://127.0.0.1:{port}/ws", open_timeout=60, ping_interval=None,
                                       max_size=2**22)
                    break
                except Exception:  # noqa: BLE001
                    if attempt == 4:
                        counts["errors"] += 1
                        return
                    await asyncio.sleep(1)
            user = i % users + 1
            requests = [("server.auth", [str(user), "bench"]), ("order.subscribe", ["BTCUSDT"])]
            if i % depth_every == 0:
                requests.append(("depth.subscribe", ["BTCUSDT", 10, "0"]))
            for j, (m, p) in enumerate(requests):
                await ws.send(json.dumps({"method": m, "params": p, "id": j + 1}))
            conns.append(ws)

    async def reader(ws):
        try:
            async for raw in ws:
                now = time.time()
                counts["msgs"] += 1
                msg = json.loads(raw)
                method = msg.get("method")
                if method == "order.update":
                    orders.setdefault(msg["params"][1]["id"], []).append(now)
                elif method == "depth.update":
                    for price, amount in msg["params"][1].get("bids", []):
                        price = str(Decimal(price).normalize())
                        if amount != "0" and price not in depth_prices:
                            depth_prices[price] = now
        except Exception:  # noqa: BLE001
            counts["closed"] += 1

    t0 = time.monotonic()
    await asyncio.gather(*(open_one(i) for i in range(n)))
    open_s = time.monotonic() - t0
    readers = [asyncio.create_task(reader(ws)) for ws in conns]
    await asyncio.sleep(3)
    ready.set()
    while not go.is_set():
        await asyncio.sleep(0.1)
    while not done.is_set():
        await asyncio.sleep(0.1)
    await asyncio.sleep(3)  # stragglers
    out.put({"orders": orders, "depth": depth_prices, "open_s": open_s, "opened": len(conns), **counts})
    for ws in conns:
        await ws.close()
    for t in readers:
        t.cancel()


# -- driver process: orders at a steady rate ------------------------------------------------
def driver_main(port, users, rate, seconds, base_price, out):
    acks = {}
    t_end = time.monotonic() + seconds
    k = 0
    next_t = time.monotonic()
    while time.monotonic() < t_end:
        k += 1
        user = k % users + 1
        price = f"{base_price + k * 0.01:.2f}"
        try:
            order = rpc(port, "order.put_limit", [user, "BTCUSDT", 2, "0.001", price, "0.002", "0.001", "bench"])
        except Exception as exc:  # noqa: BLE001 - counted, the flow goes on
            acks.setdefault("failed", []).append(repr(exc)[:100])
            continue
        acks[order["id"]] = (time.time(), str(Decimal(price).normalize()))
        next_t += 1 / rate
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    out.put(acks)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", default="1000,2500,5000")
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--rate", type=float, default=20)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    ap.add_argument("--depth-every", type=int, default=1, help="every K-th connection also subscribes to depth")
    args = ap.parse_args()
    fresh_database("bench_websocket", seed=True)

    from exchange_site import devrun

    tmp = f"/tmp/bench_ws_{uuid.uuid4().hex[:6]}"
    os.makedirs(tmp)
    auth = ThreadingHTTPServer(("127.0.0.1", 0), Auth)
    threading.Thread(target=auth.serve_forever, daemon=True).start()
    kport, mport, wport, rport = free_port(), free_port(), free_port(), free_port()
    tag = uuid.uuid4().hex[:8]
    env = dict(os.environ, KAFKA_BOOTSTRAP=f"127.0.0.1:{kport}", MATCHER_RPC_PORT=str(mport), REDIS_URL=args.redis,
               REALTIME_KEY_PREFIX=f"bench:{tag}:rt:", MARKETDATA_KEY_PREFIX=f"bench:{tag}:md:",
               REALTIME_AUTH_URL=f"http://127.0.0.1:{auth.server_address[1]}/", LOG_FORMAT="console",
               DEBUG="false", SNAPSHOT_INTERVAL="0", ALERTS_ENABLED="false", MATCHER_HISTORY_LAG_LIMIT_S="5")
    procs = {}

    def start(name, argv):
        log = open(f"{tmp}/{name}.log", "ab")
        procs[name] = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)

    url = f"tcp://127.0.0.1:{kport}"
    start("kafka", [devrun._tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url])
    wait_port(kport)
    start("matcher", [sys.executable, "-m", "matcher"])
    wait_port(mport)
    start("web", shlex.split(devrun.web_command(wport)))
    start("web-rpc", shlex.split(devrun.web_command(rport)))  # the order driver's JSON-RPC
    start("bridge", [sys.executable, "manage.py", "realtime_bridge"])
    wait_port(wport)
    wait_port(rport)
    deadline = time.monotonic() + 60
    while len(rpc(wport, "market.list", [])) < 3:
        if time.monotonic() > deadline:
            raise RuntimeError("markets not synced")
        time.sleep(0.5)
    for u in range(1, args.users + 1):
        rpc(wport, "balance.update", [u, "USDT", "deposit", u, "100000000", {}])
    print(f"logs in {tmp}; load average {os.getloadavg()}", flush=True)
    print("| connections | opened | open time s | web RSS +MB | KB/conn (web) | bridge RSS MB | orders | "
          "order push p50 / p99 / max ms | received | depth p50 / p99 ms | msgs to clients | errors/closed |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    base_price = 1000.0
    for n in [int(x) for x in args.conns.split(",")]:
        web_before = rss_kb(procs["web"].pid)
        ctx = multiprocessing.get_context("spawn")
        ready, go, done, out = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Queue()
        cp = ctx.Process(target=clients_main, args=(wport, n, args.users, args.depth_every, ready, go, done, out))
        cp.start()
        if not ready.wait(900):
            print(f"| {n} | clients not ready in 900 s |")
            cp.kill()
            break
        web_after = rss_kb(procs["web"].pid)
        bridge_rss = rss_kb(procs["bridge"].pid)
        dout = ctx.Queue()
        cpu0 = {k: cpu_seconds(procs[k].pid) for k in ("web", "bridge")}
        cpu0["clients"] = cpu_seconds(cp.pid)
        t_go = time.monotonic()
        go.set()
        dp = ctx.Process(target=driver_main, args=(rport, args.users, args.rate, args.seconds, base_price, dout))
        dp.start()
        acks = dout.get(timeout=args.seconds + 600)
        failed = acks.pop("failed", [])
        dp.join()
        cpu = {k: cpu_seconds(procs[k].pid) - cpu0[k] for k in ("web", "bridge")}
        cpu["clients"] = cpu_seconds(cp.pid) - cpu0["clients"]
        span = time.monotonic() - t_go
        done.set()
        res = out.get(timeout=900)
        cp.join(60)
        base_price += 1000
        lat = [max(0.0, r - t) * 1000 for oid, (t, _) in acks.items() for r in res["orders"].get(oid, ())]
        expected = len(acks) * res["opened"] // args.users
        dlat = [max(0.0, res["depth"][p] - t) * 1000 for oid, (t, p) in acks.items() if p in res["depth"]]
        print(f"| {n} | {res['opened']} | {res['open_s']:.1f} | {(web_after - web_before) / 1024:.0f} | "
              f"{(web_after - web_before) / max(1, res['opened']):.1f} | {bridge_rss / 1024:.0f} | {len(acks)} | "
              f"{pct(lat, .5):.0f} / {pct(lat, .99):.0f} / {max(lat) if lat else float('nan'):.0f} | "
              f"{len(lat)}/{expected} | {pct(dlat, .5):.0f} / {pct(dlat, .99):.0f} | {res['msgs']} | "
              f"{res['errors']}/{res['closed']} |" + (f" {len(failed)} orders failed: {failed[0]}" if failed else ""),
              flush=True)
        print(f"  CPU during the order phase ({span:.0f} s): " + ", ".join(
            f"{k} {v:.1f} s ({100 * v / span:.0f} %)" for k, v in cpu.items()) + f"; load {os.getloadavg()[0]:.1f}",
              flush=True)
        time.sleep(5)
    for name in ("bridge", "web", "web-rpc", "matcher", "kafka"):
        p = procs[name]
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
    import redis

    r = redis.Redis.from_url(args.redis)
    keys = list(r.scan_iter(match=f"bench:{tag}:*"))
    if keys:
        r.delete(*keys)


if __name__ == "__main__":
    main()
