"""Durability benchmark (docs/benchmarks.md, "Durability").

    DATABASE_URL=mysql://root@127.0.0.1:3306/bench_durability \\
      .venv/bin/python bench/bench_durability.py [--seconds 20] [--clients 32] \\
      [--resting 1000000] [--log 1000000] [--skip-throughput] [--skip-recovery]
      [--reuse [--keep-snapshot | --snapshot-behind N]] [--book N]

The database named in DATABASE_URL is dropped and re-created (MySQL only), then migrated.
A private Tansu broker is started on a free port.

1. Throughput: an in-process MatcherService with the operation log (group commit, MariaDB
   at its durable default innodb_flush_log_at_trx_commit=1), the history follower process
   and the Kafka publisher on. N concurrent clients (coroutines) send order.put_limit in a
   loop, about half of them crossing; reports orders/s, p50/p99 acknowledgement latency,
   errors, the history lag (every 50 ms the last committed = acknowledged operation id is
   noted; its lag is the time until the follower reports its history rows committed) and
   the time the outputs needed to drain. Mid-run a snapshot is taken: the event-loop stall
   and the latency during it are reported (the "snapshot pause"). With ``--readers R``, R
   more coroutines send balance.query in a loop: their p50/p99/max latency is reported
   (reads are held until the commands applied before them committed: docs/durability.md).
   With ``--book N`` the run starts with N resting orders far from the load's prices
   (``fill_book``: built through the engine and stored as a snapshot, no log entries).
2. Recovery: an engine with R resting orders is snapshotted, then L more commands are
   appended to the operation log; reports the time of ``recover()`` (snapshot load +
   replay), split in load and replay.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def prepare_database():
    from urllib.parse import urlparse

    url = os.environ.get("DATABASE_URL", "")
    u = urlparse(url)
    if u.scheme != "mysql":
        sys.exit("set DATABASE_URL=mysql://root@127.0.0.1:3306/bench_durability (it is dropped and re-created)")
    name = u.path.lstrip("/")
    import MySQLdb

    conn = MySQLdb.connect(host=u.hostname or "127.0.0.1", port=u.port or 3306, user=u.username or "root",
                           passwd=u.password or "")
    cur = conn.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    cur.execute("SELECT @@innodb_flush_log_at_trx_commit, @@version")
    flush, version = cur.fetchone()
    conn.close()
    subprocess.run([sys.executable, "manage.py", "migrate", "--skip-checks", "-v0"], cwd=ROOT, check=True)
    return flush, version


def proc_cpu(pid):
    """utime + stime of a process in seconds (None: no such process)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mariadb_pid():
    """The local MariaDB server's pid (shared with anything else using it), or None."""
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().strip() in ("mariadbd", "mysqld"):
                        return int(d)
            except OSError:
                pass
    return None


def pct(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


SETUP = [
    ("asset.put", ["BTC", 20, 8]),
    ("asset.put", ["USDT", 20, 8]),
    ("market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001", True]),
]


BOOK_USERS = range(2001, 12001)  # the pre-filled book's owners; the load uses users 1..1000


def fill_book(n):
    """``--book N``: the setup and deposits of the throughput run plus N resting orders
    (asks ≥ 20000, bids ≤ 5000: never reached by the load's prices), built through the
    engine directly and stored as a snapshot; the outputs' positions are set to it (their
    rows of the book are not written: only what follows is measured)."""
    from matcher.core import Engine
    from matcher.log.db import Db, set_progress_sql
    from matcher.log.snapshot import write_snapshot

    t0 = time.monotonic()
    e = Engine()
    e.emit_events = False
    t = time.time_ns() // 1000 - 3_600_000_000  # an hour ago, 1 µs apart

    def ex(m, p):
        nonlocal t
        t += 1
        out = e.execute(m, p, t)
        assert out.error is None, (m, p, out.error)

    for m, p in SETUP:
        ex(m, p)
    bid = 0
    for u in list(range(1, 1001)) + list(BOOK_USERS):
        for asset, amt in (("BTC", "1000000"), ("USDT", "10000000000")):
            bid += 1
            ex("balance.update", [u, asset, "deposit", bid, amt, {}])
    rng = random.Random(3)
    for i in range(n):
        side = 1 if i % 2 else 2
        price = str(20000 + rng.randint(0, 9999)) if side == 1 else str(1 + rng.randint(0, 4999))
        ex("order.put_limit", [BOOK_USERS[i % len(BOOK_USERS)], "BTCUSDT", side, "0.01", price, "0.002", "0.001",
                               "bench"])
    build_s = time.monotonic() - t0
    db = Db()
    meta = write_snapshot(db, e, time_us=t)
    db.run(lambda cur: [cur.execute(set_progress_sql(db.vendor), (name, meta["end_event_seq"]))
                        for name in ("history", "kafka")])
    db.close()
    print(f"book: {n} resting orders built in {build_s:.1f}s, snapshot {meta['size']} bytes "
          f"(dump {meta.get('dump_s')} s, encode {meta.get('encode_s')} s)", flush=True)


async def throughput(args, bootstrap):
    from matcher.service import MatcherService

    if args.book:
        await asyncio.to_thread(fill_book, args.book)

    # from the settings, so the back-pressure limits can be varied through the environment
    # periodic snapshots "on" (never due): the snapshot follower starts with the service and
    # follows the log, as in production; the snapshot mid-run is made on demand
    s = MatcherService.from_settings(kafka_bootstrap="" if args.no_kafka else bootstrap,
                                     history=not args.no_history, snapshot_interval=10**9)
    await s.start()

    async def setup_call(m, p):
        while True:  # code 3 (e.g. the history follower still starting on a busy box): again
            rep = await s.call(m, p)
            if rep["error"] is None or rep["error"]["code"] != 3:
                break
            await asyncio.sleep(0.05)
        assert rep["error"] is None, (m, p, rep)

    users = 1000
    if args.book:  # in the snapshot; wait until every follower has loaded it
        while (s.history and s.history.oper_position is None) or (s.kafka and s.kafka.oper_position is None) \
                or (await asyncio.to_thread(s.follower.status))["oper"] is None:
            await asyncio.sleep(0.2)
    else:
        for m, p in SETUP:
            await setup_call(m, p)
        bid = 0
        for u in range(1, users + 1):
            for asset, amt in (("BTC", "1000000"), ("USDT", "10000000000")):
                bid += 1
                await setup_call("balance.update", [u, asset, "deposit", bid, amt, {}])
    rng = random.Random(1)
    lat: list[float] = []
    lat_snap: list[float] = []
    errors: dict = {}
    reasons: dict = {}
    refused_series = [0] * (int(args.seconds) + 1)  # code-3 answers per second of the run
    accepted_series = [0] * (int(args.seconds) + 1)
    t_start = time.monotonic() + 3600  # set when the measured run starts
    stop_at = 0.0
    phase = {"snap": False}
    counts = {"n": 0}

    async def client(i):
        r = random.Random(i)
        while time.monotonic() < stop_at:
            uid = r.randint(1, users)
            side = r.choice((1, 2))
            if r.random() < 0.5:  # crossing: priced through the book
                price = "10100" if side == 2 else "9900"
            else:  # passive: rests away from the mid
                off = r.randint(1, 50)
                price = str(10000 + off) if side == 1 else str(10000 - off)
            t0 = time.perf_counter()
            rep = await s.call("order.put_limit", [uid, "BTCUSDT", side, "0.01", price, "0.002", "0.001", "bench"])
            dt = time.perf_counter() - t0
            if rep["error"] is not None:
                errors[rep["error"]["code"]] = errors.get(rep["error"]["code"], 0) + 1
                if phase["snap"]:
                    errors["during_snapshot"] = errors.get("during_snapshot", 0) + 1
                if rep["error"]["code"] == 3:  # by reason, in / outside the snapshot window
                    key = ("in window: " if phase["snap"] else "outside: ") + str((rep["error"].get("data") or {})
                                                                                  .get("reason"))
                    reasons[key] = reasons.get(key, 0) + 1
                    sec = int(time.monotonic() - t_start)
                    if 0 <= sec < len(refused_series):
                        refused_series[sec] += 1
                if rep["error"]["code"] == 3:
                    await asyncio.sleep(0.001)  # refused (back-pressure): a client would back off
                continue
            (lat_snap if phase["snap"] else lat).append(dt)
            sec = int(time.monotonic() - t_start)
            if 0 <= sec < len(accepted_series):
                accepted_series[sec] += 1
            counts["n"] += 1

    read_lat: list[float] = []

    async def reader(i):
        r = random.Random(10_000 + i)
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            rep = await s.call("balance.query", [r.randint(1, users), "BTC", "USDT"])
            if rep["error"] is None and not phase["snap"]:
                read_lat.append(time.perf_counter() - t0)
            await asyncio.sleep(0.001)  # a reader polls; it does not saturate the loop

    stall = {"max": 0.0, "max_snap": 0.0}

    async def ticker():
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            await asyncio.sleep(0.001)
            late = time.perf_counter() - t0 - 0.001
            key = "max_snap" if phase["snap"] else "max"
            stall[key] = max(stall[key], late)

    samples: list = []  # (monotonic time, committed oper id)

    async def sampler():
        while time.monotonic() < stop_at:
            samples.append((time.monotonic(), s._log.committed_id))
            await asyncio.sleep(0.05)

    async def snapshotter():
        await asyncio.sleep(args.seconds * args.snapshot_at)
        c0 = {k: proc_cpu(p) for k, p in pids.items()}
        own = os.times()
        phase["snap"] = True
        t0 = time.monotonic()
        meta = await s.make_snapshot()
        meta["window_s"] = round(time.monotonic() - t0, 2)
        meta["window_at_s"] = [round(t0 - t_start, 1), round(time.monotonic() - t_start, 1)]
        phase["snap"] = False
        own1 = os.times()
        c1 = {k: proc_cpu(p) for k, p in pids.items()}
        # CPU seconds of each process during the window (vs its wall time)
        meta["cpu_s_in_window"] = {k: round(c1[k] - c0[k], 2) for k in pids if None not in (c0[k], c1[k])}
        meta["cpu_s_in_window"]["bench+matcher"] = round(own1.user + own1.system - own.user - own.system, 2)
        return meta

    print("load average before the run:", os.getloadavg(), flush=True)
    # warm-up
    stop_at = time.monotonic() + 2
    await asyncio.gather(*[client(1000 + i) for i in range(args.clients)])
    lat.clear()
    read_lat.clear()
    errors.clear()
    reasons.clear()
    n0 = counts["n"]
    e0 = s.engine.oper_seq
    d0 = s.engine.deal_seq
    pids = {"history": s.history.pid if s.history else None, "kafka": s.kafka.pid if s.kafka else None,
            "snapshot": s.follower.child.pid, "mariadb": mariadb_pid()}
    cpu0 = {k: proc_cpu(p) for k, p in pids.items()}
    own0 = os.times()
    t_start = time.monotonic()
    stop_at = t_start + args.seconds
    results = await asyncio.gather(ticker(), snapshotter(), sampler(), *[client(i) for i in range(args.clients)],
                                   *[reader(i) for i in range(args.readers)])
    elapsed = time.monotonic() - t_start
    own1 = os.times()
    pids = {"history": s.history.pid if s.history else None, "kafka": s.kafka.pid if s.kafka else None,
            "snapshot": s.follower.child.pid, "mariadb": mariadb_pid()}
    cpu1 = {k: proc_cpu(p) for k, p in pids.items()}
    cpu0 = {k: 0.0 if cpu0.get(k) is None and cpu1[k] is not None else cpu0.get(k) for k in pids}  # started mid-run
    n = counts["n"] - n0
    # CPU per accepted order (µs); "bench+matcher" = this process: the clients and the service
    cpu_us = {k: round((cpu1[k] - cpu0[k]) * 1e6 / max(1, n), 1) for k in pids if cpu0[k] is not None}
    cpu_us["bench+matcher"] = round((own1.user + own1.system - own0.user - own0.system) * 1e6 / max(1, n), 1)
    deals = s.engine.deal_seq - d0
    t_drain = time.monotonic()
    while (s.history and s.history.backlog()) or (s.kafka and s.kafka.backlog()):
        await asyncio.sleep(0.05)
    drain = time.monotonic() - t_drain
    lags = []
    seen_lags = []  # the same, timed when the matcher read the report (vs when the rows committed)
    if s.history is not None:
        reports = list(s.history.reports)
        j = 0
        for t0, oper in samples:
            while j < len(reports) and (reports[j][2] < t0 or reports[j][1] < oper):
                j += 1
            if j == len(reports):
                break
            lags.append(reports[j][2] - t0)
            seen_lags.append(reports[j][0] - t0)
        if args.lag_trace:
            with open(args.lag_trace, "w") as f:
                for (t0, oper), lag, seen in zip(samples, lags, seen_lags):
                    f.write(f"{t0 - t_start:.3f} {oper} {lag:.3f} {seen:.3f}\n")
    log = s._log
    out = {
        "orders": n, "refused_code_3": errors.get(3, 0), "refused_during_snapshot": errors.pop("during_snapshot", 0),
        "cpu_us_per_order": cpu_us, "seconds": round(elapsed, 2), "orders_per_s": round(n / elapsed),
        "deals": deals, "crossing_share": round(deals / max(1, n), 2),
        "p50_ms": round(pct(lat, 0.5) * 1000, 2), "p99_ms": round(pct(lat, 0.99) * 1000, 2),
        "p99_ms_during_snapshot": round(pct(lat_snap, 0.99) * 1000, 2),
        "p50_ms_during_snapshot": round(pct(lat_snap, 0.5) * 1000, 2), "orders_during_snapshot": len(lat_snap),
        "refused_by_reason": reasons,
        "refused_per_s": {"outside": round(sum(v for k, v in reasons.items() if k.startswith("outside"))
                                           / max(1e-9, elapsed - results[1]["window_s"])),
                          "in_window": round(sum(v for k, v in reasons.items() if k.startswith("in window"))
                                             / max(1e-9, results[1]["window_s"]))},
        "refused_each_second": refused_series, "accepted_each_second": accepted_series,
        "load_avg_at_end": os.getloadavg()[:2],
        "max_loop_stall_ms": round(stall["max"] * 1000, 1),
        "max_loop_stall_during_snapshot_ms": round(stall["max_snap"] * 1000, 1),
        "errors": errors, "log_commits": log.commits, "log_entries_per_commit": round(log.entries / max(1, log.commits), 1),
        "operations": s.engine.oper_seq - e0, "history_rows": s.history.rows_written if s.history else None,
        "kafka_delivered": s.kafka.delivered if s.kafka else None, "drain_after_s": round(drain, 2),
        "history_lag_ms": {"p50": round(pct(lags, 0.5) * 1000, 1), "p99": round(pct(lags, 0.99) * 1000, 1),
                           "max": round(max(lags, default=0) * 1000, 1), "samples": len(lags),
                           "p99_seen_by_matcher": round(pct(seen_lags, 0.99) * 1000, 1)},
        "snapshot": {k: results[1].get(k) for k in ("size", "end_oper_id", "replayed", "replay_s", "dump_s", "encode_s",
                                                   "write_s", "wall_s", "window_s", "window_at_s",
                                                   "cpu_s_in_window")},
        "resting_orders_at_end": sum(len(m.orders) for m in s.engine.markets.values()),
        "reads": {"n": len(read_lat), "p50_ms": round(pct(read_lat, 0.5) * 1000, 2),
                  "p99_ms": round(pct(read_lat, 0.99) * 1000, 2),
                  "max_ms": round(max(read_lat, default=0) * 1000, 2)},
    }
    await s.stop()
    return out


def recovery(args):
    """R resting orders in a snapshot + L log entries after it; time recover()."""
    from matcher.core import Engine
    from matcher.log.db import Db, executemany_ignore
    from matcher.log.oplog import COLUMNS, encode_params
    from matcher.log.recovery import recover
    from matcher.log.snapshot import write_snapshot

    db = Db()
    if args.reuse:
        return recovery_again(db, args)
    db.run(lambda cur: [cur.execute(f"DELETE FROM {t}") for t in
                        ("operation_log", "snapshot_chunk", "snapshot", "sink_progress")])
    e = Engine()
    t = 1_700_000_000_000_000
    rows = []

    def ex(m, p):
        nonlocal t
        t += 1
        out = e.execute(m, p, t)
        assert out.error is None, (m, p, out.error)
        rows.append((out.oper_id, t, m, encode_params(out.log)))

    def flush():
        if rows:
            db.run(lambda cur: executemany_ignore(cur, db.vendor, "operation_log", COLUMNS, rows, 5000))
            rows.clear()

    t0 = time.monotonic()
    for m, p in SETUP:
        ex(m, p)
    users = 10_000
    bid = 0
    for u in range(1, users + 1):
        for asset, amt in (("BTC", "1000000"), ("USDT", "10000000000")):
            bid += 1
            ex("balance.update", [u, asset, "deposit", bid, amt, {}])
    rng = random.Random(2)
    for i in range(args.resting):
        side = 1 if i % 2 else 2
        price = str(10001 + rng.randint(0, 9998)) if side == 1 else str(1 + rng.randint(0, 9998))
        ex("order.put_limit", [1 + i % users, "BTCUSDT", side, "0.01", price, "0.002", "0.001", "bench"])
        if len(rows) >= 20000:
            flush()
    flush()
    build_s = time.monotonic() - t0
    t1 = time.monotonic()
    meta = write_snapshot(db, e)
    snap_s = time.monotonic() - t1
    # L commands after the snapshot: half crossing (fills and moves resting orders), half resting
    for i in range(args.log):
        uid = rng.randint(1, users)
        side = rng.choice((1, 2))
        if i % 2:
            price = "20000" if side == 2 else "1"
        else:
            price = str(10001 + rng.randint(0, 9998)) if side == 1 else str(1 + rng.randint(0, 9998))
        ex("order.put_limit", [uid, "BTCUSDT", side, "0.01", price, "0.002", "0.001", "bench"])
        if len(rows) >= 20000:
            flush()
    flush()
    expected = e.state_hash()
    resting_end = sum(len(m.orders) for m in e.markets.values())
    with open(_expected_file(), "w") as f:
        json.dump({"hash": expected, "resting_at_end": resting_end}, f)
    del e
    t2 = time.monotonic()
    engine, info = recover(db)
    rec_s = time.monotonic() - t2
    same = engine.state_hash() == expected
    db.close()
    return {
        "resting_in_snapshot": args.resting, "log_after_snapshot": args.log,
        "resting_at_end": resting_end, "snapshot_bytes": meta["size"], "snapshot_write_s": round(snap_s, 1),
        "build_s": round(build_s, 1), "recovery_s": round(rec_s, 2), "load_s": info["load_s"],
        "replay_s": info["replay_s"], "replay_per_s": round(args.log / max(1e-9, info["replay_s"])),
        "state_equal": same,
    }


def _expected_file():
    name = os.environ["DATABASE_URL"].rsplit("/", 1)[-1]
    return os.path.join(tempfile.gettempdir(), f"bench_durability_{name}.json")


def recovery_again(db, args):
    """``--reuse``: the data of an earlier recovery run (same database); the snapshot is
    written again in the current format first (``--keep-snapshot``: as it is; with
    ``--snapshot-behind N``: at N operations before the end of the log), then ``recover()``
    is timed."""
    from matcher.log.recovery import load_base, recover
    from matcher.log.snapshot import delete_snapshot, list_snapshots, write_snapshot

    with open(_expected_file()) as f:
        expected = json.load(f)
    old = list_snapshots(db)
    if not old:
        sys.exit("--reuse: no snapshot in the database; run without --reuse first")
    meta = old[0] if args.keep_snapshot else old[-1]  # the oldest: the first run's, after the resting orders
    snap_s = None
    if not args.keep_snapshot:
        e, _ = load_base(db, max_oper_id=meta["end_oper_id"])
        assert e.oper_seq == meta["end_oper_id"]
        if args.snapshot_behind is not None:
            from matcher.log.recovery import replay

            top = db.query("SELECT MAX(id) FROM operation_log")[0][0]
            replay(db, e, upto=max(e.oper_seq, top - args.snapshot_behind))
        t1 = time.monotonic()
        meta = write_snapshot(db, e)
        snap_s = time.monotonic() - t1
        del e
        for s in old:
            if args.snapshot_behind is None or s is not old[-1]:
                delete_snapshot(db, s["id"])  # with --snapshot-behind the first one stays
    t2 = time.monotonic()
    c2 = time.process_time()
    engine, info = recover(db)
    rec_s = time.monotonic() - t2
    rec_cpu = time.process_time() - c2
    same = engine.state_hash() == expected["hash"]
    db.close()
    return {
        "resting_at_end": expected["resting_at_end"], "snapshot_bytes": meta["size"],
        "snapshot_write_s": snap_s and round(snap_s, 1), "snapshot_meta": {k: meta.get(k) for k in ("dump_s", "encode_s", "write_s")},
        "recovery_s": round(rec_s, 2), "recovery_cpu_s": round(rec_cpu, 2), "load_s": info["load_s"],
        "replayed": info["replayed"],
        "replay_s": info["replay_s"], "replay_per_s": round(info["replayed"] / max(1e-9, info["replay_s"])),
        "state_equal": same,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--snapshot-at", type=float, default=0.5, help="the snapshot, as a fraction of --seconds")
    ap.add_argument("--resting", type=int, default=1_000_000)
    ap.add_argument("--log", type=int, default=1_000_000)
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-recovery", action="store_true")
    ap.add_argument("--reuse", action="store_true",
                    help="recovery only, on the data an earlier recovery run left in the database")
    ap.add_argument("--keep-snapshot", action="store_true", help="with --reuse: the snapshot as stored")
    ap.add_argument("--snapshot-behind", type=int, metavar="N",
                    help="with --reuse: the snapshot rewritten N operations before the end of the log "
                         "(a restart replays N); the first run's snapshot stays, the others are deleted")
    ap.add_argument("--book", type=int, default=0, metavar="N",
                    help="throughput: start with N resting orders (built directly, stored as a snapshot)")
    ap.add_argument("--readers", type=int, default=0, help="coroutines polling balance.query (read latency)")
    ap.add_argument("--no-history", action="store_true", help="history follower off (for comparison)")
    ap.add_argument("--no-kafka", action="store_true", help="Kafka publisher off (for comparison)")
    ap.add_argument("--profile", action="store_true", help="cProfile of the event-loop thread")
    ap.add_argument("--lag-trace", metavar="FILE", help="write the history lag samples (s since start, oper, lag s)")
    args = ap.parse_args()
    if args.reuse:
        args.skip_throughput = True
        flush = version = "?"
    else:
        flush, version = prepare_database()
    import django

    django.setup()
    print(f"MariaDB {version}, innodb_flush_log_at_trx_commit={flush}, {os.cpu_count()} cores", flush=True)
    if not args.skip_throughput:
        from tests.backing import KafkaBroker

        broker = KafkaBroker().start()
        try:
            if args.profile:
                import cProfile
                import pstats

                prof = cProfile.Profile()
                prof.enable()
            print("throughput:", asyncio.run(throughput(args, broker.bootstrap)), flush=True)
            if args.profile:
                prof.disable()
                pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        finally:
            broker.stop()
    if not args.skip_recovery:
        print("recovery:", recovery(args), flush=True)


if __name__ == "__main__":
    main()
