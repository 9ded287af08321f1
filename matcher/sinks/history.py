"""History rows: events → rows of balance_history, order_history, deal_history.

Written by the history follower process (``matcher/sinks/history_follower.py``), which
derives the events from the committed operation log. Each write inserts a batch of rows
(multi-row, insert-ignore on the deterministic primary keys) and advances
``sink_progress.history`` to the last event seq of the batch in ONE transaction. So the
stored position is exact, and a replay after a crash re-inserts at most what is already
there (skipped) — nothing missing, nothing doubled.

Rows (spec readhistory.md, spec README §6, apps/history/models.py):
- BalanceEvent → balance_history (id = seq, detail JSON with sorted keys, balance = total after)
- OrderEvent with to_history → order_history (id = order id, finish_time = mtime)
- DealEvent → two deal_history rows: id = deal_id*2 (ask side) and deal_id*2+1 (bid side);
  fee = own fee, deal_fee = counterparty fee.
"""
from __future__ import annotations

import logging

import orjson

from apps.wire.numbers import plain
from matcher.core import BalanceEvent, DealEvent, OrderEvent
from matcher.log.db import Db, executemany_ignore, set_progress_sql

logger = logging.getLogger("matcher.history")

# the row layouts of ``rows_of`` (apps/history/models.py; tests/matcher/sinks/test_columns.py
# checks that each list names every column of its model, and only those)
BALANCE_COLS = ("id", "time", "user_id", "asset", "business", "change", "balance", "detail")
ORDER_COLS = ("id", "create_time", "finish_time", "user_id", "market", "source", "t", "side", "price",
              "amount", "taker_fee", "maker_fee", "deal_stock", "deal_money", "deal_fee", "client_order_id")
DEAL_COLS = ("id", "time", "user_id", "market", "deal_id", "order_id", "deal_order_id", "side", "role",
             "price", "amount", "deal", "fee", "deal_fee")

TABLES = {"balance_history": BALANCE_COLS, "order_history": ORDER_COLS, "deal_history": DEAL_COLS}

_SORT = orjson.OPT_SORT_KEYS


def rows_of(events, balances: list, orders: list, deals: list) -> None:
    for ev in events:
        cls = type(ev)
        if cls is BalanceEvent:
            balances.append((ev.seq, ev.time_us / 1e6, ev.user_id, ev.asset, ev.business, plain(ev.change),
                             plain(ev.balance), orjson.dumps(ev.detail, option=_SORT).decode()))
        elif cls is DealEvent:
            t = ev.time_us / 1e6
            price, amount, deal = plain(ev.price), plain(ev.amount), plain(ev.deal)
            ask_fee, bid_fee = plain(ev.ask_fee), plain(ev.bid_fee)
            deals.append((ev.deal_id * 2, t, ev.ask_user_id, ev.market, ev.deal_id, ev.ask_order_id,
                          ev.bid_order_id, 1, ev.ask_role, price, amount, deal, ask_fee, bid_fee))
            deals.append((ev.deal_id * 2 + 1, t, ev.bid_user_id, ev.market, ev.deal_id, ev.bid_order_id,
                          ev.ask_order_id, 2, ev.bid_role, price, amount, deal, bid_fee, ask_fee))
        elif cls is OrderEvent:
            if ev.to_history:
                o = ev.order
                orders.append((o["id"], o["ctime"], o["mtime"], o["user"], o["market"], o["source"], o["type"],
                               o["side"], plain(o["price"]), plain(o["amount"]), plain(o["taker_fee"]),
                               plain(o["maker_fee"]), plain(o["deal_stock"]), plain(o["deal_money"]),
                               plain(o["deal_fee"]), o.get("client_order_id") or ""))


NAME = "history"  # sink_progress row


def write_rows(db: Db, balances: list, orders: list, deals: list, last_seq: int) -> None:
    """One transaction: the rows (insert-ignore) + ``sink_progress.history = last_seq``."""
    vendor = db.vendor
    progress_sql = set_progress_sql(vendor)

    def write(cur):
        if balances:
            executemany_ignore(cur, vendor, "balance_history", BALANCE_COLS, balances)
        if orders:
            executemany_ignore(cur, vendor, "order_history", ORDER_COLS, orders)
        if deals:
            executemany_ignore(cur, vendor, "deal_history", DEAL_COLS, deals)
        cur.execute(progress_sql, (NAME, last_seq))

    db.run(write)
