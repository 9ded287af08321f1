"""The Kafka follower process (matcher/sinks/kafka_child.py, kafka.py; the matcher's side
kafka_follower.py) against a real Kafka-protocol broker: payloads, headers, republishing
after the recorded position is lost, a killed follower restarted, no Kafka client in the
matcher process."""
from __future__ import annotations

import os
import random
import uuid
from decimal import Decimal

import pytest

from tests.matcher.log.helpers import SETUP, consume, dedupe, random_commands, run, session, sql

pytestmark = pytest.mark.django_db(transaction=True)


def expected_messages() -> dict:
    """(topic, seq) -> (key, decoded value) of ``message_of`` for every event of a replay of
    the whole operation log by an engine with all its events."""
    import orjson

    from matcher.core import Engine
    from matcher.log.oplog import SELECT
    from matcher.sinks.kafka import message_of

    engine = Engine()
    out = {}
    for oid, tu, method, params in sql(f"{SELECT} ORDER BY id"):
        res = engine.execute(method, orjson.loads(params), tu)
        assert res.error is None and res.oper_id == oid
        for ev in res.events:
            m = message_of(ev)
            if m is not None:
                out[(m[0], ev.seq)] = (m[1], orjson.loads(m[2]))
    return out


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
    # exactly the messages of every event of a full replay (an engine with all its events,
    # trade rows included): the follower's engine builds no trade rows, the wire is the same
    expected = expected_messages()
    assert any(t == "deals" for t, _ in expected)
    got = {(t, seq): kv for t, msgs in (("deals", by_seq), ("orders", orders), ("balances", balances))
           for seq, kv in msgs.items()}
    assert got == expected
    # after a crash the matcher publishes again everything after the recorded position
    sql("UPDATE sink_progress SET position = 0 WHERE name = 'kafka'")
    run(session([], bootstrap=kafka_broker.bootstrap, prefix=prefix))
    again = consume(kafka_broker.bootstrap, prefix + "deals", min_count=2 * eng.deal_seq)
    assert len(again) == 2 * eng.deal_seq
    assert dedupe(again).keys() == by_seq.keys()


def test_a_killed_kafka_follower_is_restarted_and_everything_is_published(kafka_broker):
    """SIGKILL of the follower process under load: the matcher restarts it, the new one
    publishes from the recorded position — every deal arrives (deduped by seq), the
    position ends at the last event."""
    import asyncio
    import os
    import signal

    from tests.matcher.log.helpers import run_commands, service

    prefix = f"k{uuid.uuid4().hex[:8]}-"

    async def go():
        s = service(bootstrap=kafka_broker.bootstrap, prefix=prefix, history=False)
        await s.start()
        k = s.kafka
        await run_commands(s, SETUP + random_commands(random.Random(31), 200, users=5))
        assert k.wait_caught_up(s.engine.oper_seq, 30)
        pid = k.pid
        os.kill(pid, signal.SIGKILL)
        await run_commands(s, random_commands(random.Random(32), 200, users=5, start_bid=1000))
        for _ in range(600):
            if k.restarts and k.pid != pid and k.backlog() == 0:
                break
            await asyncio.sleep(0.05)
        restarts, new_pid = k.restarts, k.pid
        await s.stop()
        return s, restarts, pid, new_pid

    s, restarts, pid, new_pid = run(go())
    eng = s.engine
    assert restarts == 1 and new_pid != pid
    assert s.kafka.position == eng.event_seq
    deals = dedupe(consume(kafka_broker.bootstrap, prefix + "deals", min_count=eng.deal_seq))
    assert sorted(v[11] for _, v in deals.values()) == list(range(1, eng.deal_seq + 1))
    assert sql("SELECT position FROM sink_progress WHERE name = 'kafka'")[0][0] == eng.event_seq


def test_the_matcher_process_runs_no_kafka_client(kafka_broker):
    """``python -m matcher`` with Kafka on: the messages come from its child
    ``matcher.sinks.kafka_child``; librdkafka is not loaded in the matcher process."""
    import asyncio
    import time

    from tests.matcherproc import MatcherProc, server_database_url

    prefix = f"p{uuid.uuid4().hex[:8]}-"
    proc = MatcherProc(server_database_url(), kafka_broker.bootstrap, MATCHER_KAFKA_TOPIC_PREFIX=prefix).start()
    try:
        async def deposit():
            client = proc.client()
            try:
                for m, p in SETUP[:1] + [("balance.update", [7, "BTC", "deposit", 1, "2.5", {}])]:
                    assert (await client.request(m, p))["error"] is None
            finally:
                await client.close()

        asyncio.run(deposit())
        (msg,) = consume(kafka_broker.bootstrap, prefix + "balances", min_count=1)
        assert msg[1] == "7"
        pid = proc.proc.pid
        deadline = time.monotonic() + 30
        while True:
            children = []
            for tid in os.listdir(f"/proc/{pid}/task"):
                children += open(f"/proc/{pid}/task/{tid}/children").read().split()
            cmds = [open(f"/proc/{c}/cmdline").read().split("\0") for c in children]
            if any("matcher.sinks.kafka_child" in c for c in cmds) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert any("matcher.sinks.kafka_child" in c for c in cmds), cmds
        assert "rdkafka" not in open(f"/proc/{pid}/maps").read()
    finally:
        proc.stop()


def test_a_restarted_broker_gets_the_backlog_without_waiting_for_the_watchdog(caplog):
    """A broker that lost its state (Tansu, memory storage) restarted under load: the
    idempotent producer's sequence no longer matches, which librdkafka does not recover
    from by itself. The publisher notices from the broker's answer, re-creates the producer
    at once and produces everything after its position again — the backlog drains, and the
    10 s "no delivery" watchdog never fires."""
    import asyncio
    import logging
    import time

    from tests.backing import KafkaBroker, free_port
    from tests.matcher.log.helpers import run_commands, service

    caplog.set_level(logging.INFO, logger="matcher.kafka")
    port = free_port()
    prefix = f"r{uuid.uuid4().hex[:8]}-"
    broker = KafkaBroker(port).start()

    async def load(s, rng, stop):
        while not stop.is_set():
            await run_commands(s, random_commands(rng, 40, users=5)[15:], concurrency=8)

    async def until(cond, what, timeout=60.0):
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.05)

    async def go():
        s = service(bootstrap=broker.bootstrap, prefix=prefix, history=False,
                    kafka_config={"reconnect.backoff.max.ms": 200})
        await s.start()
        await run_commands(s, SETUP + random_commands(random.Random(21), 50, users=5))
        stop = asyncio.Event()
        task = asyncio.create_task(load(s, random.Random(22), stop))
        try:
            await until(lambda: s.kafka.delivered > 200, "deliveries before the restart")
            await asyncio.to_thread(broker.stop)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(broker.start)
            delivered = s.kafka.delivered
            t_back = time.monotonic()
            await until(lambda: s.kafka.delivered > delivered + 200, "deliveries after the restart")
            stop.set()
            await task
            await until(lambda: s.kafka.backlog() == 0 and s.kafka.position == s.engine.event_seq,
                        "the backlog drained")
            drained_s = time.monotonic() - t_back
            reasons = list(s.kafka.recreate_reasons)
            await s.stop()
            return s.engine.deal_seq, drained_s, reasons
        finally:
            stop.set()
            await asyncio.gather(task, return_exceptions=True)

    try:
        deal_seq, drained_s, reasons = run(go())
        deals = dedupe(consume(broker.bootstrap, prefix + "deals", min_count=1))
    finally:
        broker.stop()
    messages = [r.getMessage() for r in caplog.records if r.name == "matcher.kafka"]
    print(f"drained {drained_s:.1f}s after the restart; producer re-created for {reasons}")
    assert reasons and "watchdog" not in reasons  # re-created at once, not after the watchdog's 10 s
    assert not [m for m in messages if "no delivery for" in m]
    # the deals made after the restart reached the new broker (it lost the earlier ones)
    assert max(v[11] for _, v in deals.values()) == deal_seq


def test_the_idempotent_producer_states_that_need_a_new_producer():
    """No broker: the callbacks alone. Idempotence errors (fatal or not) and librdkafka's
    FatalError state ask for a new producer at once; a drain state only when it persists
    over three statistics reports with a broker up."""
    from confluent_kafka import KafkaError

    from matcher.sinks.kafka import KafkaPublisher

    def publisher():
        return KafkaPublisher("127.0.0.1:1")

    p = publisher()
    p._on_error(KafkaError(KafkaError._TRANSPORT))
    assert not p._resend
    p._on_error(KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER))
    assert p._resend and p.recreate_reasons == ["error OUT_OF_ORDER_SEQUENCE_NUMBER"]
    p = publisher()
    p._on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN, fatal=False))
    p._on_error(KafkaError(KafkaError.UNKNOWN_PRODUCER_ID, fatal=True))
    assert p.recreate_reasons == ["error UNKNOWN_PRODUCER_ID"]
    up = '"brokers": {"b1": {"state": "UP"}}'
    down = '"brokers": {"b1": {"state": "DOWN"}}'
    p = publisher()
    for _ in range(5):  # draining while no broker is up: the outage itself
        p._on_stats('{"eos": {"idemp_state": "DrainReset"}, %s}' % down)
    assert not p._resend
    p._on_stats('{"eos": {"idemp_state": "DrainBump"}, %s}' % up)
    p._on_stats('{"eos": {"idemp_state": "DrainBump"}, %s}' % up)
    p._on_stats('{"eos": {"idemp_state": "Assigned"}, %s}' % up)
    p._on_stats('{"eos": {"idemp_state": "DrainBump"}, %s}' % up)
    p._on_stats('{"eos": {"idemp_state": "DrainBump"}, %s}' % up)
    assert not p._resend
    p._on_stats('{"eos": {"idemp_state": "DrainBump"}, %s}' % up)
    assert p.recreate_reasons == ["state DrainBump"]
    p = publisher()
    p._on_stats('{"eos": {"idemp_state": "FatalError"}}')
    assert p.recreate_reasons == ["state FatalError"]
    # a broker up, messages waiting, nothing delivered: after an epoch bump two reports
    # suffice (seen with Tansu: the producer stays "Assigned" and sends nothing), else five
    waiting = '"msg_cnt": 500, %s' % up
    p = publisher()
    p._on_stats('{"eos": {"idemp_state": "Assigned", "epoch_cnt": 1}, %s}' % waiting)
    assert not p._resend
    p._on_stats('{"eos": {"idemp_state": "Assigned", "epoch_cnt": 1}, %s}' % waiting)
    assert p.recreate_reasons == ["stuck after an epoch bump"]
    p = publisher()
    for i in range(5):
        assert not p._resend
        if i == 2:
            p.delivered += 1  # a delivery in between starts the count again
        p._on_stats('{"eos": {"idemp_state": "Assigned", "epoch_cnt": 0}, %s}' % waiting)
    for _ in range(2):  # the fourth and fifth report in a row without a delivery
        assert not p._resend
        p._on_stats('{"eos": {"idemp_state": "Assigned", "epoch_cnt": 0}, %s}' % waiting)
    assert not p._resend
    p._on_stats('{"eos": {"idemp_state": "Assigned", "epoch_cnt": 0}, %s}' % waiting)
    assert p.recreate_reasons == ["stuck with a broker up"]


class StandInProducer:
    """produce() records (seq, topic, key, on_delivery); the test delivers by seq."""

    def __init__(self):
        self.sent = []

    def produce(self, topic, value, key, headers, on_delivery):
        self.sent.append((int(dict(headers)["seq"]), topic, key, on_delivery))

    def poll(self, timeout=0):
        return 0

    def purge(self):
        pass

    def deliver(self, seq, err=None):
        (cb,) = [cb for s, _, _, cb in self.sent if s == seq]
        cb(err, None)


def test_positions_follow_the_deliveries_in_seq_order():
    """No broker: the event position is the highest seq with every message up to it
    delivered (events not published count as delivered), the operation position the last
    operation whose events all lie at or below it (operations without messages included);
    a failed delivery has every undelivered message produced again, in seq order, by a new
    producer."""
    from confluent_kafka import KafkaError

    from matcher.core import Engine
    from matcher.sinks.kafka import KafkaPublisher

    engine = Engine()
    pub = KafkaPublisher("127.0.0.1:1", topic_prefix="x-")
    pub.producer = first = StandInProducer()
    t = 1_700_000_000_000_000
    cmds = SETUP + [("balance.update", [1, "USDT", "deposit", 1, "1000", {}]),  # operation 6: seq 1
                    ("balance.update", [2, "BTC", "deposit", 2, "1", {}]),  # 7: seq 2
                    ("order.put_limit", [1, "BTCUSDT", 2, "0.1", "100", "0.002", "0.001", "s"]),  # 8: seq 3
                    ("order.put_limit", [2, "BTCUSDT", 1, "0.1", "100", "0.002", "0.001", "s"])]  # 9: deal 4, fills 5-10, orders 11-12
    for m, p in cmds:
        out = engine.execute(m, p, t)
        assert out.error is None
        if out.events:
            pub.publish(out.oper_id, out.events)
    pub.reached(engine.oper_seq)
    assert [(s, topic) for s, topic, _, _ in first.sent] == [
        (1, "x-balances"), (2, "x-balances"), (3, "x-orders"), (4, "x-deals"), (11, "x-orders"), (12, "x-orders")]
    pub.pump()
    assert (pub.position, pub.oper_position) == (0, 0)  # 1-5 have no messages: they count with operation 6
    first.deliver(2)
    pub.pump()
    assert (pub.position, pub.oper_position) == (0, 0)
    first.deliver(1)
    pub.pump()
    assert (pub.position, pub.oper_position) == (2, 7)
    first.deliver(3)
    first.deliver(4)
    pub.pump()
    assert (pub.position, pub.oper_position) == (10, 8)  # fills 5-10 are not published
    first.deliver(12)
    first.deliver(11, KafkaError(KafkaError._MSG_TIMED_OUT))
    second = StandInProducer()
    pub._producer = lambda: second
    pub.pump()
    assert pub.recreate_reasons == ["delivery _MSG_TIMED_OUT"] and pub.resends == 1
    assert [s for s, *_ in second.sent] == [11, 12]
    first.deliver(11)  # a report of the replaced producer: ignored
    pub.pump()
    assert (pub.position, pub.oper_position) == (10, 8)
    second.deliver(11)
    second.deliver(12)
    pub.pump()
    assert (pub.position, pub.oper_position) == (12, 9) and not pub.inflight
