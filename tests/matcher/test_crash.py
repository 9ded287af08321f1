"""Crash and outage suite (slow): the matcher process killed with SIGKILL at random moments
under load; a private Kafka broker and a private MariaDB stopped and started under load.

Invariants checked after each scenario:
- every acknowledged command is there after restart (deposits come back as repeats,
  orders are open or in the order history); no acknowledged id is reused;
- history: per user and asset, Σ balance-history changes = current balance (no gap, no
  duplicate); two deal rows per deal, deal ids 1..N;
- Kafka: after dedupe by the ``seq`` header, every deal id exactly once.
"""
from __future__ import annotations

import asyncio
import random
import time
import uuid

import pytest

from tests.matcher.log.helpers import (
    SETUP,
    Load,
    MatcherProc,
    PrivateMariaDB,
    balances_of,
    consume,
    db_url,
    dedupe,
    history_balance_sums,
    sql,
    verify_acknowledged,
    wait_drained,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


async def setup_markets(client) -> None:
    for m, p in SETUP:
        r = await client.request(m, p)
        assert r["error"] is None, r


def check_history_and_deals(balances: dict, bootstrap: str | None, prefix: str) -> int:
    assert history_balance_sums() == balances
    n_deals = sql("SELECT COUNT(DISTINCT deal_id), COUNT(*), MIN(deal_id), MAX(deal_id) FROM deal_history")[0]
    distinct, rows, lo, hi = n_deals
    assert rows == 2 * distinct and (distinct == 0 or (lo, hi) == (1, distinct))
    if bootstrap:
        msgs = consume(bootstrap, prefix + "deals", min_count=distinct, timeout=60)
        by_seq = dedupe(msgs)
        ids = sorted(v[11] for _, v in by_seq.values())
        assert ids == list(range(1, distinct + 1)), "each deal id exactly once after dedupe by seq"
    return distinct


def test_kill_9_under_load_20_times(kafka_broker):
    prefix = f"crash{uuid.uuid4().hex[:8]}-"
    rng = random.Random(42)
    load = Load(users=10, seed=1)
    proc = MatcherProc(db_url(), kafka_broker.bootstrap, MATCHER_KAFKA_TOPIC_PREFIX=prefix,
                       SNAPSHOT_KEEP="2", LOG_LEVEL="WARNING")
    kills = 0

    snapshots = []

    async def round_(i: int):
        client = proc.client()
        try:
            if i == 0:
                await setup_markets(client)
                await load.fund(client)
            task = asyncio.create_task(load.run(client, 30, concurrency=16))
            if i % 3 == 1:  # a snapshot under load, then the kill (sometimes while it is written)
                await asyncio.sleep(0.3)
                snap = asyncio.create_task(client.request("snapshot.make", [], timeout=30))
                if i % 2:
                    r = await snap
                    assert r["error"] is None, r
                    snapshots.append(r["result"]["id"])
            await asyncio.sleep(rng.uniform(0.2, 1.5))
            proc.kill9()
            load.stop()
            await asyncio.wait_for(task, 60)
        finally:
            await client.close()

    try:
        for i in range(20):
            proc.start()
            asyncio.run(round_(i))
            kills += 1
        proc.start()

        async def final():
            client = proc.client()
            try:
                await wait_drained(client)
                ids = {r[0] for r in await asyncio.to_thread(sql, "SELECT id FROM order_history")}
                await verify_acknowledged(client, load, ids)
                return await balances_of(client, load.users)
            finally:
                await client.close()

        balances = asyncio.run(final())
        assert kills == 20 and len(load.acked_orders) > 1000, (kills, len(load.acked_orders))
        deals = check_history_and_deals(balances, kafka_broker.bootstrap, prefix)
        assert deals > 100
        assert len(snapshots) >= 3
        assert sql("SELECT COUNT(*) FROM snapshot WHERE complete = 1")[0][0] >= 1
        assert sql("SELECT MIN(id) FROM operation_log")[0][0] > 1  # pruned behind the snapshots
    finally:
        proc.stop()


def _expected_kafka_seqs_after(position: int) -> set:
    """Replay the operation log from the start in a fresh engine: the seqs of every event
    after ``position`` that is published to Kafka."""
    from matcher.log.db import Db
    from matcher.log.recovery import replay
    from matcher.core import Engine
    from matcher.sinks.kafka import message_of

    seqs = set()

    def on_events(evs):
        for ev in evs:
            if ev.seq > position and message_of(ev) is not None:
                seqs.add(ev.seq)

    db = Db()
    try:
        replay(db, Engine(), on_events=on_events)
    finally:
        db.close()
    return seqs


def test_broker_stop_start_under_load():
    from tests.backing import KafkaBroker, free_port

    port = free_port()
    broker = KafkaBroker(port).start()
    prefix = "bo-"
    load = Load(users=10, seed=2)
    proc = MatcherProc(db_url(), broker.bootstrap, MATCHER_KAFKA_TOPIC_PREFIX=prefix,
                       MATCHER_KAFKA_BACKLOG_LIMIT="3000", LOG_LEVEL="WARNING").start()

    async def scenario():
        client = proc.client()
        try:
            await setup_markets(client)
            await load.fund(client)
            task = asyncio.create_task(load.run(client, 8, concurrency=16))
            await asyncio.sleep(1.5)
            await asyncio.to_thread(broker.stop)
            await asyncio.sleep(0.5)
            pos_down = (await client.request("matcher.status", []))["result"]["kafka_position"]
            code3_before = load.code3
            await asyncio.sleep(2.0)
            refused_while_down = load.code3 - code3_before
            st = (await client.request("matcher.status", []))["result"]
            print("while broker down:", pos_down, st, load.errors, len(load.acked_orders), load.failed)
            assert st["kafka_position"] == pos_down, st  # nothing can be delivered
            await asyncio.to_thread(broker.start)
            await task
            await wait_drained(client)
            return pos_down, refused_while_down, await balances_of(client, load.users)
        finally:
            await client.close()

    try:
        pos_down, refused, balances = asyncio.run(scenario())
        assert refused > 0, "mutations get code 3 while the Kafka backlog is over its limit"
        expected = _expected_kafka_seqs_after(pos_down)
        received = set()
        for topic in ("deals", "orders", "balances"):
            received |= set(dedupe(consume(broker.bootstrap, prefix + topic, min_count=1, timeout=60)))
        assert expected and expected <= received, f"{len(expected - received)} events lost"
        asyncio.run(_verify(proc, load))
        check_history_and_deals(balances, None, prefix)
    finally:
        proc.stop()
        broker.stop()


async def _verify(proc, load):
    client = proc.client()
    try:
        ids = {r[0] for r in await asyncio.to_thread(sql, "SELECT id FROM order_history")}
        await verify_acknowledged(client, load, ids)
    finally:
        await client.close()


def test_mysql_stop_start_under_load(kafka_broker):
    """A private mariadbd killed (SIGKILL) and restarted under load: code 3 while it is down,
    the pending commands commit when it is back, nothing acknowledged is lost — also across
    a matcher crash right after."""
    db = PrivateMariaDB().install().start()
    prefix = f"my{uuid.uuid4().hex[:8]}-"
    load = Load(users=10, seed=3)
    try:
        db.create_and_migrate()
        proc = MatcherProc(db.url, kafka_broker.bootstrap, MATCHER_KAFKA_TOPIC_PREFIX=prefix,
                           LOG_LEVEL="WARNING").start()

        async def scenario():
            client = proc.client(timeout=30)
            try:
                await setup_markets(client)
                await load.fund(client)
                task = asyncio.create_task(load.run(client, 7, concurrency=16))
                await asyncio.sleep(1.5)
                acked_before = len(load.acked_orders)
                await asyncio.to_thread(db.kill)
                t_down = time.monotonic()
                await asyncio.sleep(1.0)
                # the load's clients wait on their pending commands (held until commit);
                # a new mutating command is refused at once, a read is answered
                t0 = time.monotonic()
                probe = await client.request("balance.update", load.deposit_params(1, "USDT", "1"))
                probe_s = time.monotonic() - t0
                read = await client.request("balance.query", [1])
                await asyncio.sleep(1.0)
                refused = (probe, probe_s, read)
                acked_while_down = len(load.acked_orders) - acked_before
                st = (await client.request("matcher.status", []))["result"]
                await asyncio.to_thread(db.start)
                await task
                await wait_drained(client)
                return refused, acked_while_down, st, time.monotonic() - t_down
            finally:
                await client.close()

        refused, acked_down, st_down, _ = asyncio.run(scenario())
        probe, probe_s, read = refused
        assert probe["error"]["code"] == 3 and probe_s < 0.5, (probe, probe_s)
        assert read["error"] is None
        assert st_down["log_healthy"] is False and st_down["log_backlog"] > 0
        assert acked_down < 100  # at most those whose commit raced the kill
        # crash the matcher right after: everything acknowledged must be recovered
        proc.kill9()
        proc.start()

        async def after():
            client = proc.client()
            try:
                await wait_drained(client)
                ids = {r[0] for r in db.query("SELECT id FROM order_history")}
                await verify_acknowledged(client, load, ids)
                return await balances_of(client, load.users)
            finally:
                await client.close()

        balances = asyncio.run(after())
        from decimal import Decimal

        sums = {(u, a): Decimal(s) for u, a, s in
                db.query("SELECT user_id, asset, SUM(`change`) FROM balance_history GROUP BY user_id, asset")}
        assert sums == balances
        distinct, rows = db.query("SELECT COUNT(DISTINCT deal_id), COUNT(*) FROM deal_history")[0]
        assert rows == 2 * distinct and distinct > 0
        msgs = dedupe(consume(kafka_broker.bootstrap, prefix + "deals", min_count=distinct, timeout=60))
        assert sorted(v[11] for _, v in msgs.values()) == list(range(1, distinct + 1))
        proc.stop()
    finally:
        db.cleanup()
