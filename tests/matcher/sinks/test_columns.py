"""The history sink's multi-row inserts name every column of apps/history's models, and
only those: a field added, renamed or dropped in a model without the row builder (or the
reverse) fails here."""
from apps.history.models import BalanceHistory, DealHistory, OrderHistory
from matcher.sinks import history


def test_each_history_table_is_written_with_all_its_columns():
    models = {m._meta.db_table: m for m in (BalanceHistory, OrderHistory, DealHistory)}
    assert set(history.TABLES) == set(models)
    for table, cols in history.TABLES.items():
        assert len(set(cols)) == len(cols), table
        assert set(cols) == {f.column for f in models[table]._meta.concrete_fields}, table
        assert cols[0] == models[table]._meta.pk.column  # insert-ignore keys on the first column


def test_row_builder_fills_every_column():
    from tests.matcher.core.util import ok, seeded

    e = seeded()
    ok(e, "balance.update", [1, "BTC", "deposit", 1, "10", {}])
    ok(e, "balance.update", [2, "USDT", "deposit", 1, "100000", {}])
    ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "100", "0.001", "0.002", ""])
    out = ok(e, "order.put_limit", [2, "BTCUSDT", 2, "1", "100", "0.001", "0.002", ""])
    balances, orders, deals = [], [], []
    history.rows_of(out.events, balances, orders, deals)
    assert balances and orders and deals
    assert {len(r) for r in balances} == {len(history.BALANCE_COLS)}
    assert {len(r) for r in orders} == {len(history.ORDER_COLS)}
    assert {len(r) for r in deals} == {len(history.DEAL_COLS)}
