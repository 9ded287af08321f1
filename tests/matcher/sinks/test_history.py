"""The history sink (matcher/sinks/history.py, history_child.py) against real MariaDB: the
rows, and re-emission after a lost position doubles nothing (deterministic ids)."""
from __future__ import annotations

import random

import pytest

from tests.matcher.log.helpers import (
    SETUP,
    engine_totals,
    history_balance_sums,
    random_commands,
    run,
    session,
    sql,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_history_rows_and_idempotent_reemission():
    cmds = SETUP + random_commands(random.Random(5), 1200)
    s1, _, _ = run(session(cmds))
    eng = s1.engine
    assert eng.deal_seq > 100
    # per user and asset, Σ balance-history changes = current balance
    assert history_balance_sums() == engine_totals(eng)
    n_deal_rows = sql("SELECT COUNT(*) FROM deal_history")[0][0]
    assert n_deal_rows == 2 * eng.deal_seq
    row = sql("SELECT id, side, fee, deal_fee, deal_id, user_id, order_id, deal_order_id FROM deal_history "
              "WHERE deal_id = 1 ORDER BY id")
    assert [r[0] for r in row] == [2, 3] and [r[1] for r in row] == [1, 2]
    assert row[0][2] == row[1][3] and row[0][3] == row[1][2]  # own fee / counterparty fee
    assert row[0][6] == row[1][7] and row[0][7] == row[1][6]
    detail = sql("SELECT detail FROM balance_history WHERE business = 'trade' LIMIT 1")[0][0]
    assert detail.startswith('{"a":') and '"i":' in detail and '"m":' in detail
    counts = [sql(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("balance_history", "order_history", "deal_history")]
    assert counts[1] > 0
    assert sql("SELECT position FROM sink_progress WHERE name = 'history'")[0][0] == eng.event_seq
    # forget the progress: a restart writes everything again, doubling nothing
    sql("UPDATE sink_progress SET position = 0 WHERE name = 'history'")
    run(session([]))
    assert [sql(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("balance_history", "order_history", "deal_history")] == counts
    assert history_balance_sums() == engine_totals(eng)
    # lose rows: they come back
    sql("DELETE FROM deal_history WHERE deal_id > 50")
    sql("UPDATE sink_progress SET position = 0 WHERE name = 'history'")
    run(session([]))
    assert sql("SELECT COUNT(*) FROM deal_history")[0][0] == 2 * eng.deal_seq


def test_writing_the_same_rows_again_doubles_nothing_and_the_position_never_goes_back():
    """``write_rows`` straight: insert-ignore on the deterministic ids, and
    ``sink_progress.history`` only moves forward (a late, older batch cannot lower it)."""
    from matcher.core import Engine
    from matcher.log.db import Db, read_progress
    from matcher.sinks.history import rows_of, write_rows

    e = Engine()
    events = []
    t = 1_700_000_000_000_000
    for m, p in SETUP + [("balance.update", [1, "BTC", "deposit", 1, "2", {}]),
                         ("balance.update", [2, "USDT", "deposit", 1, "100000", {}]),
                         ("order.put_limit", [1, "BTCUSDT", 1, "1", "100", "0.002", "0.001", ""]),
                         ("order.put_limit", [2, "BTCUSDT", 2, "1.5", "100", "0.002", "0.001", ""])]:
        out = e.execute(m, p, t)
        assert out.error is None
        events += out.events
    balances, orders, deals = [], [], []
    rows_of(events, balances, orders, deals)
    last = events[-1].seq
    db = Db("default")
    try:
        write_rows(db, balances, orders, deals, last)
        counts = [sql(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("balance_history", "order_history", "deal_history")]
        assert counts == [len(balances), len(orders), len(deals)] and len(deals) == 2
        write_rows(db, balances, orders, deals, last - 1)
        assert [sql(f"SELECT COUNT(*) FROM {t}")[0][0]
                for t in ("balance_history", "order_history", "deal_history")] == counts
        assert read_progress(db) == {"history": last}
    finally:
        db.close()
    assert history_balance_sums() == engine_totals(e)


def test_literal_rows_store_exactly_what_the_tuple_rows_store():
    """On MySQL the follower builds each row's VALUES text straight from the event
    (``LiteralRows``); stored, every column equals what ``rows_of`` + the generic
    insert store — trade details, free-form details and labels with quotes and
    backslashes, fee-account rows, client order ids, tiny and huge decimals."""
    from matcher.core import BalanceEvent, Engine
    from matcher.log.db import Db
    from matcher.sinks.history import TABLES, LiteralRows, row_builder, rows_of, write_rows

    e = Engine()
    events = []
    t = 1_700_000_000_123_457
    odd = {"tx": "it's a \\ \"quote\"\n", "é": ["ü", 1.5, None], "n": 12345678901234567890}
    cmds = SETUP + [("config.fee_account", [99]),
                    ("balance.update", [1, "BTC", "deposit", 1, "2", odd]),
                    ("balance.update", [2, "USDT", "it's\\odd", 1, "100000.00000001", {}]),
                    ("balance.update", [1, "BTC", "deposit", 2, "0.00000001", {"x": "1E-8"}]),
                    ("order.put_limit", [1, "BTCUSDT", 1, "1", "100", "0.002", "0.001", "o'src\\"]),
                    ("order.put_limit", [2, "BTCUSDT", 2, "1.5", "100.01", "0.002", "0.001", "web",
                                         {"client_order_id": "cid-1.a:b_c"}]),
                    ("order.put_limit", [1, "BTCUSDT", 1, "0.001", "199.99", "0.002", "0.001", ""]),
                    ("order.put_market", [2, "BTCUSDT", 2, "5", "0.002", "api"])]
    for m, p in cmds:
        t += 1
        out = e.execute(m, p, t)
        assert out.error is None, (m, out.error)
        events += out.events
    assert any(type(ev) is BalanceEvent and ev.trade and ev.trade[5] is not None for ev in events)  # a fee-account row
    tables = {}
    db = Db("default")
    assert isinstance(row_builder(db.vendor), LiteralRows)
    try:
        for build in (row_builder(db.vendor), rows_of):  # rows_of builds (and caches) each event's detail dict
            for table in TABLES:
                sql(f"DELETE FROM {table}")
            balances, orders, deals = [], [], []
            build(events, balances, orders, deals)
            write_rows(db, balances, orders, deals, events[-1].seq)
            tables[build] = {table: sql(f"SELECT {', '.join(f'`{c}`' for c in cols)} FROM {table} ORDER BY id")
                             for table, cols in TABLES.items()}
    finally:
        db.close()
    literal_rows, tuple_rows = tables.values()
    assert all(tuple_rows[table] for table in TABLES)
    assert literal_rows == tuple_rows
