"""Market-data benchmark (docs/benchmarks.md "Market data").

Phase `catchup`: a private Tansu broker, --deals deals (3 markets, random prices, amounts
and times over 3 days, in the exact `deals` format of matcher/sinks/kafka.py) produced to a
fresh topic first; then `manage.py marketdata_consumer` is started and timed until every
message is applied (its stored position reaches the end). CPU of the consumer process
from /proc/<pid>/stat.

Phase `latency`: the real matcher (MatcherService in process, durable operation log,
history + Kafka on) and the consumer process; --clients concurrent loops each place a
resting ask then a crossing bid (one fill per pair), at most --rate pairs per second in
all, for --seconds; a separate process polls the read path (`selectors.recent_deals`, what
market.deals answers) every millisecond. Latency = wall time when a deal is first seen −
the deal's own time (set by the matcher when it executes, before the acknowledgement: an
upper bound of "acknowledged → visible").

    DATABASE_URL=mysql://root@127.0.0.1:3306/bench_marketdata \\
        .venv/bin/python bench/bench_marketdata.py [--phase catchup|latency|both] [--deals 1000000]

The database named in DATABASE_URL is dropped and re-created (MySQL only). Redis: keys
under a fresh prefix in --redis (default db 15), deleted at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import subprocess
import sys
import time
import uuid

from benchdb import fresh_database  # bench/benchdb.py (scripts run from bench/)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else 0.0


def consumer_proc(env: dict, log_path: str) -> subprocess.Popen:
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "manage.py", "marketdata_consumer"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def produce_stream(bootstrap: str, topic: str, n: int) -> float:
    from decimal import Decimal

    from confluent_kafka import Producer

    from matcher.core import DealEvent
    from matcher.sinks.kafka import message_of

    rnd = random.Random(1)
    markets = [("BTCUSDT", Decimal("8000.00")), ("ETHUSDT", Decimal("300.00")), ("ETHBTC", Decimal("0.037000"))]
    prices = {m: p for m, p in markets}
    end = time.time() - 60
    t = end - 3 * 86400
    step = 3 * 86400 / n
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 20,
                  "batch.num.messages": 10000, "queue.buffering.max.messages": 1_000_000})
    t0 = time.monotonic()
    for i in range(1, n + 1):
        m = markets[rnd.randrange(3)][0]
        price = max(prices[m] + prices[m] * Decimal(rnd.randint(-10, 10)) / 10000, Decimal("0.01"))
        price = price.quantize(Decimal("0.01") if m != "ETHBTC" else Decimal("0.000001"))
        prices[m] = price
        amount = Decimal(rnd.randint(1, 10**6)) / Decimal(10**6)
        t += rnd.uniform(0, 2 * step)
        ev = DealEvent((i, int(t * 1e6), m, m[:3], m[3:], i, price, amount, price * amount, rnd.choice((1, 2)),
                        2 * i, 2 * i + 1, 1, 2, Decimal(0), Decimal(0), 1, 2))
        _topic, key, value = message_of(ev)
        while True:
            try:
                p.produce(topic, value, key, headers=[("seq", b"%d" % i)])
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
    assert p.flush(120) == 0
    return time.monotonic() - t0


def catchup(args, env_base: dict, bootstrap: str) -> dict:
    import redis

    from tests.apps.marketdata.streams import create_topic

    topic = f"bench{uuid.uuid4().hex[:8]}.deals"
    create_topic(bootstrap, topic)
    print(f"producing {args.deals:,} deals to {topic} …", flush=True)
    produced_in = produce_stream(bootstrap, topic, args.deals)
    print(f"  produced in {produced_in:.1f}s", flush=True)
    prefix = f"bench:{uuid.uuid4().hex[:8]}:md:"
    env = dict(env_base, MARKETDATA_KEY_PREFIX=prefix, MARKETDATA_DEALS_TOPIC=topic)
    r = redis.Redis.from_url(args.redis)
    t0 = time.monotonic()
    proc = consumer_proc(env, "/tmp/bench_marketdata_catchup.log")
    pos = 0
    try:
        while time.monotonic() - t0 < args.timeout:
            v = r.hget(prefix + "offsets", f"{topic}:0")
            pos = int(v.split(b"|")[0]) if v else 0
            if pos >= args.deals:
                break
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid)
    finally:
        stop(proc)
        keys = list(r.scan_iter(match=prefix + "*", count=1000))
        if keys:
            r.delete(*keys)
    res = {"deals": pos, "elapsed_s": round(elapsed, 2), "deals_per_s": round(pos / elapsed),
           "consumer_cpu_s": round(cpu, 2), "cpu_us_per_deal": round(cpu / max(pos, 1) * 1e6, 1)}
    print("catch-up:", res, flush=True)
    return res


def _poller(url, prefix, market, done, out, ready):
    import django

    django.setup()
    import redis

    from apps.marketdata.store import Store

    store = Store(redis.Redis.from_url(url), prefix)
    seen = {}
    last = max([d["id"] for d in store.recent(market, 1, 0)] or [0])
    ready.set()
    while not done.is_set():
        rows = store.recent(market, 10000, last)
        now = time.time()
        for d in rows:
            seen.setdefault(d["id"], now - d["time"])  # wall clock: seen − the deal's own time
        if rows:
            last = max(last, rows[0]["id"])
        time.sleep(0.001)
    out.put(seen)


async def _drive(service, rate: float, seconds: float, clients: int) -> int:
    """`clients` concurrent loops, each placing a resting ask then a crossing bid of the same
    size (user 2k+1 sells, 2k+2 buys); together at most `rate` pairs per second."""
    stop_at = time.monotonic() + seconds
    done = [0]

    async def put(params):
        while True:
            rep = await service.call("order.put_limit", params)
            if rep["error"] is None:
                return
            assert rep["error"]["code"] == 3, rep  # back-pressure (e.g. history lagging): back off
            await asyncio.sleep(0.01)

    async def loop(k):
        interval = clients / rate
        t_next = time.monotonic()
        while time.monotonic() < stop_at:
            await put([2 * k + 1, "BTCUSDT", 1, "0.01", "8000", "0.002", "0.001", "bench"])
            await put([2 * k + 2, "BTCUSDT", 2, "0.01", "8000", "0.002", "0.001", "bench"])
            done[0] += 1
            t_next += interval
            delay = t_next - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    await asyncio.gather(*(loop(k) for k in range(clients)))
    return done[0]


def latency(args, env_base: dict, bootstrap: str) -> dict:
    import redis

    from matcher.service import MatcherService

    tprefix = f"lat{uuid.uuid4().hex[:8]}."
    prefix = f"bench:{uuid.uuid4().hex[:8]}:md:"
    env = dict(env_base, MARKETDATA_KEY_PREFIX=prefix, MARKETDATA_DEALS_TOPIC=tprefix + "deals")
    from django.conf import settings

    settings.MATCHER_KAFKA_TOPIC_PREFIX = tprefix
    r = redis.Redis.from_url(args.redis)

    async def run():
        s = MatcherService.from_settings(kafka_bootstrap=bootstrap, history=True, snapshot_interval=0)
        await s.start()
        for m, p in (("asset.put", ["BTC", 20, 8]), ("asset.put", ["USDT", 20, 8]),
                     ("market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001", True])):
            assert (await s.call(m, p))["error"] is None
        for k in range(args.clients):
            assert (await s.call("balance.update", [2 * k + 1, "BTC", "deposit", 2 * k + 1, "1000000", {}]))[
                "error"] is None
            assert (await s.call("balance.update", [2 * k + 2, "USDT", "deposit", 2 * k + 2, "100000000000", {}]))[
                "error"] is None
        # warm-up: the topic exists and the consumer is reading it
        await _drive(s, 50, 1.0, 1)
        proc = consumer_proc(env, "/tmp/bench_marketdata_latency.log")
        try:
            while not r.get(prefix + "m:BTCUSDT:last"):
                await asyncio.sleep(0.05)
            base = r.get(prefix + "m:BTCUSDT:last")
            first_id = int(base.split(b"|")[0])
            while True:  # the warm-up deals all applied
                await asyncio.sleep(0.2)
                if r.get(prefix + "m:BTCUSDT:last") == base:
                    break
                base = r.get(prefix + "m:BTCUSDT:last")
            first_id = int(base.split(b"|")[0])
            ctx = multiprocessing.get_context("spawn")
            q, ready, done = ctx.Queue(), ctx.Event(), ctx.Event()
            poller = ctx.Process(target=_poller, args=(args.redis, prefix, "BTCUSDT", done, q, ready))
            poller.start()
            await asyncio.get_running_loop().run_in_executor(None, ready.wait, 120)
            cpu0 = cpu_seconds(proc.pid)
            acks = await _drive(s, args.rate, args.seconds, args.clients)
            await asyncio.sleep(5)  # the last fills reach market data
            done.set()
            seen = await asyncio.get_running_loop().run_in_executor(None, q.get)
            poller.join()
            cpu = cpu_seconds(proc.pid) - cpu0
        finally:
            stop(proc)
            await s.stop()
        return acks, seen, first_id, cpu

    acks, seen, first_id, cpu = asyncio.run(run())
    ids = sorted(i for i in seen if i > first_id)
    lat = [seen[i] for i in ids]
    if args.verbose:
        worst = sorted(range(len(lat)), key=lambda i: -lat[i])[:10]
        print("worst (index of deal, ms):", [(i, round(lat[i] * 1000)) for i in worst])
    keys = list(r.scan_iter(match=prefix + "*", count=1000))
    if keys:
        r.delete(*keys)
    res = {"pairs": acks, "deals_seen": len(ids), "deals_per_s": round(len(ids) / args.seconds),
           "clients": args.clients,
           "p50_ms": round(pct(lat, 0.5) * 1000, 1), "p99_ms": round(pct(lat, 0.99) * 1000, 1),
           "max_ms": round(max(lat) * 1000, 1) if lat else None,
           "consumer_cpu_us_per_deal": round(cpu / max(len(ids), 1) * 1e6, 1)}
    print("latency:", res, flush=True)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phase", choices=("catchup", "latency", "both"), default="both")
    ap.add_argument("--deals", type=int, default=1_000_000)
    ap.add_argument("--rate", type=float, default=5000.0, help="order pairs per second at most (latency phase)")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--clients", type=int, default=16, help="concurrent order loops in the latency phase")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    fresh_database("bench_marketdata")
    import django

    django.setup()
    from tests.backing import KafkaBroker

    broker = KafkaBroker().start()
    env_base = dict(os.environ, KAFKA_BOOTSTRAP=broker.bootstrap, MARKETDATA_REDIS_URL=args.redis,
                    LOG_FORMAT="console")
    try:
        if args.phase in ("catchup", "both"):
            catchup(args, env_base, broker.bootstrap)
        if args.phase in ("latency", "both"):
            latency(args, env_base, broker.bootstrap)
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
