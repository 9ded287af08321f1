"""MatcherService against real MariaDB and a real Kafka-protocol broker: restart equals the
state before, snapshots (checksum, fallback, retention), recovery failures, history rows,
Kafka payloads, acknowledgement after commit."""
from __future__ import annotations

import asyncio
import random
import uuid
from decimal import Decimal

import pytest

from matcher.log.recovery import RecoveryError
from matcher.service import MatcherService
from tests.matcher.log.helpers import (
    SETUP,
    consume,
    dedupe,
    engine_totals,
    history_balance_sums,
    random_commands,
    run,
    run_commands,
    sql,
)

pytestmark = pytest.mark.django_db(transaction=True)


def service(bootstrap="", prefix="", **kw):
    kw.setdefault("snapshot_interval", 0)
    kw.setdefault("history_lag_limit_s", 5.0)  # see tests/matcherproc.py; back-pressure tests set theirs
    return MatcherService(kafka_bootstrap=bootstrap, kafka_topic_prefix=prefix, **kw)


async def until_accepting(s, timeout: float = 15.0):
    """Wait until the service accepts mutating commands again (no back-pressure)."""
    for _ in range(int(timeout / 0.05)):
        if s.refusal() is None:
            return
        await asyncio.sleep(0.05)


async def session(cmds, *, snapshot_after=(), **kw):
    """Start a service (recovering from the database), run cmds (snapshots after the
    given command counts), stop. Returns (service, replies, snapshot metas)."""
    s = service(**kw)
    await s.start()
    replies, snaps = [], []
    cuts = sorted(set(snapshot_after)) + [len(cmds)]
    start = 0
    for cut in cuts:
        replies += await run_commands(s, cmds[start:cut])
        start = cut
        if cut != len(cmds):
            # outputs caught up first, so retention need not keep an older snapshot for them
            while s.history is not None and s.history.backlog():
                await asyncio.sleep(0.01)
            snaps.append(await s.make_snapshot())
    await s.stop()
    return s, replies, snaps


def recovered(**kw):
    async def go():
        s = service(**kw)
        await s.start()
        h = s.engine.state_hash()
        info = s.recovery_info
        await s.stop()
        return s, h, info

    return run(go())


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


def test_matcher_process_refuses_to_start_with_a_critical_line_naming_the_operation(caplog):
    from matcher.__main__ import run as matcher_main

    run(session(SETUP + random_commands(random.Random(6), 200)))
    sql("DELETE FROM operation_log WHERE id = 150")
    with caplog.at_level("CRITICAL", logger="matcher"):
        assert run(matcher_main()) == 1
    (line,) = [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert "expected operation 150, found 151" in line.getMessage()


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


def test_kafka_payloads_headers_and_republish_after_restart(kafka_broker):
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    cmds = SETUP + random_commands(random.Random(6), 600)
    s1, replies, _ = run(session(cmds, bootstrap=kafka_broker.bootstrap, prefix=prefix))
    eng = s1.engine
    deals = consume(kafka_broker.bootstrap, prefix + "deals", min_count=eng.deal_seq)
    by_seq = dedupe(deals)
    ids = sorted(v[11] for _, v in by_seq.values())
    assert ids == list(range(1, eng.deal_seq + 1))
    key, d = next(iter(by_seq.values()))
    assert key == d[1] and len(d) == 14 and isinstance(d[0], float)
    assert all(isinstance(d[i], str) for i in (6, 7, 8, 9)) and d[12] in ("BTC", "ETH") and d[13] == "USDT"
    Decimal(d[6])
    orders = dedupe(consume(kafka_broker.bootstrap, prefix + "orders", min_count=1))
    o = next(iter(orders.values()))[1]
    assert set(o) == {"event", "order", "stock", "money"} and o["event"] in (1, 2, 3)
    balances = dedupe(consume(kafka_broker.bootstrap, prefix + "balances", min_count=1))
    n_updates = sum(1 for (m, _), r in zip(cmds, replies) if m == "balance.update" and r["error"] is None)
    assert len(balances) == n_updates
    key, b = next(iter(balances.values()))
    assert key == str(b[1]) and b[3] == "deposit" and len(b) == 5
    assert sql("SELECT position FROM sink_progress WHERE name = 'kafka'")[0][0] == eng.event_seq
    # after a crash the matcher publishes again everything after the recorded position
    sql("UPDATE sink_progress SET position = 0 WHERE name = 'kafka'")
    run(session([], bootstrap=kafka_broker.bootstrap, prefix=prefix))
    again = consume(kafka_broker.bootstrap, prefix + "deals", min_count=2 * eng.deal_seq)
    assert len(again) == 2 * eng.deal_seq
    assert dedupe(again).keys() == by_seq.keys()


def test_reply_only_after_commit_and_reads_see_it():
    async def go():
        s = service()
        await s.start()
        for m, p in SETUP:
            await s.call(m, p)
        acked = 0
        stale = []

        async def one(i):
            nonlocal acked
            r = await s.call("balance.update", [7, "USDT", "deposit", i, "1", {}])
            assert r["error"] is None
            acked += 1
            floor = acked  # every deposit acknowledged so far must be visible to a read
            q = await s.call("balance.query", [7, "USDT"])
            if Decimal(q["result"]["USDT"]["available"]) < floor:
                stale.append((floor, q["result"]))

        await asyncio.gather(*[one(i) for i in range(1, 201)])
        assert stale == []
        last = s.engine.oper_seq
        await s.stop()
        return last

    last = run(go())
    assert sql("SELECT COUNT(*), MAX(id) FROM operation_log")[0] == (last, last)


def test_acknowledged_means_committed():
    """Read the log from another connection the instant each reply arrives."""

    async def go():
        s = service(history=False)
        await s.start()
        for m, p in SETUP:
            await s.call(m, p)
        missing = []

        async def one(i):
            r = await s.call("balance.update", [8, "BTC", "deposit", i, "1", {}])
            assert r["error"] is None
            # the command's id: the row with this business id
            rows = await asyncio.to_thread(
                sql, "SELECT COUNT(*) FROM operation_log WHERE method = 'balance.update' AND params LIKE %s",
                (f'[8,"BTC","deposit",{i},%',))
            if rows[0][0] != 1:
                missing.append(i)

        await asyncio.gather(*[one(i) for i in range(1, 301)])
        await s.stop()
        return missing

    assert run(go()) == []


def test_code_3_when_kafka_backlog_over_limit_then_recovers():
    """A broker that is not there: events pile up, mutations get code 3 past the limit,
    reads keep working; a broker on that port later receives everything, in order."""
    from tests.services import KafkaBroker, free_port

    port = free_port()
    prefix = f"t{uuid.uuid4().hex[:8]}-"

    async def go():
        s = service(bootstrap=f"127.0.0.1:{port}", prefix=prefix, kafka_backlog_limit=50,
                    kafka_config={"reconnect.backoff.max.ms": 200})
        await s.start()
        replies = await run_commands(s, SETUP + random_commands(random.Random(7), 100, users=3), concurrency=1)
        refused = [r for r in replies if r["error"] and r["error"]["code"] == 3]
        read = await s.call("balance.query", [1])
        broker = KafkaBroker(port).start()
        try:
            for _ in range(200):
                if s.refusal() is None:
                    break
                await asyncio.sleep(0.1)
            ok_after = await s.call("balance.update", [1, "USDT", "deposit", 999999, "1", {}])
            await s.stop()
            pos = s.kafka.position
            return refused, read, ok_after, pos, s.engine.event_seq, broker
        except BaseException:
            broker.stop()
            raise

    refused, read, ok_after, pos, event_seq, broker = run(go())
    try:
        assert refused and refused[0]["error"]["data"]["reason"] == "kafka backlog"
        assert read["error"] is None
        assert ok_after["error"] is None
        assert pos == event_seq
        orders = dedupe(consume(broker.bootstrap, prefix + "orders", min_count=1))
        assert orders
        # per key (market) in seq order
        msgs = consume(broker.bootstrap, prefix + "orders", min_count=len(orders))
        by_key = {}
        for seq, key, _ in msgs:
            by_key.setdefault(key, []).append(seq)
        assert all(v == sorted(v) for v in by_key.values())
    finally:
        broker.stop()


def test_history_lag_age_counts_from_the_oldest_unwritten_acknowledgement(monkeypatch):
    """The time bound of the history back-pressure (no I/O: a stand-in follower, a fake
    clock): the age is that of the oldest acknowledged operation the follower has not
    written; unknown position → 0; operations acknowledged before the follower's first
    report count from that report; over the bound → code 3 "history writer lagging"."""
    import types

    import matcher.service as svc

    clock = [100.0]
    monkeypatch.setattr(svc, "time", types.SimpleNamespace(monotonic=lambda: clock[0], time_ns=svc.time.time_ns))
    h = types.SimpleNamespace(oper_position=None, known_since=None, lag=lambda: 0)
    s = MatcherService(history=True, history_lag_limit=10**9, history_lag_limit_s=0.5)
    s.history = h
    s._ready = True
    s._log = types.SimpleNamespace(healthy=True, committed_id=0)
    s._committed(10)  # operations 1..10 acknowledged at 100.0
    clock[0] = 100.3
    s._committed(20)  # 11..20 at 100.3
    clock[0] = 100.6
    assert s.history_lag_age() == 0.0 and s.refusal() is None  # position not known yet
    h.oper_position, h.known_since = 5, 99.0
    assert s.history_lag_age() == pytest.approx(0.6)
    assert s.refusal() == "history writer lagging"
    h.oper_position = 10  # 1..10 written: the oldest unwritten is 11 (acknowledged at 100.3)
    assert s.history_lag_age() == pytest.approx(0.3) and s.refusal() is None
    clock[0] = 100.81
    assert s.refusal() == "history writer lagging"
    h.oper_position = 20
    assert s.history_lag_age() == 0.0 and s.refusal() is None
    s._committed(30)  # 21..30 at 100.81, before the (re)started follower's first report
    h.known_since = 101.0
    clock[0] = 101.2
    assert s.history_lag_age() == pytest.approx(0.2) and s.refusal() is None
    clock[0] = 101.5
    assert s.refusal() == "history writer lagging"
    s.history_lag_limit_s = 0  # time bound off
    assert s.refusal() is None


def test_history_lag_time_bound_code_3():
    """With the operation limit out of reach, a paused follower (SIGSTOP) → code 3
    "history writer lagging" as soon as the oldest acknowledged operation without history
    rows is older than ``history_lag_limit_s`` (and not before); resumed → accepted again."""
    import os
    import signal
    import time

    async def go():
        s = service(history_lag_limit=10**9, history_lag_limit_s=0.4)
        await s.start()
        await run_commands(s, SETUP, concurrency=1)
        h = s.history
        assert h.wait_caught_up(s.engine.oper_seq, 30)
        os.kill(h.pid, signal.SIGSTOP)
        accepted, refused, first_ack = 0, None, None
        try:
            deadline = time.monotonic() + 10
            bid = 0
            while time.monotonic() < deadline:
                bid += 1
                r = await s.call("balance.update", [1, "USDT", "deposit", bid, "1", {}])
                now = time.monotonic()
                if r["error"] is not None:
                    refused = (r, now - first_ack, s.status())
                    break
                accepted += 1
                if first_ack is None:
                    first_ack = now
                await asyncio.sleep(0.005)
        finally:
            os.kill(h.pid, signal.SIGCONT)
        await until_accepting(s)
        ok_after = await s.call("balance.update", [1, "USDT", "deposit", 10**6, "1", {}])
        await s.stop()
        return accepted, refused, ok_after

    accepted, refused, ok_after = run(go())
    assert refused is not None, f"never refused ({accepted} accepted)"
    r, after_s, status = refused
    assert r["error"]["code"] == 3 and r["error"]["data"]["reason"] == "history writer lagging"
    assert 0.35 <= after_s < 3, after_s  # not before the bound (0.4 s after the ack, a little
    # before this reply returned; refused a little after: polling + report)
    assert status["history_lag_age_s"] >= 0.4 and status["refusal"] == "history writer lagging"
    assert accepted >= 5
    assert ok_after["error"] is None


def test_history_follower_lag_code_3_and_restart():
    """The history follower process: paused (SIGSTOP) → its lag grows past the limit →
    code 3 "history writer lagging", reads keep working; resumed → accepted again; killed
    (SIGKILL) → the matcher restarts it and the history is complete (Σ changes =
    balances, two rows per deal), nothing doubled."""
    import os
    import signal

    async def go():
        s = service(history_lag_limit=20, history_lag_limit_s=0)  # the operation limit alone
        await s.start()
        replies = await run_commands(s, SETUP + random_commands(random.Random(8), 100, users=3), concurrency=4)
        assert all(r["error"] is None or r["error"]["code"] != 3 for r in replies)
        h = s.history
        assert h.wait_caught_up(s.engine.oper_seq, 30)
        assert s.status()["history_backlog"] == 0
        os.kill(h.pid, signal.SIGSTOP)
        try:
            more = await run_commands(s, random_commands(random.Random(9), 100, users=3, start_bid=1000),
                                      concurrency=1)
            refused = [r for r in more if r["error"] and r["error"]["code"] == 3]
            status = s.status()
            read = await s.call("balance.query", [1])
        finally:
            os.kill(h.pid, signal.SIGCONT)
        await until_accepting(s)
        ok_after = await s.call("balance.update", [1, "USDT", "deposit", 999999, "1", {}])
        pid = h.pid
        os.kill(pid, signal.SIGKILL)
        await run_commands(s, random_commands(random.Random(10), 200, users=3, start_bid=2000), concurrency=4)
        for _ in range(300):
            if h.restarts and h.pid != pid and not s.status()["history_backlog"]:
                break
            await asyncio.sleep(0.05)
        restarts = h.restarts
        await s.stop()
        return s, refused, status, read, ok_after, restarts

    s, refused, status, read, ok_after, restarts = run(go())
    assert refused and refused[0]["error"]["data"]["reason"] == "history writer lagging"
    assert status["history_backlog"] >= 20 and status["refusal"] == "history writer lagging"
    assert read["error"] is None and ok_after["error"] is None
    assert restarts == 1
    eng = s.engine
    assert history_balance_sums() == engine_totals(eng)
    assert sql("SELECT COUNT(*), COUNT(DISTINCT deal_id) FROM deal_history")[0] == (2 * eng.deal_seq, eng.deal_seq)
    assert sql("SELECT position FROM sink_progress WHERE name = 'history'")[0][0] == eng.event_seq
