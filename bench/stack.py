"""End to end on this box: the whole durable stack, the HTTP load, and the CPU each process
spent per accepted order — the numbers behind the projection in docs/benchmarks.md
"Step 11 (issue 21): end to end, the targets, and a projection".

    .venv/bin/python bench/stack.py [--mode single|batch] [--orders N] [--concurrency 32]
        [--rate R] [--pin] [--no-history] [--no-kafka] [--renice-followers N] [--idle-followers]
        [--env VAR=VALUE ...] [--label L] [--json-out FILE]

Starts, on free loopback ports: a fresh MariaDB database (bench_stack_<pid>, dropped
after; migrate + seed_markets), a private Tansu broker, `python -m matcher` (with its
follower processes), the web server exactly as `make run` starts it
(exchange_site.devrun.web_command). Then the load: `single` = ../shared/bench/
viabtc_rpc_load.py (one call per request, ≈ 50 % crossing, 10 % cancels), `batch` =
bench/bench_jsonrpc.py (batches of 100 order.put_limit). CPU = utime + stime from /proc,
read per process just before and after the load (the load's setup phase — deposits for
200 users — is included: ≈ 1 % of the requests).

--pin: the matcher process (all its threads) gets CPU 0 to itself; every other process
(its followers, web server, broker, MariaDB, the load generator) is moved to CPU 1 —
"the others throttled out of its cores", so the matcher's CPU per order is measured
without competition (MariaDB's affinity is restored after the run).

Printed: the load's report, then one line per process: µs CPU per accepted order and the
rate one core of it could carry (10^6 / µs).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench.procstat import children, cpu_s, role, tree  # noqa: E402
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
LOAD = next((p for p in (os.path.join(ROOT, "..", "shared", "bench", "viabtc_rpc_load.py"),
                         os.path.join(ROOT, "..", "..", "shared", "bench", "viabtc_rpc_load.py"))
             if os.path.exists(p)), None)


def sample(procs: dict) -> dict:
    """Seconds of CPU per role. ``procs``: role -> pid (matcher: its threads and children)."""
    out: dict[str, float] = {}
    m = procs["matcher"]
    for tid in os.listdir(f"/proc/{m}/task"):
        key = "matcher event loop" if int(tid) == m else "matcher other threads"
        out[key] = out.get(key, 0.0) + cpu_s(f"/proc/{m}/task/{tid}/stat")
    for c in children(m):
        for p in tree(c):
            out[role(c)] = out.get(role(c), 0.0) + cpu_s(f"/proc/{p}/stat")
    for name, pid in procs.items():
        if name != "matcher" and pid:
            out[name] = sum(cpu_s(f"/proc/{p}/stat") for p in tree(pid))
    return out


STATUS = ("Questions", "Com_select", "Com_insert", "Com_update", "Com_commit", "Handler_commit",
          "Innodb_log_writes", "Innodb_os_log_fsyncs", "Innodb_rows_inserted", "Innodb_rows_read")


def server_status() -> dict:
    """MariaDB's global counters: what its CPU was spent on (statements, commits, fsyncs)."""
    import MySQLdb

    conn = MySQLdb.connect(host="127.0.0.1", user="root")
    try:
        cur = conn.cursor()
        cur.execute("SHOW GLOBAL STATUS")
        return {k: int(v) for k, v in cur.fetchall() if k in STATUS}
    finally:
        conn.close()


def mariadb_pid() -> int | None:
    r = subprocess.run(["pgrep", "-x", "mariadbd"], capture_output=True, text=True)
    if not r.stdout.split():
        r = subprocess.run(["pgrep", "-x", "mysqld"], capture_output=True, text=True)
    return int(r.stdout.split()[0]) if r.stdout.split() else None


def wait_port(port: int, timeout: float = 120) -> None:
    import socket

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"port {port} did not open")


def affinity(pid: int, cpus: str) -> str | None:
    """Move every thread of ``pid`` to ``cpus``; returns the previous list."""
    r = subprocess.run(["taskset", "-p", str(pid)], capture_output=True, text=True)
    before = r.stdout.strip().rsplit(" ", 1)[-1] if r.returncode == 0 else None
    subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], capture_output=True, check=False)
    return before


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("single", "batch"), default="single")
    ap.add_argument("--orders", type=int, default=0, help="default 40000 single / 100000 batch")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rate", type=float, default=0, help="open loop: offered requests/s (single only)")
    ap.add_argument("--pin", action="store_true")
    ap.add_argument("--renice-followers", type=int, default=0, metavar="N",
                    help="add N to the nice value of the matcher's output followers (history, Kafka)")
    ap.add_argument("--idle-followers", action="store_true",
                    help="run the output followers (history, Kafka) and the snapshot follower under SCHED_IDLE")
    ap.add_argument("--no-history", action="store_true")
    ap.add_argument("--no-kafka", action="store_true")
    ap.add_argument("--env", action="append", default=[], metavar="VAR=VALUE",
                    help="an environment variable for every process of the stack (repeatable)")
    ap.add_argument("--label", default="")
    ap.add_argument("--json-out")
    args = ap.parse_args()
    orders = args.orders or (40000 if args.mode == "single" else 100000)

    db = f"bench_stack_{os.getpid()}"
    os.environ["DATABASE_URL"] = f"mysql://root@127.0.0.1:3306/{db}"
    from bench.benchdb import fresh_database

    fresh_database(db, seed=True)
    import django

    django.setup()
    from exchange_site.devrun import web_command
    from tests.backing import KafkaBroker, free_port

    env = dict(os.environ, LOG_LEVEL="WARNING", DEBUG="false",
               MATCHER_HISTORY="false" if args.no_history else "true",
               MATCHER_KAFKA="false" if args.no_kafka else "true")
    env.update(kv.split("=", 1) for kv in args.env)
    broker = None if args.no_kafka else KafkaBroker().start()
    if broker is not None:
        env["KAFKA_BOOTSTRAP"] = broker.bootstrap
    env["MATCHER_RPC_PORT"] = str(free_port())
    web_port = free_port()
    started: list[subprocess.Popen] = []
    maria = mariadb_pid()
    maria_before = None
    try:
        matcher = subprocess.Popen([sys.executable, "-m", "matcher"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=open(f"/tmp/{db}.matcher.log", "w"))
        started.append(matcher)
        wait_port(int(env["MATCHER_RPC_PORT"]))
        web = subprocess.Popen(shlex.split(web_command(web_port)), cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=open(f"/tmp/{db}.web.log", "w"))
        started.append(web)
        wait_port(web_port)
        time.sleep(2)  # the followers finish their start
        procs = {"matcher": matcher.pid, "web": web.pid, "broker": broker.proc.pid if broker else None,
                 "mariadb": maria}
        taskset = []
        if args.idle_followers:
            for c in children(matcher.pid):
                if role(c).endswith("_follower"):
                    for tid in os.listdir(f"/proc/{c}/task"):
                        os.sched_setscheduler(int(tid), os.SCHED_IDLE, os.sched_param(0))
        if args.renice_followers:
            for c in children(matcher.pid):
                if role(c) in ("history_follower", "kafka_follower"):
                    os.setpriority(os.PRIO_PROCESS, c, os.getpriority(os.PRIO_PROCESS, c) + args.renice_followers)
        if args.pin:
            affinity(matcher.pid, "0")
            for pid in [p for c in children(matcher.pid) for p in tree(c)] + tree(web.pid) + (
                    tree(broker.proc.pid) if broker else []):
                affinity(pid, "1")
            if maria:
                maria_before = affinity(maria, "1")
            taskset = ["taskset", "-c", "1"]
        url = f"http://127.0.0.1:{web_port}/"
        out_json = f"/tmp/{db}.load.json"
        if args.mode == "single":
            cmd = [sys.executable, LOAD, "--url", url, "--users", "200", "--orders", str(orders), "--concurrency",
                   str(args.concurrency), "--market", "BTCUSDT", "--mid", "8000", "--json-out", out_json]
            if args.rate:
                cmd += ["--rate", str(args.rate)]
        else:
            cmd = [sys.executable, os.path.join(ROOT, "bench", "bench_jsonrpc.py"), "--url", url, "--batch", "100",
                   "--concurrency", str(args.concurrency), "--orders", str(orders), "--market", "BTCUSDT",
                   "--mid", "8000"]
        load0 = open("/proc/loadavg").read().split()[:3]
        c0, s0 = sample(procs), server_status()
        t0 = time.monotonic()
        r = subprocess.run(taskset + cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.monotonic() - t0
        c1, s1 = sample(procs), server_status()
        print(r.stdout[-4000:], r.stderr[-2000:], sep="\n")
        accepted = parse_accepted(r.stdout, out_json if args.mode == "single" else None)
        load1 = open("/proc/loadavg").read().split()[:3]
        rows = {k: round((c1[k] - c0.get(k, 0.0)) * 1e6 / accepted, 1) for k in c1 if accepted}
        rows["matcher process"] = round(rows.get("matcher event loop", 0) + rows.get("matcher other threads", 0), 1)
        result = {"label": args.label, "mode": args.mode, "pin": args.pin, "history": not args.no_history,
                  "kafka": not args.no_kafka, "accepted": accepted, "wall_s": round(wall, 1),
                  "loadavg_before": load0, "loadavg_after": load1, "cpu_us_per_order": rows}
        print(f"accepted orders {accepted} in {wall:.1f}s; load avg {' '.join(load0)} → {' '.join(load1)}")
        for k, v in sorted(rows.items(), key=lambda kv: -kv[1]):
            print(f"  {k:28s} {v:9.1f} µs/order   one core ≈ {1e6 / v if v else float('inf'):>10,.0f} orders/s")
        per_order = {k: round((s1[k] - s0[k]) / accepted, 2) for k in STATUS if k in s0 and accepted}
        result["mariadb_per_order"] = per_order
        print("  MariaDB per accepted order:", ", ".join(f"{k} {v}" for k, v in per_order.items()))
        refusals = [line.strip() for line in open(f"/tmp/{db}.matcher.log") if "code 3" in line]
        result["refusal_log"] = refusals[-5:]
        for line in refusals[-5:]:
            print("  matcher:", line[:200])
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump(result, f, indent=1)
    finally:
        if maria and maria_before:
            subprocess.run(["taskset", "-a", "-p", maria_before, str(maria)], capture_output=True)
        for p in reversed(started):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        if broker is not None:
            broker.stop()
        import MySQLdb

        MySQLdb.connect(host="127.0.0.1", user="root").cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")


def parse_accepted(stdout: str, json_path: str | None) -> int:
    """Accepted orders (order.put_limit without error) from the load's report."""
    if json_path and os.path.exists(json_path):
        with open(json_path) as f:
            rep = json.load(f)
        os.unlink(json_path)
        return int(rep["put_ok"])
    import re

    m = re.search(r"^orders_ok\s+([0-9]+)", stdout, re.M)
    return int(m.group(1)) if m else 0


if __name__ == "__main__":
    main()
