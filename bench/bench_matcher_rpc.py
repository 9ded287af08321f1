"""CPU per accepted order of the matcher process, over its own RPC protocol (no web
server in between): docs/benchmarks.md "Matcher process CPU per order".

    .venv/bin/python bench/bench_matcher_rpc.py [--orders 30000] [--concurrency 32]
        [--pool 4] [--profile FILE] [--no-kafka] [--no-history]

A fresh MariaDB database (bench_matcher_rpc_<pid>, dropped after), `manage.py migrate` +
`seed_markets`, a private Tansu broker, `python -m matcher` (optionally under cProfile:
`--profile FILE`, the event-loop thread only), then this process as the client
(apps.trading.client.MatcherClient): 1000 funded users, `order.put_limit` on BTCUSDT,
half of them priced through the book. Reported: orders/s, latency p50/p99, refusals, and
the CPU (utime + stime from /proc) per accepted order of the matcher process — its
event-loop thread and its other threads (operation-log writer, followers' report
readers) apart — and of its children (history, Kafka and snapshot followers).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
from bench.procstat import children, cpu_s, role  # noqa: E402
from bench.workload import limit_order  # noqa: E402


def cpu_breakdown(pid: int) -> dict:
    """Seconds of CPU: matcher event-loop thread, its other threads, each child process."""
    out = {"loop_thread": 0.0, "other_threads": 0.0}
    for tid in os.listdir(f"/proc/{pid}/task"):
        out["loop_thread" if int(tid) == pid else "other_threads"] += cpu_s(f"/proc/{pid}/task/{tid}/stat")
    for c in children(pid):
        name = role(c)
        out[name] = out.get(name, 0.0) + cpu_s(f"/proc/{c}/stat")
    return out


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else 0.0


async def load(args, port):
    from apps.trading.client import MatcherClient

    client = MatcherClient("127.0.0.1", port, timeout=30, pool_size=args.pool)
    users = 1000

    async def must(method, params):
        while True:
            rep = await client.request(method, params)
            if rep["error"] is None:
                return rep
            if rep["error"]["code"] != 3:
                raise SystemExit(f"{method} {params}: {rep['error']}")
            await asyncio.sleep(0.05)

    bid = 0
    for u in range(1, users + 1):
        for asset, amt in (("BTC", "1000000"), ("USDT", "10000000000")):
            bid += 1
            await must("balance.update", [u, asset, "deposit", bid, amt, {}])
    lat, refused = [], [0]
    reasons: dict = {}
    todo = [args.orders]

    async def worker(i, count, record):
        r = random.Random(i)
        while count[0] > 0:
            count[0] -= 1
            t0 = time.perf_counter()
            rep = await client.request("order.put_limit", limit_order(r, users))
            if rep["error"] is not None:
                refused[0] += 1
                reason = (rep["error"].get("data") or {}).get("reason", rep["error"]["message"])
                reasons[reason] = reasons.get(reason, 0) + 1
                count[0] += 1
                await asyncio.sleep(0.001)
                continue
            if record:
                lat.append(time.perf_counter() - t0)

    await asyncio.gather(*[worker(1000 + i, [max(200, args.orders // 20) // args.concurrency], False)
                           for i in range(args.concurrency)])  # warm-up
    refused[0] = 0
    reasons.clear()
    return (client, lambda: asyncio.gather(*[worker(i, todo, True) for i in range(args.concurrency)]), lat, refused,
            reasons)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=30000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--pool", type=int, default=4, help="client connections")
    ap.add_argument("--profile", metavar="FILE")
    ap.add_argument("--no-kafka", action="store_true")
    ap.add_argument("--no-history", action="store_true")
    ap.add_argument("--snapshot-interval", default="3600")
    args = ap.parse_args()
    import MySQLdb

    db = f"bench_matcher_rpc_{os.getpid()}"
    conn = MySQLdb.connect(host="127.0.0.1", user="root")
    conn.cursor().execute(f"CREATE DATABASE {db} CHARACTER SET utf8mb4")
    env = dict(os.environ, DATABASE_URL=f"mysql://root@127.0.0.1:3306/{db}")
    os.environ["DATABASE_URL"] = env["DATABASE_URL"]
    broker = proc = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        subprocess.run([sys.executable, "manage.py", "seed_markets"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        import django

        django.setup()
        from tests.backing import KafkaBroker, free_port, wait_port

        port = free_port()
        menv = dict(env, MATCHER_RPC_PORT=str(port), SNAPSHOT_INTERVAL=args.snapshot_interval,
                    MATCHER_HISTORY="false" if args.no_history else "true",
                    MATCHER_KAFKA="false" if args.no_kafka else "true")
        if not args.no_kafka:
            broker = KafkaBroker().start()
            menv["KAFKA_BOOTSTRAP"] = broker.bootstrap
        # the profile counts the event-loop thread's CPU time (time.thread_time), not wall time
        # (on a busy box wall time is mostly waiting for a core)
        profiled = ("import cProfile, runpy, sys, time\n"
                    "p = cProfile.Profile(time.thread_time)\n"
                    "sys.argv = ['matcher']\n"
                    "p.enable()\n"
                    "try:\n    runpy.run_module('matcher', run_name='__main__')\n"
                    "except SystemExit:\n    pass\n"
                    f"p.disable()\np.dump_stats({args.profile!r})\n")
        cmd = [sys.executable] + (["-c", profiled] if args.profile else ["-m", "matcher"])
        proc = subprocess.Popen(cmd, cwd=ROOT, env=menv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port("127.0.0.1", port, timeout=120)

        async def go():
            client, run, lat, refused, reasons = await load(args, port)
            await asyncio.sleep(1)
            c0, t0 = cpu_breakdown(proc.pid), time.monotonic()
            await run()
            c1, t1 = cpu_breakdown(proc.pid), time.monotonic()
            await client.close()
            n = len(lat)
            us = {k: round((c1[k] - c0.get(k, 0.0)) * 1e6 / n, 1) for k in c1}
            us["matcher_process"] = round(us["loop_thread"] + us["other_threads"], 1)
            return {"orders": n, "orders_per_s": round(n / (t1 - t0)), "refused": refused[0], "refused_by": reasons,
                    "p50_ms": round(pct(lat, 0.5) * 1000, 2), "p99_ms": round(pct(lat, 0.99) * 1000, 2),
                    "cpu_us_per_order": us, "loadavg": open("/proc/loadavg").read().split()[:3]}

        print(asyncio.run(go()), flush=True)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        if broker is not None:
            broker.stop()
        conn.cursor().execute(f"DROP DATABASE IF EXISTS {db}")
    if args.profile:
        import pstats

        pstats.Stats(args.profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
