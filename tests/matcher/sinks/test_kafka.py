"""The Kafka publisher (matcher/sinks/kafka.py) against a real Kafka-protocol broker:
payloads, headers, and republishing after the recorded position is lost."""
from __future__ import annotations

import random
import uuid
from decimal import Decimal

import pytest

from tests.matcher.log.helpers import SETUP, consume, dedupe, random_commands, run, session, sql

pytestmark = pytest.mark.django_db(transaction=True)


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
