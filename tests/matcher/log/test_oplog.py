"""The operation-log writer (matcher/log/oplog.py) against real MariaDB: a reply only after
the commit of its entry, group commit, and the refusal (code 3) when the log cannot keep
up."""
from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from matcher.log.db import Db
from tests.matcher.log.helpers import SETUP, run, run_commands, service, sql, until_accepting

pytestmark = pytest.mark.django_db(transaction=True)


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


def test_backlog_refusal_and_group_commit_while_the_log_cannot_commit():
    """Another connection holds a write lock on ``operation_log``, so the writer's commit
    waits (a real stall, no mock): accepted commands get no reply while their entry is not
    committed; once ``log_backlog_limit`` commands wait, the next mutation is refused with
    code 3 "operation log backlog" (and is not applied: its business id is free later),
    and a read is held (it would show the uncommitted deposits). Unlocked: the waiting entries commit in one or two transactions
    (group commit), every accepted command is answered and logged, mutations are accepted
    again."""
    limit = 8

    async def go():
        s = service(history=False, log_backlog_limit=limit)
        await s.start()
        await run_commands(s, SETUP, concurrency=1)
        log = s._log
        commits, entries = log.commits, log.entries
        locker = Db("default")  # its own connection, used from worker threads (blocking I/O)
        await asyncio.to_thread(locker.run, lambda cur: cur.execute("LOCK TABLES operation_log WRITE"))
        try:
            waiting = [asyncio.ensure_future(s.call("balance.update", [1, "USDT", "deposit", i, "1", {}]))
                       for i in range(1, limit + 1)]
            for _ in range(600):
                if s.refusal() == "operation log backlog":
                    break
                await asyncio.sleep(0.05)
            refused = await s.call("balance.update", [1, "USDT", "deposit", 100, "1", {}])
            read = asyncio.ensure_future(s.call("balance.query", [1, "USDT"]))
            await asyncio.sleep(0.2)
            answered_while_locked = [t for t in [*waiting, read] if t.done()]
            status = s.status()
        finally:
            await asyncio.to_thread(locker.run, lambda cur: cur.execute("UNLOCK TABLES"))
            await asyncio.to_thread(locker.close)
        replies = await asyncio.gather(*waiting)
        read = await read
        await until_accepting(s)
        again = await s.call("balance.update", [1, "USDT", "deposit", 100, "1", {}])
        stats = (log.commits - commits, log.entries - entries)
        await s.stop()
        return refused, read, answered_while_locked, status, replies, again, stats

    refused, read, answered_while_locked, status, replies, again, (n_commits, n_entries) = run(go())
    assert answered_while_locked == []
    assert refused["error"]["code"] == 3 and refused["error"]["data"]["reason"] == "operation log backlog"
    assert status["log_backlog"] == limit and status["refusal"] == "operation log backlog"
    assert read == {"error": None, "result": {"USDT": {"available": str(limit), "freeze": "0"}}}
    assert [r["error"] for r in replies] == [None] * limit
    # the limit's worth of entries plus the one accepted after
    assert n_entries == limit + 1 and n_commits <= 3
    assert again["error"] is None  # business id 100 was not used by the refused command
    logged = sql("SELECT params FROM operation_log WHERE method = 'balance.update' AND params LIKE %s",
                 ('[1,"USDT","deposit",%',))
    assert sorted(int(p.split(",")[3]) for (p,) in logged) == [*range(1, limit + 1), 100]


def test_a_read_waits_for_the_commit_of_what_it_shows():
    """A read after an unacknowledged command is not answered before that command's commit
    (a crash could still undo it), then shows it. The stall is real: another connection
    holds a write lock on ``operation_log``. Reads with nothing pending answer at once."""

    async def go():
        s = service(history=False)
        await s.start()
        await run_commands(s, SETUP, concurrency=1)
        before = await s.call("balance.query", [3, "USDT"])  # nothing pending: at once
        locker = Db("default")
        await asyncio.to_thread(locker.run, lambda cur: cur.execute("LOCK TABLES operation_log WRITE"))
        try:
            deposit = asyncio.ensure_future(s.call("balance.update", [3, "USDT", "deposit", 1, "5", {}]))
            await asyncio.sleep(0)  # the deposit is applied in memory, its entry waits for the lock
            query = asyncio.ensure_future(s.call("balance.query", [3, "USDT"]))
            refusal = asyncio.ensure_future(s.call("balance.update", [3, "USDT", "withdraw", 2, "-9", {}]))
            await asyncio.sleep(0.5)
            held = [t.done() for t in (deposit, query, refusal)]
        finally:
            await asyncio.to_thread(locker.run, lambda cur: cur.execute("UNLOCK TABLES"))
            await asyncio.to_thread(locker.close)
        order = []
        for name, t in (("deposit", deposit), ("query", query), ("refusal", refusal)):
            t.add_done_callback(lambda _, name=name: order.append(name))
        replies = await asyncio.gather(deposit, query, refusal)
        await s.stop()
        return before, held, replies, order

    before, held, (deposit, query, refusal), order = run(go())
    assert before == {"error": None, "result": {"USDT": {"available": "0", "freeze": "0"}}}
    assert held == [False, False, False]
    assert deposit["error"] is None
    assert query == {"error": None, "result": {"USDT": {"available": "5", "freeze": "0"}}}
    assert refusal["error"]["code"] == 11  # balance not enough: computed from the uncommitted deposit
    assert order[0] == "deposit"


def _writer_connection_id(s) -> int:
    raw = s._log._db.connection
    assert raw is not None
    return raw.thread_id()


def test_a_lost_connection_is_reconnected_and_nothing_is_lost_or_doubled():
    """The writer's connection is killed from another connection (KILL), once while idle and
    once while a commit waits for a table lock: while the entry cannot be committed the
    command gets no reply, the log is unhealthy and new mutations are refused (code 3);
    the writer reconnects and retries the same entry, every accepted command is answered
    once it is committed, each logged exactly once, and commits go on as before."""

    async def go():
        s = service(history=False)
        await s.start()
        await run_commands(s, SETUP, concurrency=1)
        log = s._log
        first = await s.call("balance.update", [5, "USDT", "deposit", 1, "1", {}])
        # killed while idle: the server closes it, the next commit finds out and reconnects
        await asyncio.to_thread(sql, f"KILL CONNECTION {_writer_connection_id(s)}")
        await asyncio.sleep(0.2)
        after_idle_kill = await s.call("balance.update", [5, "USDT", "deposit", 2, "1", {}])
        locker = Db("default")
        await asyncio.to_thread(locker.run, lambda cur: cur.execute("LOCK TABLES operation_log WRITE"))
        try:
            waiting = asyncio.ensure_future(s.call("balance.update", [5, "USDT", "deposit", 3, "1", {}]))
            await asyncio.sleep(0.2)
            # killed while its commit waits: the outcome is lost, the writer must retry
            await asyncio.to_thread(sql, f"KILL CONNECTION {_writer_connection_id(s)}")
            for _ in range(100):
                if not log.healthy:
                    break
                await asyncio.sleep(0.02)
            unhealthy = not log.healthy
            refused = await s.call("balance.update", [5, "USDT", "deposit", 4, "1", {}])
            answered_while_down = waiting.done()
        finally:
            await asyncio.to_thread(locker.run, lambda cur: cur.execute("UNLOCK TABLES"))
            await asyncio.to_thread(locker.close)
        waited = await waiting
        await until_accepting(s)
        more = await run_commands(s, [("balance.update", [5, "USDT", "deposit", i, "1", {}]) for i in range(5, 25)])
        healthy = log.healthy and log._raw is not None  # the event loop commits on it again
        balance = await s.call("balance.query", [5, "USDT"])
        await s.stop()
        return (first, after_idle_kill, unhealthy, refused, answered_while_down, waited, more, healthy, balance)

    first, after_idle_kill, unhealthy, refused, answered_while_down, waited, more, healthy, balance = run(go())
    assert first["error"] is None and after_idle_kill["error"] is None
    assert unhealthy and not answered_while_down
    assert refused["error"]["code"] == 3 and refused["error"]["data"]["reason"] == "operation log unavailable"
    assert waited["error"] is None
    assert [r["error"] for r in more] == [None] * 20
    assert healthy
    assert balance["result"]["USDT"]["available"] == "23"  # 1 + 1 + 1 + 20; the refused one not applied
    logged = sql("SELECT params FROM operation_log WHERE method = 'balance.update' AND params LIKE %s",
                 ('[5,"USDT","deposit",%',))
    assert sorted(int(p.split(",")[3]) for (p,) in logged) == [1, 2, 3, *range(5, 25)]
    ids = [i for (i,) in sql("SELECT id FROM operation_log ORDER BY id")]
    assert ids == list(range(1, len(ids) + 1))


def test_a_backlog_is_committed_in_statements_under_the_size_bound():
    """Entries queued behind a stalled commit go out in several statements, each under
    ``max_statement`` bytes and committed on its own (ids in order, each reporting its
    prefix): all answered, all logged once."""

    async def go():
        s = service(history=False)
        await s.start()
        await run_commands(s, SETUP, concurrency=1)
        log = s._log
        log._max_statement = 2000  # ~20 deposits a statement
        commits, entries = log.commits, log.entries
        locker = Db("default")
        await asyncio.to_thread(locker.run, lambda cur: cur.execute("LOCK TABLES operation_log WRITE"))
        try:
            waiting = [asyncio.ensure_future(s.call("balance.update", [6, "BTC", "deposit", i, "1", {}]))
                       for i in range(1, 201)]
            await asyncio.sleep(0.2)
        finally:
            await asyncio.to_thread(locker.run, lambda cur: cur.execute("UNLOCK TABLES"))
            await asyncio.to_thread(locker.close)
        replies = await asyncio.gather(*waiting)
        stats = (log.commits - commits, log.entries - entries)
        await s.stop()
        return replies, stats

    replies, (n_commits, n_entries) = run(go())
    assert [r["error"] for r in replies] == [None] * 200
    assert n_entries == 200 and 200 / 25 <= n_commits < 200 / 5
    logged = sql("SELECT params FROM operation_log WHERE method = 'balance.update' AND params LIKE %s",
                 ('[6,"BTC","deposit",%',))
    assert sorted(int(p.split(",")[3]) for (p,) in logged) == list(range(1, 201))
