"""Snapshots (matcher/log/snapshot.py) against real MariaDB: a stored snapshot reads back
as the engine's state, a corrupt one is rejected by its checksum, retention keeps the
newest ones plus the one the outputs still need and prunes the log behind them."""
from __future__ import annotations

import pytest

from matcher.core import Engine
from matcher.log.db import Db
from matcher.log.snapshot import SnapshotError, apply_retention, list_snapshots, read_snapshot, write_snapshot
from tests.matcher.log.helpers import SETUP, sql

pytestmark = pytest.mark.django_db(transaction=True)


def engine_after(n_deposits: int) -> Engine:
    e = Engine()
    t = 1_700_000_000_000_000
    for m, p in SETUP:
        assert e.execute(m, p, t).error is None
    for i in range(1, n_deposits + 1):
        assert e.execute("balance.update", [i % 3 + 1, "USDT", "deposit", i, "1.5", {}], t + i).error is None
    return e


INCOMPLETE = ("INSERT INTO snapshot (time_us, end_oper_id, end_order_id, end_deal_id, end_event_seq, checksum, "
              "size, complete, created_at) VALUES (1, 1, 0, 0, 0, '', 0, 0, NOW())")


@pytest.fixture
def db():
    d = Db("default")
    yield d
    d.close()


def test_snapshot_reads_back_and_a_corrupt_chunk_is_rejected(db):
    e = engine_after(10)
    meta = write_snapshot(db, e)
    (listed,) = list_snapshots(db)
    assert listed["id"] == meta["id"] and listed["end_oper_id"] == e.oper_seq
    assert Engine.load_state(read_snapshot(db, listed)).state_hash() == e.state_hash()
    sql("UPDATE snapshot_chunk SET data = %s WHERE snapshot_id = %s", (b"garbage", meta["id"]))
    with pytest.raises(SnapshotError, match="checksum mismatch"):
        read_snapshot(db, listed)


def test_an_incomplete_snapshot_is_not_listed(db):
    sql(INCOMPLETE)
    assert list_snapshots(db) == []


def test_retention_keeps_the_newest_and_the_one_the_outputs_need_and_prunes_the_log(db):
    metas = [write_snapshot(db, engine_after(n)) for n in (10, 20)]
    sql(INCOMPLETE)  # a crash while writing: an incomplete leftover, older than the newest complete one
    crashed = sql("SELECT MAX(id) FROM snapshot")[0][0]
    metas += [write_snapshot(db, engine_after(n)) for n in (30, 40)]
    sql(INCOMPLETE)  # being written right now: newer than every complete one, left alone
    in_progress = sql("SELECT MAX(id) FROM snapshot")[0][0]
    last = metas[-1]["end_oper_id"]
    sql("INSERT INTO operation_log (id, time_us, method, params) VALUES " +
        ",".join(f"({i}, 1, 'x', '[]')" for i in range(1, last + 1)))
    # the outputs are behind the two newest: the newest snapshot at or before them stays too
    need = metas[1]
    out = apply_retention(db, keep=2, sink_position=need["end_event_seq"])
    assert sorted(out["kept"]) == [need["id"], metas[2]["id"], metas[3]["id"]]
    assert sorted(out["deleted"]) == sorted([metas[0]["id"], crashed])
    assert [r[0] for r in sql("SELECT id FROM snapshot ORDER BY id")] == sorted(out["kept"]) + [in_progress]
    assert sql("SELECT COUNT(*) FROM snapshot_chunk WHERE snapshot_id = %s", (metas[0]["id"],))[0][0] == 0
    assert out["pruned_upto"] == need["end_oper_id"]
    assert sql("SELECT MIN(id), MAX(id) FROM operation_log")[0] == (need["end_oper_id"] + 1, last)
    # outputs caught up: the two newest alone, the log pruned behind the older of them
    out = apply_retention(db, keep=2, sink_position=metas[3]["end_event_seq"])
    assert sorted(out["kept"]) == [metas[2]["id"], metas[3]["id"]]
    assert sql("SELECT MIN(id) FROM operation_log")[0][0] == metas[2]["end_oper_id"] + 1


@pytest.mark.parametrize("layout", [1, 2])
def test_a_snapshot_of_an_older_state_layout_still_loads(db, layout):
    """Snapshots written before state layout 3 (the version field of the stored state)
    load to the same engine; the next snapshot is written in layout 3."""
    import random

    from matcher.core import state as st
    from matcher.log.recovery import recover
    from tests.matcher.log.helpers import random_commands

    e = engine_after(5)
    t = 1_700_000_100_000_000
    for m, p in random_commands(random.Random(3), 300, users=4, start_bid=1000):
        e.execute(m, p, t)
        t += 1
    assert any(m.orders for m in e.markets.values())

    class Old:  # what the code before layout 3 dumped
        def dump_state(self):
            return (st.dump_state_v1 if layout == 1 else st.dump_state_v2)(e)

    meta = write_snapshot(db, Old())
    state = read_snapshot(db, list_snapshots(db)[0])
    assert state["version"] == layout
    engine, info = recover(db)
    assert info["snapshot_id"] == meta["id"] and engine.state_hash() == e.state_hash()
    write_snapshot(db, engine)
    assert read_snapshot(db, list_snapshots(db)[0])["version"] == st.STATE_VERSION == 3
