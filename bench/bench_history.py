"""Latency of the readhistory queries on the database filled by bench/fill_history.py.

    .venv/bin/python bench/bench_history.py [--db exchange_bench] [-n 300] [--users 100000]

Each pattern calls the JSON-RPC method function (apps.history.rpc.HISTORY_METHODS:
validation + market lookup + SQL + record formatting; no HTTP) `-n` times in one
process with a fresh random user / window / order each time, after 20 warm-up calls, and
prints p50 / p99 / max in milliseconds; then the EXPLAIN of one representative query per
pattern (index chosen, rows estimate, Extra). Users 1…10 are the fill's "whales"
(~100k balance rows each at 10M); the others hold ~90 balance rows each.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

T0 = 1_700_000_000
DAY = 86_400


def setup(db: str):
    base = os.environ.get("BENCH_MYSQL", "mysql://root@127.0.0.1:3306")
    os.environ["DATABASE_URL"] = f"{base.rstrip('/')}/{db}"
    os.environ.pop("HISTORY_DATABASE_URL", None)
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
    import django

    django.setup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="exchange_bench")
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--no-explain", action="store_true")
    args = ap.parse_args()
    setup(args.db)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.history import selectors
    from apps.history.models import BalanceHistory, DealHistory, OrderHistory
    from apps.history.rpc import HISTORY_METHODS as M

    rng = random.Random(7)
    whale = lambda: rng.randint(1, 10)  # noqa: E731
    user = lambda: rng.randint(11, args.users)  # noqa: E731
    span_bh = (BalanceHistory.objects.order_by("-id").values_list("time", flat=True).first() or T0) - T0
    span_oh = (OrderHistory.objects.order_by("-id").values_list("create_time", flat=True).first() or T0) - T0

    def window(span, width):
        start = T0 + rng.randint(0, max(1, int(span) - width))
        return start, start + width

    # keyset cursors equivalent to offset 10000 (computed once per whale, outside the timing)
    depth = 10_000
    bh_cursor, ud_cursor, of_cursor = {}, {}, {}
    for w in range(1, 11):
        p = selectors.balance_history_list(user_id=w, offset=depth - 1, limit=1)
        bh_cursor[w] = p.next_before_id or 1
        p = selectors.user_deal_list(user_id=w, market="BTCUSDT", offset=depth - 1, limit=1)
        ud_cursor[w] = p.next_before_id or 1
        p = selectors.order_finished_list(user_id=w, market="BTCUSDT", offset=depth - 1, limit=1)
        of_cursor[w] = p.next_before_id or 1
    # a whale order with many deals, and ordinary orders
    whale_orders = list(DealHistory.objects.filter(user_id__lte=10).values_list("order_id", flat=True)
                        .order_by("-id")[:5000:500])
    max_order = DealHistory.objects.order_by("-id").values_list("order_id", flat=True).first() or 1
    max_deal_row = DealHistory.objects.order_by("-id").values_list("id", flat=True).first() or 2
    max_order_id = OrderHistory.objects.order_by("-id").values_list("id", flat=True).first() or 1

    def bh(u, asset="", business="", start=0, end=0, offset=0, limit=100, *extra):
        return M["balance.history"]([u, asset, business, start, end, offset, limit, *extra])

    def of(u, market="BTCUSDT", start=0, end=0, offset=0, limit=100, *extra):
        return M["order.finished"]([u, market, start, end, offset, limit, *extra])

    patterns = [
        ("balance.history first page (user ~90 rows)", lambda: bh(user())),
        ("balance.history first page (whale ~100k rows)", lambda: bh(whale())),
        ("balance.history asset=BTC (whale)", lambda: bh(whale(), "BTC")),
        ("balance.history business=deposit (whale)", lambda: bh(whale(), "", "deposit")),
        ("balance.history business=deposit,withdraw (whale)", lambda: bh(whale(), "", "deposit,withdraw")),
        ("balance.history asset=BTC business=trade (whale)", lambda: bh(whale(), "BTC", "trade")),
        ("balance.history 1-day window (whale)", lambda: bh(whale(), "", "", *window(span_bh, DAY))),
        ("balance.history 30-day window (user)", lambda: bh(user(), "", "", *window(span_bh, 30 * DAY))),
        ("balance.history asset=USDT 7-day window (whale)",
         lambda: bh(whale(), "USDT", "", *window(span_bh, 7 * DAY))),
        (f"balance.history offset {depth} (whale)", lambda: bh(whale(), "", "", 0, 0, depth)),
        (f"balance.history keyset at depth {depth} (whale)",
         lambda: (lambda w: bh(w, "", "", 0, 0, 0, 100, bh_cursor[w]))(whale())),
        ("order.finished first page (user)", lambda: of(user())),
        ("order.finished first page side=2 (whale)", lambda: of(whale(), "BTCUSDT", 0, 0, 0, 100, 2)),
        ("order.finished 7-day window (whale)", lambda: of(whale(), "BTCUSDT", *window(span_oh, 7 * DAY))),
        (f"order.finished offset {depth} (whale)", lambda: of(whale(), "BTCUSDT", 0, 0, depth)),
        (f"order.finished keyset at depth {depth} (whale)",
         lambda: (lambda w: of(w, "BTCUSDT", 0, 0, 0, 100, 0, of_cursor[w]))(whale())),
        ("order.finished_detail (random id)", lambda: M["order.finished_detail"]([rng.randint(1, max_order_id)])),
        ("order.deals (ordinary order, 1 deal)", lambda: M["order.deals"]([rng.randint(1, max_order), 0, 100])),
        ("order.deals (whale order, 500 deals)", lambda: M["order.deals"]([rng.choice(whale_orders), 0, 100])),
        ("order.deals offset 400 (whale order)", lambda: M["order.deals"]([rng.choice(whale_orders), 400, 100])),
        ("market.user_deals first page (user)", lambda: M["market.user_deals"]([user(), "BTCUSDT", 0, 100])),
        ("market.user_deals first page (whale)", lambda: M["market.user_deals"]([whale(), "BTCUSDT", 0, 100])),
        (f"market.user_deals offset {depth} (whale)",
         lambda: M["market.user_deals"]([whale(), "BTCUSDT", depth, 100])),
        (f"market.user_deals keyset at depth {depth} (whale)",
         lambda: (lambda w: M["market.user_deals"]([w, "BTCUSDT", 0, 100, ud_cursor[w]]))(whale())),
    ]

    print(f"database {args.db}: balance_history {BalanceHistory.objects.count():,} rows, "
          f"deal_history {DealHistory.objects.count():,}, order_history {OrderHistory.objects.count():,}; "
          f"n={args.n} per pattern, limit 100\n")
    print(f"{'pattern':54} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'rows':>5}")
    explains = []
    for name, fn in patterns:
        for _ in range(20):
            fn()
        samples, nrows = [], 0
        for _ in range(args.n):
            t = time.perf_counter()
            result = fn()
            samples.append((time.perf_counter() - t) * 1000)
            nrows = len(result["records"]) if isinstance(result, dict) and "records" in result else nrows
        samples.sort()
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        print(f"{name:54} {statistics.median(samples):8.2f} {p99:8.2f} {samples[-1]:8.2f} {nrows:5}", flush=True)
        if not args.no_explain:
            with CaptureQueriesContext(connection) as ctx:
                fn()
            sql = [q["sql"] for q in ctx.captured_queries if "_history" in q["sql"]][-1]
            explains.append((name, sql))

    for name, sql in explains:
        with connection.cursor() as c:
            c.execute("EXPLAIN " + sql)
            cols = [d[0] for d in c.description]
            rows = [dict(zip(cols, r)) for r in c.fetchall()]
        print(f"\n-- {name}\n   {sql}")
        for r in rows:
            print(f"   table={r['table']} type={r['type']} key={r['key']} rows={r['rows']} Extra={r['Extra']}")


if __name__ == "__main__":
    main()
