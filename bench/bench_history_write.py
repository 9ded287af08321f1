"""History cost per order: the history follower process and MariaDB's CPU for the rows of
one order (docs/benchmarks.md "History cost per order (step 11)").

    DATABASE_URL=mysql://root@127.0.0.1:3306/bench_history_write flock /tmp/bench.lock \\
        .venv/bin/python bench/bench_history_write.py [--orders 20000] [--page 1000] [--keep] [--reuse]

The database is dropped and re-created (``--reuse``: the database a ``--keep`` run left is
kept, its history tables emptied and its log followed again — e.g. to compare index sets
or two trees on the same log). An engine runs the order stream of
bench/bench_matcher_rpc.py (1000 users, BTCUSDT, half the orders priced through the book)
and its operation log is written to ``operation_log``; then the real follower process
(``python -m matcher.sinks.history_child``, steps of ``--page`` operations) writes the
history from position 0. Between its first report past the setup (deposits and a
warm-up) and its last, the CPU (utime + stime from /proc) of the follower and of the
MariaDB server (``--mysqld-pid``, default: ``pidof mariadbd mysqld``) is divided by the
orders: MariaDB's figure is everything the server did meanwhile (other sessions' work
included: run it under the bench lock on a quiet server, several times).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench.workload import limit_order  # noqa: E402
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

SETUP = [
    ("asset.put", ["BTC", 20, 8]),
    ("asset.put", ["USDT", 20, 8]),
    ("market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001", True]),
]


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_log(orders: int, warmup: int) -> tuple[int, int]:
    """The operation log of the setup + deposits + warm-up + ``orders`` orders; returns (last
    operation id of the warm-up, last operation id)."""
    from matcher.core import Engine
    from matcher.log.db import Db, executemany_ignore
    from matcher.log.oplog import COLUMNS, encode_params

    db = Db()
    e = Engine()
    t = 1_700_000_000_000_000
    rows = []

    def ex(m, p):
        nonlocal t
        t += 300  # ≈ 3,300 operations/s
        out = e.execute(m, p, t)
        assert out.error is None, (m, p, out.error)
        rows.append((out.oper_id, t, m, encode_params(out.log)))
        if len(rows) >= 5000:
            flush()
        return out.oper_id

    def flush():
        db.run(lambda cur: executemany_ignore(cur, db.vendor, "operation_log", COLUMNS, rows, 5000))
        rows.clear()

    for m, p in SETUP:
        ex(m, p)
    users = 1000
    bid = 0
    for u in range(1, users + 1):
        for asset, amt in (("BTC", "1000000"), ("USDT", "10000000000")):
            bid += 1
            ex("balance.update", [u, asset, "deposit", bid, amt, {}])
    r = random.Random(1)
    last = warm_end = 0
    for i in range(warmup + orders):
        last = ex("order.put_limit", limit_order(r, users))
        if i == warmup - 1:
            warm_end = last
    flush()
    db.close()
    return warm_end, last


def mysqld_pid() -> int:
    for name in ("mariadbd", "mysqld"):
        out = subprocess.run(["pidof", name], capture_output=True, text=True).stdout.split()
        if out:
            return int(out[0])
    sys.exit("no mariadbd/mysqld process: pass --mysqld-pid")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--page", type=int, default=1000, help="operations per follower step (MATCHER_HISTORY_BATCH)")
    ap.add_argument("--mysqld-pid", type=int)
    ap.add_argument("--keep", action="store_true", help="keep the database (for EXPLAIN, row counts)")
    ap.add_argument("--reuse", action="store_true",
                    help="the database of a --keep run: its log is followed again from position 0")
    args = ap.parse_args()
    if not args.reuse:
        from benchdb import fresh_database

        fresh_database("bench_history_write")
    import django

    django.setup()
    from django.db import connection

    from matcher.child_process import ChildProcess

    if args.reuse:
        with connection.cursor() as cur:
            for table in ("balance_history", "order_history", "deal_history", "sink_progress"):
                cur.execute(f"TRUNCATE TABLE {table}")
            cur.execute("SELECT MAX(id) FROM operation_log")
            last = cur.fetchone()[0]
        warm_end = last - args.orders
    else:
        warm_end, last = build_log(args.orders, args.warmup)
    mpid = args.mysqld_pid or mysqld_pid()
    os.environ["MATCHER_HISTORY_BATCH"] = str(args.page)
    child = ChildProcess("matcher.sinks.history_child")
    load0 = open("/proc/loadavg").read().split()[:3]
    child.spawn()
    start = None
    try:
        for rep in child.replies():
            if start is None and rep["oper"] >= warm_end:
                start = (time.monotonic(), cpu_s(child.pid), cpu_s(mpid), rep["oper"], rep["rows"])
            if rep["oper"] >= last:
                end = (time.monotonic(), cpu_s(child.pid), cpu_s(mpid), rep["oper"], rep["rows"])
                break
    finally:
        child.end()
    n = end[3] - start[3]  # operations = orders after the warm-up
    rows = end[4] - start[4]
    with connection.cursor() as cur:
        cur.execute("SELECT (SELECT COUNT(*) FROM balance_history), (SELECT COUNT(*) FROM order_history), "
                    "(SELECT COUNT(*) FROM deal_history)")
        counts = cur.fetchone()
    out = {
        "orders": n, "page": args.page, "rows_per_order": round(rows / n, 2),
        "orders_per_s": round(n / (end[0] - start[0])),
        "cpu_us_per_order": {"follower": round((end[1] - start[1]) * 1e6 / n, 1),
                             "mariadb": round((end[2] - start[2]) * 1e6 / n, 1)},
        "rows": dict(zip(("balance_history", "order_history", "deal_history"), counts)),
        "loadavg_before_after": [load0, open("/proc/loadavg").read().split()[:3]],
    }
    print(json.dumps(out), flush=True)
    if not args.keep:
        with connection.cursor() as cur:
            cur.execute(f"DROP DATABASE `{connection.settings_dict['NAME']}`")


if __name__ == "__main__":
    main()
