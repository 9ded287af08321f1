"""Recovery at start (matcher/log/recovery.py) against real MariaDB: a restart equals the
state before, with and without snapshots; a corrupt snapshot falls back to an older one;
a gap or a failing replay stops the start."""
from __future__ import annotations

import random

import pytest

from matcher.log.recovery import RecoveryError
from tests.matcher.log.helpers import SETUP, random_commands, recovered, run, service, session, sql

pytestmark = pytest.mark.django_db(transaction=True)


def test_restart_equals_before_without_snapshot():
    cmds = SETUP + random_commands(random.Random(1), 1500)
    s1, replies, _ = run(session(cmds))
    assert sum(r["error"] is None for r in replies) > 1000
    s2, h2, info = recovered()
    assert h2 == s1.engine.state_hash()
    assert info["snapshot_id"] is None and info["replayed"] == s1.engine.oper_seq

    # ids continue after the restart; nothing is reused
    async def more():
        s = service()
        await s.start()
        r = await s.call("order.put_limit", [1, "BTCUSDT", 1, "0.01", "20000", "0.002", "0.001", "x"])
        await s.stop()
        return r, s

    r, s3 = run(more())
    assert r["error"] is None and r["result"]["id"] == s1.engine.order_seq + 1
    assert s3.engine.oper_seq == s1.engine.oper_seq + 1


def test_restart_equals_before_with_snapshots_and_retention():
    cmds = SETUP + random_commands(random.Random(2), 1500)
    s1, replies, snaps = run(session(cmds, snapshot_after=(400, 900, 1200, 1400), snapshot_keep=2))
    assert [m["end_oper_id"] for m in snaps] == sorted(m["end_oper_id"] for m in snaps)
    s2, h2, info = recovered()
    assert h2 == s1.engine.state_hash()
    assert info["snapshot_id"] == snaps[-1]["id"]
    assert info["replayed"] == s1.engine.oper_seq - snaps[-1]["end_oper_id"]
    # retention: 2 newest kept; the log is pruned behind the oldest kept one
    kept = [r[0] for r in sql("SELECT id FROM snapshot ORDER BY id")]
    assert kept == [m["id"] for m in snaps[-2:]]
    low = sql("SELECT MIN(id) FROM operation_log")[0][0]
    assert low == snaps[-2]["end_oper_id"] + 1


def test_snapshot_checksum_mismatch_falls_back_then_refuses():
    cmds = SETUP + random_commands(random.Random(3), 800)
    s1, _, snaps = run(session(cmds, snapshot_after=(300, 600), snapshot_keep=3))
    before = s1.engine.state_hash()
    newest = snaps[-1]["id"]
    sql("UPDATE snapshot_chunk SET data = %s WHERE snapshot_id = %s", (b"garbage", newest))
    _, h, info = recovered()
    assert h == before
    assert info["snapshot_id"] == snaps[0]["id"]
    # the older one corrupt too, and the log before it pruned: refuse to start
    sql("UPDATE snapshot_chunk SET data = %s WHERE snapshot_id = %s", (b"garbage", snaps[0]["id"]))
    sql("DELETE FROM operation_log WHERE id <= %s", (snaps[0]["end_oper_id"],))
    with pytest.raises(RecoveryError, match="no usable starting point"):
        recovered()


def test_gap_or_failing_replay_stops_the_start():
    cmds = SETUP + random_commands(random.Random(4), 300)
    run(session(cmds))
    sql("DELETE FROM operation_log WHERE id = 100")
    with pytest.raises(RecoveryError, match="expected operation 100, found 101"):
        recovered()
    sql("INSERT INTO operation_log (id, time_us, method, params) VALUES (100, 1, 'order.cancel', '[1,\"BTCUSDT\",999999]')")
    with pytest.raises(RecoveryError, match="replay of operation 100 "):
        recovered()


def test_replay_builds_no_events_and_restores_the_engine_mode():
    """replay runs the engine event-less (nobody takes events from it: the followers have
    their own loop) and leaves the engine's mode as it found it. Same state as the live run."""
    from matcher.core import Engine
    from matcher.log.db import Db
    from matcher.log.recovery import replay

    cmds = SETUP + random_commands(random.Random(5), 400)
    s1, _, _ = run(session(cmds))

    class Spy(Engine):
        def execute(self, method, params, time_us):
            modes.add(self.emit_events)
            return super().execute(method, params, time_us)

    db = Db("default")
    engines = []
    for emitting in (True, False):
        modes = set()
        engine = Spy()
        engine.emit_events = emitting
        assert replay(db, engine) == s1.engine.oper_seq
        assert modes == {False} and engine.emit_events is emitting
        engines.append(engine)
    assert engines[0].state_hash() == engines[1].state_hash() == s1.engine.state_hash()
