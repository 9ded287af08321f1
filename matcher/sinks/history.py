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
from matcher.core.numbers import raw as _raw
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

# -- MySQL/MariaDB: rows built straight into SQL VALUES text ------------------------------
# The follower's hot path: one "(…)" text per row, straight from the event's fields (no
# tuple, no order dict, no per-value type dispatch), joined into one INSERT per table and
# step. Equal, once stored, to what ``rows_of`` + ``executemany_ignore`` store
# (tests/matcher/sinks/test_history.py compares both).


def _num(d) -> str:
    """A Decimal as an exact SQL numeric literal (plain notation: ``1E-8`` would be a
    DOUBLE literal)."""
    s = str(d)
    return format(d, "f") if "E" in s else s


class LiteralRows:
    """``rows_of`` for MySQL/MariaDB: appends the VALUES text of each row. ``escape``:
    bytes -> bytes (mysqlclient's C ``escape_string``). Labels (asset, market, business,
    source) repeat: their quoted literals are cached. Reads the events' unbuilt parts
    (``OrderEvent.snap``, ``BalanceEvent.trade``): building the order dict / detail dict
    first and formatting it again cost more than the rest of the row."""

    def __init__(self, escape):
        self._escape = escape
        self._quoted: dict[str, str] = {}

    def quote(self, s: str) -> str:
        q = self._quoted.get(s)
        if q is None:
            q = "'" + self._escape(s.encode()).decode() + "'"
            if len(self._quoted) < 10_000:
                self._quoted[s] = q
        return q

    def __call__(self, events, balances: list, orders: list, deals: list) -> None:
        quote = self.quote
        escape = self._escape
        for ev in events:
            cls = type(ev)
            if cls is BalanceEvent:
                trade = ev.trade  # the detail's parts, before it is built as a dict
                if trade is not None:
                    a, i, m, p, f, u = trade
                    # the text orjson gives for the sorted detail dict (a, f, i, m, p, u); m is a
                    # market name ([A-Z0-9]+): nothing to escape in JSON or SQL
                    detail = (f'\'{{"a":"{_raw(a)}",' + (f'"f":"{_raw(f)}",' if f is not None else "")
                              + f'"i":{i},"m":"{m}","p":"{_raw(p)}"' + (f',"u":{u}' if u is not None else "") + "}'")
                else:
                    detail = "'" + escape(orjson.dumps(ev.detail, option=_SORT)).decode() + "'"
                balances.append(f"({ev.seq},{ev.time_us / 1e6!r},{ev.user_id},{quote(ev.asset)},"
                                f"{quote(ev.business)},{_num(ev.change)},{_num(ev.balance)},{detail})")
            elif cls is DealEvent:
                head = f",{ev.time_us / 1e6!r},"
                mid = (f",{quote(ev.market)},{ev.deal_id},")
                tail = f",{_num(ev.price)},{_num(ev.amount)},{_num(ev.deal)},"
                ask_fee, bid_fee = _num(ev.ask_fee), _num(ev.bid_fee)
                d2 = ev.deal_id * 2
                deals.append(f"({d2}{head}{ev.ask_user_id}{mid}{ev.ask_order_id},{ev.bid_order_id},1,"
                             f"{ev.ask_role}{tail}{ask_fee},{bid_fee})")
                deals.append(f"({d2 + 1}{head}{ev.bid_user_id}{mid}{ev.bid_order_id},{ev.ask_order_id},2,"
                             f"{ev.bid_role}{tail}{bid_fee},{ask_fee})")
            elif cls is OrderEvent:
                if ev.to_history:
                    # (id, market, source, type, side, user, ctime_us, mtime_us, price, amount,
                    #  taker_fee, maker_fee, left, deal_stock, deal_money, deal_fee, client_order_id)
                    s = ev.snap  # the order's fields, before they become a dict
                    orders.append(f"({s[0]},{s[6] / 1e6!r},{s[7] / 1e6!r},{s[5]},{quote(s[1])},{quote(s[2])},"
                                  f"{s[3]},{s[4]},{_num(s[8])},{_num(s[9])},{_num(s[10])},{_num(s[11])},"
                                  f"{_num(s[13])},{_num(s[14])},{_num(s[15])},"
                                  f"'{escape(s[16].encode()).decode() if s[16] else ''}')")


def _insert_text(cur, table: str, columns: tuple, values: list, chunk: int = 5000) -> None:
    cols = ",".join(f"`{c}`" for c in columns)
    pk = columns[0]
    for i in range(0, len(values), chunk):
        cur.execute(f"INSERT INTO {table} ({cols}) VALUES {','.join(values[i:i + chunk])} "
                    f"ON DUPLICATE KEY UPDATE `{pk}`=`{pk}`")


def row_builder(vendor: str):
    """The row builder for ``write_rows`` on ``vendor``: ``LiteralRows`` on MySQL, else ``rows_of``."""
    if vendor == "mysql":
        from MySQLdb._mysql import escape_string  # charset-independent: utf8 bytes never hold a quote

        return LiteralRows(escape_string)
    return rows_of


def write_rows(db: Db, balances: list, orders: list, deals: list, last_seq: int) -> None:
    """One transaction: the rows (insert-ignore) + ``sink_progress.history = last_seq``.
    Rows are tuples (``rows_of``) or, on MySQL, VALUES texts (``LiteralRows``)."""
    vendor = db.vendor
    progress_sql = set_progress_sql(vendor)

    def write(cur):
        for table, cols, rows in (("balance_history", BALANCE_COLS, balances), ("order_history", ORDER_COLS, orders),
                                  ("deal_history", DEAL_COLS, deals)):
            if rows:
                if type(rows[0]) is str:
                    _insert_text(cur, table, cols, rows)
                else:
                    executemany_ignore(cur, vendor, table, cols, rows)
        cur.execute(progress_sql, (NAME, last_seq))

    db.run(write)
