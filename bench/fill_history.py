"""Fill a dedicated MariaDB database with a large synthetic history for bench_history.py.

    .venv/bin/python bench/fill_history.py [--db exchange_bench] [--balance 10000000]
        [--deals 5000000] [--orders 2000000] [--users 100000] [--chunk 5000] [--defer-indexes]

Creates the database (if absent), migrates it with Django (`DATABASE_URL` pointed at it),
seeds the demo markets, then inserts rows with multi-row `INSERT IGNORE` statements via
`executemany` in chunks, each chunk its own committed transaction — the same shape as the
matcher's history writer. Nothing durable is turned off (the server's
innodb_flush_log_at_trx_commit etc. stay as they are).

`--defer-indexes` drops the secondary indexes of the three history tables before the load
and re-creates them afterwards (Django's own index definitions, sorted build) — a bulk-load
technique only: the matcher always writes into the indexed tables.

Data shape (deterministic, seed 42):
- users 1…--users; users 1…10 are "whales" that own 10 % of all rows between them
  (~100k balance rows each at 10M) so that deep offsets exist; the others share the rest
  (~90 balance rows each).
- balance_history: id = 1…N (event seq), time = T0 + 3 s per row (10M rows ≈ 347 days),
  asset BTC/ETH/USDT, business trade 70 % / fee 15 % / deposit 10 % / withdraw 5 %,
  trade detail {"a","i","m","p"} with sorted keys.
- deal_history: deal d → rows 2d (ask) and 2d+1 (bid), market BTCUSDT 60 % / ETHUSDT 30 % /
  ETHBTC 10 %; a whale's order keeps taking fills for 500 deals (so order.deals has long
  lists), other orders get one deal.
- order_history: --orders rows, create_time = T0 + 15 s per order.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

T0 = 1_700_000_000
WHALES = 10
MARKETS = [("BTCUSDT", "BTC", "USDT", "43000.5", 0.6), ("ETHUSDT", "ETH", "USDT", "2300.25", 0.3),
           ("ETHBTC", "ETH", "BTC", "0.053412", 0.1)]


def server_url(db: str) -> str:
    base = os.environ.get("BENCH_MYSQL", "mysql://root@127.0.0.1:3306")
    return f"{base.rstrip('/')}/{db}"


def setup_django(db: str):
    os.environ["DATABASE_URL"] = server_url(db)
    os.environ.pop("HISTORY_DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
    import django

    django.setup()


def create_database(db: str):
    import MySQLdb

    conn = MySQLdb.connect(host="127.0.0.1", user="root", port=3306)
    conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()


def pick_user(rng: random.Random, users: int) -> int:
    if rng.random() < 0.1:
        return rng.randint(1, WHALES)
    return rng.randint(WHALES + 1, users)


def pick_market(rng: random.Random):
    x = rng.random()
    for m in MARKETS:
        if x < m[4]:
            return m
        x -= m[4]
    return MARKETS[-1]


def insert(cursor, sql: str, rows: list):
    cursor.executemany(sql, rows)
    cursor.connection.commit()


def progress(label: str, done: int, total: int, started: float):
    elapsed = time.monotonic() - started
    rate = done / elapsed if elapsed else 0
    print(f"  {label}: {done:>10,}/{total:,} rows  {elapsed:7.1f} s  {rate:,.0f} rows/s", flush=True)


def fill_balance(conn, n: int, users: int, chunk: int, seed: int = 42) -> float:
    rng = random.Random(seed)
    sql = ("INSERT IGNORE INTO balance_history (id, time, user_id, asset, business, `change`, balance, detail) "
           "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)")
    cur = conn.cursor()
    rows, started = [], time.monotonic()
    for i in range(1, n + 1):
        user = pick_user(rng, users)
        x = rng.random()
        t = T0 + i * 3 + rng.randint(0, 999_999) / 1e6
        if x < 0.85:
            market, stock, money, price, _ = pick_market(rng)
            amount = f"{rng.randint(1, 500_000) / 1e4:.4f}"
            detail_fee = ""
            business = "trade"
            if x >= 0.70:
                business = "fee"
                detail_fee = '"f": "0.002", '
            asset = stock if rng.random() < 0.5 else money
            change = f"{'-' if rng.random() < 0.5 else ''}{rng.randint(1, 10**9) / 1e8:.8f}"
            detail = f'{{"a": "{amount}", {detail_fee}"i": {rng.randint(1, 10**8)}, "m": "{market}", "p": "{price}"}}'
        else:
            business = "deposit" if x < 0.95 else "withdraw"
            asset = ("BTC", "ETH", "USDT")[rng.randint(0, 2)]
            change = f"{'-' if business == 'withdraw' else ''}{rng.randint(1, 10**9) / 1e6:.6f}"
            detail = f'{{"id": {i}}}'
        balance = f"{rng.randint(0, 10**12) / 1e8:.8f}"
        rows.append((i, t, user, asset, business, change, balance, detail))
        if len(rows) >= chunk:
            insert(cur, sql, rows)
            rows = []
            if i % (chunk * 100) == 0:
                progress("balance_history", i, n, started)
    if rows:
        insert(cur, sql, rows)
    progress("balance_history", n, n, started)
    return time.monotonic() - started


def fill_deals(conn, n: int, users: int, chunk: int, seed: int = 43) -> float:
    rng = random.Random(seed)
    sql = ("INSERT IGNORE INTO deal_history (id, time, user_id, market, deal_id, order_id, deal_order_id, side, "
           "role, price, amount, deal, fee, deal_fee) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
    cur = conn.cursor()
    next_order = 1
    whale_orders: dict[tuple[int, str, int], list[int]] = {}  # (user, market, side) -> [order_id, deals left]

    def order_for(user: int, market: str, side: int) -> int:
        nonlocal next_order
        if user > WHALES:
            next_order += 1
            return next_order
        slot = whale_orders.get((user, market, side))
        if slot is None or slot[1] == 0:
            next_order += 1
            slot = whale_orders[(user, market, side)] = [next_order, 500]
        slot[1] -= 1
        return slot[0]

    rows, started, done = [], time.monotonic(), 0
    for d in range(1, n + 1):
        market, _stock, _money, price, _ = pick_market(rng)
        t = T0 + d * 6 + rng.randint(0, 999_999) / 1e6
        ask_user, bid_user = pick_user(rng, users), pick_user(rng, users)
        ask_order, bid_order = order_for(ask_user, market, 1), order_for(bid_user, market, 2)
        amount = f"{rng.randint(1, 500_000) / 1e4:.4f}"
        deal = f"{rng.randint(1, 10**10) / 1e4:.4f}"
        ask_fee, bid_fee = f"{rng.randint(0, 10**6) / 1e6:.6f}", f"{rng.randint(0, 10**6) / 1e8:.8f}"
        ask_role = 1 if rng.random() < 0.5 else 2
        bid_role = 3 - ask_role
        rows.append((2 * d, t, ask_user, market, d, ask_order, bid_order, 1, ask_role, price, amount, deal,
                     ask_fee, bid_fee))
        rows.append((2 * d + 1, t, bid_user, market, d, bid_order, ask_order, 2, bid_role, price, amount, deal,
                     bid_fee, ask_fee))
        if len(rows) >= chunk:
            insert(cur, sql, rows)
            done += len(rows)
            rows = []
            if done % (chunk * 100) == 0:
                progress("deal_history", done, 2 * n, started)
    if rows:
        insert(cur, sql, rows)
    progress("deal_history", 2 * n, 2 * n, started)
    return time.monotonic() - started


def fill_orders(conn, n: int, users: int, chunk: int, seed: int = 44) -> float:
    rng = random.Random(seed)
    sql = ("INSERT IGNORE INTO order_history (id, create_time, finish_time, user_id, market, source, t, side, "
           "price, amount, taker_fee, maker_fee, deal_stock, deal_money, deal_fee, client_order_id) "
           "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
    cur = conn.cursor()
    rows, started = [], time.monotonic()
    for i in range(1, n + 1):
        market, _stock, _money, price, _ = pick_market(rng)
        ctime = T0 + i * 15 + rng.randint(0, 999_999) / 1e6
        t = 1 if rng.random() < 0.8 else 2
        amount = f"{rng.randint(1, 500_000) / 1e4:.4f}"
        rows.append((i, ctime, ctime + rng.randint(0, 86_400), pick_user(rng, users), market,
                     "web" if rng.random() < 0.7 else "api", t, rng.randint(1, 2), price if t == 1 else "0", amount,
                     "0.002", "0.001" if t == 1 else "0", amount, f"{rng.randint(1, 10**10) / 1e4:.4f}",
                     f"{rng.randint(0, 10**6) / 1e6:.6f}", ""))
        if len(rows) >= chunk:
            insert(cur, sql, rows)
            rows = []
            if i % (chunk * 100) == 0:
                progress("order_history", i, n, started)
    if rows:
        insert(cur, sql, rows)
    progress("order_history", n, n, started)
    return time.monotonic() - started


def history_models():
    from apps.history.models import BalanceHistory, DealHistory, OrderHistory

    return [BalanceHistory, DealHistory, OrderHistory]


def drop_indexes():
    from django.db import connection

    with connection.schema_editor() as editor:
        for model in history_models():
            for index in model._meta.indexes:
                editor.remove_index(model, index)


def create_indexes() -> float:
    from django.db import connection

    started = time.monotonic()
    with connection.schema_editor() as editor:
        for model in history_models():
            for index in model._meta.indexes:
                t = time.monotonic()
                editor.add_index(model, index)
                print(f"  index {index.name}: {time.monotonic() - t:.1f} s", flush=True)
    return time.monotonic() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="exchange_bench")
    ap.add_argument("--balance", type=int, default=10_000_000)
    ap.add_argument("--deals", type=int, default=5_000_000)
    ap.add_argument("--orders", type=int, default=2_000_000)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--chunk", type=int, default=5000)
    ap.add_argument("--defer-indexes", action="store_true")
    ap.add_argument("--only", choices=["balance", "deals", "orders"],
                    help="fill one table only, no migrate/truncate (to run tables in parallel after --prepare)")
    ap.add_argument("--prepare", action="store_true",
                    help="only migrate, seed, truncate (and drop indexes with --defer-indexes)")
    ap.add_argument("--build-indexes", action="store_true", help="only (re-)create the history indexes")
    args = ap.parse_args()

    create_database(args.db)
    setup_django(args.db)
    from django.core.management import call_command
    from django.db import connection

    if args.build_indexes:
        print(f"create indexes: {create_indexes():.1f} s")
        return
    if not args.only:
        call_command("migrate", verbosity=0)
        from apps.markets.services import demo_config_seed

        demo_config_seed()
        with connection.cursor() as c:
            for table in ("balance_history", "deal_history", "order_history"):
                c.execute(f"TRUNCATE TABLE {table}")
        if args.defer_indexes:
            drop_indexes()
        if args.prepare:
            return

    connection.ensure_connection()
    raw = connection.connection
    raw.autocommit(False)
    started = time.monotonic()
    timings = {}
    if args.only in (None, "balance"):
        timings["balance_history"] = (args.balance, fill_balance(raw, args.balance, args.users, args.chunk))
    if args.only in (None, "deals"):
        timings["deal_history"] = (2 * args.deals, fill_deals(raw, args.deals, args.users, args.chunk))
    if args.only in (None, "orders"):
        timings["order_history"] = (args.orders, fill_orders(raw, args.orders, args.users, args.chunk))
    raw.autocommit(True)
    if args.defer_indexes and not args.only:
        timings["create indexes"] = (0, create_indexes())
    print("\nsummary")
    for name, (rows, seconds) in timings.items():
        rate = f"{rows / seconds:,.0f} rows/s" if rows else ""
        print(f"  {name:16} {rows:>12,} rows  {seconds:8.1f} s  {rate}")
    print(f"  total {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
