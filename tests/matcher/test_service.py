"""MatcherService against real MariaDB and a real Kafka-protocol broker: the process refusing
to start, back-pressure (Kafka backlog, history lag). The operation log, snapshots and
recovery are tested in tests/matcher/log/, the outputs in tests/matcher/sinks/."""
from __future__ import annotations

import asyncio
import random
import uuid

import pytest

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
    service,
    session,
    sql,
    until_accepting,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_matcher_process_refuses_to_start_with_a_critical_line_naming_the_operation(caplog):
    from matcher.__main__ import run as matcher_main

    run(session(SETUP + random_commands(random.Random(6), 200)))
    sql("DELETE FROM operation_log WHERE id = 150")
    with caplog.at_level("CRITICAL", logger="matcher"):
        assert run(matcher_main()) == 1
    (line,) = [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert "expected operation 150, found 151" in line.getMessage()


def test_code_3_when_kafka_backlog_over_limit_then_recovers():
    """A broker that is not there: the Kafka follower process falls behind the log,
    mutations get code 3 past the limit (committed operations not delivered), reads keep
    working; a broker on that port later receives everything, in order."""
    from tests.backing import KafkaBroker, free_port

    port = free_port()
    prefix = f"t{uuid.uuid4().hex[:8]}-"

    async def go():
        s = service(bootstrap=f"127.0.0.1:{port}", prefix=prefix, kafka_backlog_limit=50,
                    kafka_config={"reconnect.backoff.max.ms": 200})
        await s.start()
        for _ in range(300):  # the follower process's first report: its backlog is known from then on
            if s.kafka.oper_position is not None:
                break
            await asyncio.sleep(0.05)
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


def test_history_lag_time_bound_code_3(caplog):
    """With the operation limit out of reach, a paused follower (SIGSTOP) → code 3
    "history writer lagging" as soon as the oldest acknowledged operation without history
    rows is older than ``history_lag_limit_s`` (and not before); resumed → accepted again.
    The start of the refusals is logged (WARNING, with its reason) and counted in
    ``matcher.status``."""
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
    assert status["refusal_episodes"].get("history writer lagging", 0) >= 1
    assert any(rec.levelname == "WARNING" and "code 3: history writer lagging" in rec.getMessage()
               for rec in caplog.records), [rec.getMessage() for rec in caplog.records]
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
