"""Matcher core benchmark (docs/benchmarks.md, "Matcher core").

    .venv/bin/python bench/bench_core.py [--commands N] [--resting N] [--profile N] [--no-events]

Phase 1: 100 users, BTCUSDT (stock_prec 8, money_prec 2, fee_prec 4, min_amount 0.001,
prec_save 20), limit orders around a mid price so that about half cross, 10 % cancels;
reports commands/s (wall clock and per CPU second of this process — the latter is the
figure to compare on a shared machine) and p50/p99 per-command latency (events are
generated as in production; nothing consumes them; ``--no-events``: an event-less engine,
``Engine(events=False)``, as the matcher process runs when its followers derive the events).
Phase 2: places N non-crossing orders on a fresh engine and reports peak memory.
Phase 3: cProfile of a shorter phase-1 run, top functions by own time.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import random
import resource
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from matcher.core import Engine  # noqa: E402

T0 = 1_700_000_000_000_000
USERS = 100


EVENTS = True


def setup():
    e = Engine(events=EVENTS)
    for a in ("BTC", "ETH", "USDT"):
        assert e.execute("asset.put", [a, 20, 8], T0).error is None
    assert e.execute("market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001", True], T0).error is None
    assert e.execute("config.fee_account", [1_000_000], T0).error is None
    for u in range(1, USERS + 1):
        assert e.execute("balance.update", [u, "BTC", "deposit", u, "100000000", {}], T0).error is None
        assert e.execute("balance.update", [u, "USDT", "deposit", u, "900000000000", {}], T0).error is None
    return e


def gen_commands(n, seed=1):
    """Limit orders around mid 10000: asks at mid-15..mid+9, bids at mid-9..mid+15, so
    that about half of them cross; 10 % cancels of one of the last 2000 orders."""
    rnd = random.Random(seed)
    cmds = []
    placed = []  # (user, order id guess) — order ids are sequential, known in advance
    oid = 0
    for _ in range(n):
        if placed and rnd.random() < 0.10:
            u, i = placed[rnd.randrange(max(0, len(placed) - 2000), len(placed))]
            cmds.append(("order.cancel", [u, "BTCUSDT", i]))
            continue
        u = rnd.randint(1, USERS)
        side = rnd.choice((1, 2))
        off = rnd.randint(-15, 8) + rnd.randint(0, 99) / 100
        price = 10000 + off if side == 1 else 10000 - off
        amount = rnd.randint(10, 20000) / 10000  # >= min_amount, so every order gets an id
        cmds.append(("order.put_limit",
                     [u, "BTCUSDT", side, f"{amount:.4f}", f"{price:.2f}", "0.002", "0.001", "bench"]))
        oid += 1
        placed.append((u, oid))
    return cmds


def phase_throughput(n):
    e = setup()
    base = e.order_seq
    cmds = gen_commands(n)
    # order ids in cancels assume ids start after setup's orders (none): offset them
    cmds = [(m, [p[0], p[1], p[2] + base]) if m == "order.cancel" else (m, p) for m, p in cmds]
    lat = []
    ex = e.execute
    perf = time.perf_counter_ns
    errors = {}
    events = 0
    puts = crossing = 0
    gc.collect()
    t_start = time.perf_counter()
    c_start = time.process_time()
    t = T0
    for m, p in cmds:
        t += 10
        s = perf()
        out = ex(m, p, t)
        lat.append(perf() - s)
        if out.error is not None:
            errors[out.error[0]] = errors.get(out.error[0], 0) + 1
        else:
            events += len(out.events)
            if m == "order.put_limit":
                puts += 1
                if out.result["deal_stock"] != "0":
                    crossing += 1
    elapsed = time.perf_counter() - t_start
    cpu = time.process_time() - c_start
    deals = e.deal_seq
    lat.sort()
    return {
        "commands": n,
        "seconds": elapsed,
        "cmd_per_s": n / elapsed,
        # CPU time of this process: the figure to compare when the machine is shared
        "cpu_seconds": cpu,
        "cmd_per_cpu_s": n / cpu,
        "p50_us": lat[len(lat) // 2] / 1000,
        "p99_us": lat[int(len(lat) * 0.99)] / 1000,
        "max_us": lat[-1] / 1000,
        "deals": deals,
        "crossing_orders": round(crossing / max(puts, 1), 3),
        "events": events,
        "errors": errors,
        "resting": sum(len(m.orders) for m in e.markets.values()),
    }


def _proc_status_mb(key):
    """VmRSS / VmHWM of this process image from /proc (ru_maxrss survives exec, so a
    child started by the big throughput phase would report the parent's peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_memory(n, trace=False):
    """Run in a fresh child process (see main) so ru_maxrss is this phase's peak."""
    gc.collect()
    rss0 = _proc_status_mb("VmRSS")
    if trace:
        tracemalloc.start()
    e = setup()
    t = T0
    ex = e.execute
    rnd = random.Random(2)
    t_start = time.perf_counter()
    for i in range(n):
        u = 1 + i % USERS
        side = 1 if i & 1 else 2
        off = rnd.randint(1, 5000) / 100
        price = 10000 + off if side == 1 else 10000 - off
        t += 10
        out = ex("order.put_limit", [u, "BTCUSDT", side, "0.0100", f"{price:.2f}", "0.002", "0.001", ""], t)
        assert out.error is None, out.error
    elapsed = time.perf_counter() - t_start
    r = {"orders": sum(len(m.orders) for m in e.markets.values()), "seconds": elapsed,
         "peak_rss_mb": _proc_status_mb("VmHWM"), "rss_mb": _proc_status_mb("VmRSS"),
         "rss_before_mb": rss0}
    if trace:
        cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        r["traced_current_mb"] = cur / 2**20
        r["traced_peak_mb"] = peak / 2**20
    return r


def phase_profile(n, top=25):
    e = setup()
    cmds = gen_commands(n, seed=3)
    pr = cProfile.Profile()
    t = T0
    ex = e.execute
    pr.enable()
    for m, p in cmds:
        t += 10
        ex(m, p, t)
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(top)
    return s.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commands", type=int, default=1_000_000)
    ap.add_argument("--resting", type=int, default=1_000_000)
    ap.add_argument("--profile", type=int, default=100_000)
    ap.add_argument("--tracemalloc", action="store_true",
                    help="also trace allocations in the memory phase (very slow)")
    ap.add_argument("--no-events", action="store_true",
                    help="event-less engine (Engine(events=False)) in every phase")
    ap.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    global EVENTS
    EVENTS = not args.no_events
    if args.memory_only:
        r = phase_memory(args.resting, args.tracemalloc)
        print("memory:", {k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()})
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu, events {'on' if EVENTS else 'off'}")
    r = phase_throughput(args.commands)
    print("throughput:", {k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()})
    if args.resting:
        import subprocess
        cmd = [sys.executable, os.path.abspath(__file__), "--memory-only", "--resting",
               str(args.resting)] + (["--tracemalloc"] if args.tracemalloc else []) + (
               ["--no-events"] if args.no_events else [])
        sys.stdout.flush()
        subprocess.run(cmd, check=True)
    if args.profile:
        print(phase_profile(args.profile))


if __name__ == "__main__":
    main()
