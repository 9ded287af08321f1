"""The durability tables moved from apps.history to apps.durability by state-only migrations:
a database still at the state before the move (history 0004, tables owned by history)
keeps its rows through the move, and the move runs backwards too. (A fresh database is the
test database itself: it is migrated from zero.)"""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("history", "0004_deal_history_user_market_indexes"), ("durability", None)]
ROWS = {
    "operation_log": "SELECT id, time_us, method, params FROM operation_log",
    "snapshot": "SELECT id, end_oper_id, checksum, complete FROM snapshot",
    "snapshot_chunk": "SELECT snapshot_id, seq, data FROM snapshot_chunk",
    "sink_progress": "SELECT name, position FROM sink_progress",
}


def rows() -> dict:
    with connection.cursor() as cur:
        out = {}
        for table, q in ROWS.items():
            cur.execute(q)
            out[table] = [tuple(bytes(v) if isinstance(v, (bytes, memoryview)) else v for v in r)
                          for r in cur.fetchall()]
        return out


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)  # a fresh loader: the recorded state changed


def test_moving_the_tables_keeps_their_rows():
    with connection.cursor() as cur:
        cur.execute("INSERT INTO operation_log (id, time_us, method, params) VALUES (1, 5, 'balance.update', '[1]')")
        cur.execute("INSERT INTO snapshot (id, time_us, end_oper_id, end_order_id, end_deal_id, end_event_seq, "
                    "checksum, size, complete, created_at) VALUES (7, 1, 1, 0, 0, 0, 'abc', 3, 1, NOW())")
        cur.execute("INSERT INTO snapshot_chunk (snapshot_id, seq, data) VALUES (7, 0, 'xyz')")
        cur.execute("INSERT INTO sink_progress (name, position) VALUES ('history', 9)")
    before = rows()
    executor = migrate(BEFORE)
    state = executor.loader.project_state([BEFORE[0]]).apps
    assert state.get_model("history", "OperationLog")._meta.db_table == "operation_log"
    assert rows() == before
    leaves = executor.loader.graph.leaf_nodes()
    executor = migrate(leaves)
    assert not executor.migration_plan(leaves)  # fully migrated again
    state = executor.loader.project_state(leaves).apps
    assert state.get_model("durability", "SnapshotChunk")._meta.db_table == "snapshot_chunk"
    with pytest.raises(LookupError):
        state.get_model("history", "OperationLog")
    assert rows() == before
