"""History writer: events → rows of balance_history, order_history, deal_history.

Runs in its own thread with its own connection. Each flush takes every queued event (up to
``max_events``), builds the rows, and in ONE transaction inserts them (multi-row,
insert-ignore on the deterministic primary keys) and advances ``sink_progress.history`` to
the last event seq of the batch. So the stored position is exact, and a replay after a
crash re-inserts at most what is already there (skipped) — nothing missing, nothing
doubled. Database errors: the same batch is retried forever; ``healthy`` goes False.

Rows (spec readhistory.md, README §6, apps/history/models.py):
- BalanceEvent → balance_history (id = seq, detail JSON with sorted keys, balance = total after)
- OrderEvent with to_history → order_history (id = order id, finish_time = mtime)
- DealEvent → two deal_history rows: id = deal_id*2 (ask side) and deal_id*2+1 (bid side);
  fee = own fee, deal_fee = counterparty fee.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque

import orjson

from matcher.core import BalanceEvent, DealEvent, OrderEvent

from matcher.log.db import Db, executemany_ignore, set_progress_sql

logger = logging.getLogger("matcher.history")

BALANCE_COLS = ("id", "time", "user_id", "asset", "business", "change", "balance", "detail")
ORDER_COLS = ("id", "create_time", "finish_time", "user_id", "market", "source", "t", "side", "price",
              "amount", "taker_fee", "maker_fee", "deal_stock", "deal_money", "deal_fee", "client_order_id")
DEAL_COLS = ("id", "time", "user_id", "market", "deal_id", "order_id", "deal_order_id", "side", "role",
             "price", "amount", "deal", "fee", "deal_fee")

_SORT = orjson.OPT_SORT_KEYS


def _num(d) -> str:
    """Decimal → plain string for a DECIMAL column (no exponent)."""
    return format(d, "f")


def _numstr(s: str) -> str:
    """fmt'ed decimal string (may be '1e-8') → plain string."""
    if "e" in s or "E" in s:
        from decimal import Decimal

        return format(Decimal(s), "f")
    return s


def rows_of(events, balances: list, orders: list, deals: list) -> None:
    for ev in events:
        cls = type(ev)
        if cls is BalanceEvent:
            balances.append((ev.seq, ev.time_us / 1e6, ev.user_id, ev.asset, ev.business, _num(ev.change),
                             _num(ev.balance), orjson.dumps(ev.detail, option=_SORT).decode()))
        elif cls is DealEvent:
            t = ev.time_us / 1e6
            price, amount, deal = _num(ev.price), _num(ev.amount), _num(ev.deal)
            ask_fee, bid_fee = _num(ev.ask_fee), _num(ev.bid_fee)
            deals.append((ev.deal_id * 2, t, ev.ask_user_id, ev.market, ev.deal_id, ev.ask_order_id,
                          ev.bid_order_id, 1, ev.ask_role, price, amount, deal, ask_fee, bid_fee))
            deals.append((ev.deal_id * 2 + 1, t, ev.bid_user_id, ev.market, ev.deal_id, ev.bid_order_id,
                          ev.ask_order_id, 2, ev.bid_role, price, amount, deal, bid_fee, ask_fee))
        elif cls is OrderEvent:
            if ev.to_history:
                o = ev.order
                orders.append((o["id"], o["ctime"], o["mtime"], o["user"], o["market"], o["source"], o["type"],
                               o["side"], _numstr(o["price"]), _numstr(o["amount"]), _numstr(o["taker_fee"]),
                               _numstr(o["maker_fee"]), _numstr(o["deal_stock"]), _numstr(o["deal_money"]),
                               _numstr(o["deal_fee"]), o.get("client_order_id") or ""))


class HistoryWriter:
    NAME = "history"

    def __init__(self, *, alias: str = "default", position: int = 0, max_events: int = 20000,
                 interval: float = 0.0):
        self._alias = alias
        self._queue: deque = deque()  # lists of events, in seq order
        # events submitted (written by the event loop only) and done (by the writer only)
        self._submitted = 0
        self._done = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread = None
        self._max_events = max_events
        self._interval = interval
        self.position = position  # last event seq written (committed)
        self.healthy = True
        self.last_error = None
        self.rows_written = 0

    # -- event-loop side ---------------------------------------------------------------
    def submit(self, events: list) -> None:
        """``events``: a list of events in seq order (those <= position are skipped)."""
        if not events:
            return
        if events[-1].seq <= self.position:
            return
        self._submitted += len(events)
        self._queue.append(events)
        if not self._wake.is_set():
            self._wake.set()

    def backlog(self) -> int:
        return self._submitted - self._done

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        self._deadline = time.monotonic() + timeout
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout + 5)

    def flushed(self) -> bool:
        return self._submitted == self._done

    # -- writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        db = Db(self._alias)
        q = self._queue
        try:
            while True:
                if not q:
                    if self._stopping:
                        return
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                if self._interval:
                    time.sleep(self._interval)
                taken = []
                n = 0
                while q and n < self._max_events:
                    evs = q.popleft()
                    taken.append(evs)
                    n += len(evs)
                self._write(db, taken, n)
        except Exception:  # noqa: BLE001
            logger.critical("history writer died", exc_info=True)
            self.healthy = False
        finally:
            db.close()

    def _write(self, db: Db, taken: list, n: int) -> None:
        balances, orders, deals = [], [], []
        pos = self.position
        last = pos
        for evs in taken:
            if evs[-1].seq <= pos:
                continue
            if evs[0].seq <= pos:
                evs = [e for e in evs if e.seq > pos]
            rows_of(evs, balances, orders, deals)
            last = evs[-1].seq
        vendor = db.vendor
        progress_sql = set_progress_sql(vendor)

        def write(cur):
            if balances:
                executemany_ignore(cur, vendor, "balance_history", BALANCE_COLS, balances)
            if orders:
                executemany_ignore(cur, vendor, "order_history", ORDER_COLS, orders)
            if deals:
                executemany_ignore(cur, vendor, "deal_history", DEAL_COLS, deals)
            cur.execute(progress_sql, (self.NAME, last))

        failures = 0
        while last > pos:
            try:
                db.run(write)
                break
            except Exception as e:  # noqa: BLE001 - retry forever
                failures += 1
                self.healthy = False
                self.last_error = str(e)
                if failures == 1 or failures % 20 == 0:
                    logger.error("history write failed (attempt %s, up to event %s): %s", failures, last, e)
                if self._stopping and time.monotonic() > self._deadline:
                    logger.error("history writer: stopping with events up to %s unwritten; they are "
                                 "written again after the next start", last)
                    raise SystemExit from e
                time.sleep(min(1.0, 0.05 * 2 ** min(failures, 5)))
        if failures:
            logger.warning("history writable again after %s failed attempts", failures)
        self.healthy = True
        self.last_error = None
        self.position = last
        self.rows_written += len(balances) + len(orders) + len(deals)
        self._done += n
