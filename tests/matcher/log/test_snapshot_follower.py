"""The snapshot follower process (matcher/log/snapshot_follower.py, snapshot_child.py;
plumbing: matcher/child_process.py): a failed snapshot is reported and the process goes
on; killed, it is started again at the next request."""
from __future__ import annotations

import asyncio
import os
import random
import signal

import pytest

from tests.matcher.log.helpers import SETUP, random_commands, run, run_commands, service

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_failed_snapshot_is_reported_and_a_killed_follower_restarts():
    async def go():
        s = service(history=False)
        await s.start()
        await run_commands(s, SETUP + random_commands(random.Random(11), 100, users=3))
        first = await s.make_snapshot()
        child = s.follower.child
        pid = child.pid
        # beyond the committed log: the child answers with the error and stays up
        with pytest.raises(RuntimeError, match="operation log gap"):
            s.follower.make(s.engine.oper_seq + 10, keep=3)
        assert child.alive() and child.pid == pid
        os.kill(pid, signal.SIGKILL)
        child.proc.wait()
        await s.call("balance.update", [1, "USDT", "deposit", 10**6, "1", {}])
        second = await s.make_snapshot()
        new_pid = child.pid
        await s.stop()
        return s, first, second, pid, new_pid, child

    s, first, second, pid, new_pid, child = run(go())
    assert new_pid != pid
    assert second["end_oper_id"] == first["end_oper_id"] + 1 == s.engine.oper_seq
    assert not child.alive()  # stopped with the service


def test_the_follower_keeps_current_so_a_snapshot_is_a_dump():
    """With periodic snapshots on, the follower starts with the service and follows the
    committed log without being asked; a snapshot then replays nothing and is exactly the
    live state."""
    from matcher.core import Engine
    from matcher.log.db import Db
    from matcher.log.snapshot import list_snapshots, read_snapshot

    async def wait_follower_at(s, oper, timeout=60.0):
        status = None
        for _ in range(int(timeout / 0.05)):
            status = await asyncio.to_thread(s.follower.status)
            if status["oper"] == oper:
                return status
            await asyncio.sleep(0.05)
        raise AssertionError(f"snapshot follower at {status}, not at operation {oper}")

    async def go():
        s = service(history=False, snapshot_interval=3600)
        await s.start()
        assert s.follower.child.alive()  # started with the service, no request yet
        await run_commands(s, SETUP + random_commands(random.Random(12), 300, users=4))
        first = await wait_follower_at(s, s.engine.oper_seq)
        await run_commands(s, random_commands(random.Random(13), 200, users=4))
        second = await wait_follower_at(s, s.engine.oper_seq)
        meta = await s.make_snapshot()
        live = s.engine.state_hash()
        oper = s.engine.oper_seq
        await s.stop()
        return first, second, meta, live, oper

    first, second, meta, live, oper = run(go())
    assert second["replayed"] > first["replayed"] > 0
    assert meta["replayed"] == 0 and meta["end_oper_id"] == oper
    db = Db()
    try:
        snap = next(m for m in list_snapshots(db) if m["id"] == meta["id"])
        assert Engine.load_state(read_snapshot(db, snap)).state_hash() == live
    finally:
        db.close()


def test_snapshots_by_operation_count(monkeypatch):
    """With SNAPSHOT_EVERY_OPERATIONS = N the follower snapshots on its own once it is N
    operations past the last snapshot (the hourly one is far away): each one is exactly the
    state after its end_oper_id, and a restart replays fewer than N operations."""
    from matcher.core import Engine
    from matcher.log.db import Db
    from matcher.log.recovery import recover
    from matcher.log.snapshot import list_snapshots, read_snapshot

    monkeypatch.setenv("SNAPSHOT_EVERY_OPERATIONS", "150")  # read by the follower process

    async def go():
        s = service(history=False, snapshot_interval=3600)
        await s.start()
        while (await asyncio.to_thread(s.follower.status))["oper"] is None:  # engine loaded
            await asyncio.sleep(0.05)
        hashes = {}
        cmds = SETUP + random_commands(random.Random(14), 500, users=4)
        for cmd in cmds:  # the live state after every operation
            await run_commands(s, [cmd], concurrency=1)
            hashes[s.engine.oper_seq] = s.engine.state_hash()
        status = None
        for _ in range(1200):
            status = await asyncio.to_thread(s.follower.status)
            if status["oper"] == s.engine.oper_seq and status["snapshots"] >= 2:
                break
            await asyncio.sleep(0.05)
        oper = s.engine.oper_seq
        await s.stop()
        return status, hashes, oper

    status, hashes, oper = run(go())
    assert status["snapshots"] >= 2 and oper - status["snapshot_oper"] < 150, status
    db = Db()
    try:
        snaps = list_snapshots(db)
        assert 1 <= len(snaps) <= 3  # SNAPSHOT_KEEP
        for snap in snaps:
            assert Engine.load_state(read_snapshot(db, snap)).state_hash() == hashes[snap["end_oper_id"]]
        engine, info = recover(db)
        assert info["snapshot_id"] == snaps[0]["id"] and info["replayed"] < 150
        assert engine.state_hash() == hashes[oper]
    finally:
        db.close()


def test_retention_position_and_a_failed_snapshot_by_count(monkeypatch):
    """The follower's own snapshots keep what the outputs may need: a sink that runs but has
    stored no position yet counts as 0; a failed snapshot leaves the engine and waits."""
    from matcher.core import Engine
    from matcher.log import snapshot_child
    from matcher.log.db import Db
    from matcher.log.snapshot_child import SnapshotTail
    from tests.matcher.log.helpers import sql

    db = Db()
    try:
        tail = SnapshotTail(db, every=10, sinks=("history", "kafka"))
        assert tail.sink_position() == 0
        sql("INSERT INTO sink_progress (name, position) VALUES ('history', 40), ('kafka', 25)")
        assert tail.sink_position() == 25
        assert SnapshotTail(db, sinks=()).sink_position() == 25
        sql("DELETE FROM sink_progress")
        assert SnapshotTail(db, sinks=()).sink_position() is None

        tail.engine = e = Engine()
        for m, p in SETUP:
            assert e.execute(m, p, 1).error is None
        for i in range(1, 12):
            assert e.execute("balance.update", [1, "USDT", "deposit", i, "1", {}], 1 + i).error is None
        assert tail.due()

        def broken(*a, **kw):
            raise RuntimeError("database away")

        monkeypatch.setattr(snapshot_child, "make_snapshot", broken)
        assert tail.snapshot_by_count() is None
        assert tail.engine is e and not tail.due() and tail.snapshots == 0  # waits SNAPSHOT_RETRY
        monkeypatch.undo()
        tail.not_before = 0.0
        meta = tail.snapshot_by_count()
        assert meta["end_oper_id"] == e.oper_seq == tail.snapshot_oper and tail.snapshots == 1
        assert not tail.due()
    finally:
        db.close()
