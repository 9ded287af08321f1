"""Crash and outage suite (slow): the matcher process killed with SIGKILL at random moments
under load; a private Kafka broker and a private MariaDB stopped and started under load.

The load (``CheckedLoad``) sends deposits, limit orders, market orders and cancels, and
keeps what each acknowledgement said; what was sent but got no answer (the kill, a
timeout) is kept apart as "in flight": it may or may not have been applied.

Invariants checked after each scenario:
- every acknowledged order is there after restart, open or finished, as acknowledged (user,
  market, type, side, price, amount), its fills never below the acknowledged ones and equal
  to the sum of its deal rows; an order finished unfilled was cancelled by a cancel that
  was sent; every acknowledged cancel and market order is finished; deposits come back as
  repeats (code 10); no acknowledged id is reused;
- per asset, Σ (available + freeze) over every user and the fee account lies between the
  acknowledged deposits and the acknowledged plus in-flight deposits (fees stay inside:
  a fee account is configured);
- history: per user and asset, Σ balance-history changes = current balance (no gap, no
  duplicate); two deal rows per deal, deal ids 1..N;
- Kafka (expected messages built from what was acknowledged and from the spec's message
  layout, matching.md §7): after dedupe by the ``seq`` header, every deal id exactly once,
  every acknowledged deposit on ``balances``, every acknowledged order on ``orders``.
"""
from __future__ import annotations

import asyncio
import random
import time
import uuid
from decimal import Decimal

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
    sql,
    wait_drained,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FEE_ACCOUNT = 99
MARKET = "BTCUSDT"


async def setup_markets(client) -> None:
    for m, p in SETUP + [("config.fee_account", [FEE_ACCOUNT])]:
        r = await client.request(m, p)
        assert r["error"] is None, r


async def until(condition, timeout: float = 120.0, what: str = "condition") -> None:
    """Wait for ``condition()`` with a generous deadline (the machine may be loaded)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class CheckedLoad(Load):
    """The load of the crash tests: deposits (BTC, USDT), limit orders (about half crossing),
    market orders and cancels of the user's own acknowledged orders, from concurrent clients.
    Keeps the parameters and the reply of every acknowledged command, and the commands sent
    without an answer (``inflight_*``: applied or not, nobody knows)."""

    def __init__(self, users: int = 10, seed: int = 0):
        super().__init__(users, seed)
        self.orders: dict[int, tuple[str, list, dict]] = {}  # id -> (method, params, acknowledged order)
        self.open_by_user: dict[int, list[int]] = {}
        self.cancels: dict[int, dict] = {}  # order id -> acknowledged reply
        self.cancels_sent: set[int] = set()
        self.inflight_deposits: list[list] = []
        self.inflight_orders = 0

    def _next(self):
        rng = self.rng
        uid = rng.randint(1, self.users)
        r = rng.random()
        if r < 0.08:
            asset = rng.choice(("BTC", "USDT"))
            return "balance.update", self.deposit_params(uid, asset, "0.5" if asset == "BTC" else "10")
        if r < 0.16:
            side = rng.choice((1, 2))
            amount = "0.02" if side == 1 else "150.5"  # a market buy spends money
            return "order.put_market", [uid, MARKET, side, amount, "0.002", "load"]
        if r < 0.28 and self.open_by_user.get(uid):
            oid = self.open_by_user[uid].pop(rng.randrange(len(self.open_by_user[uid])))
            self.cancels_sent.add(oid)
            return "order.cancel", [uid, MARKET, oid]
        side = rng.choice((1, 2))
        price = str(rng.randint(9990, 10010))
        return "order.put_limit", [uid, MARKET, side, "0.01", price, "0.002", "0.001", "load"]

    async def worker(self, client) -> None:
        from apps.wire.errors import RpcError

        while time.monotonic() < self.stop_at:
            method, p = self._next()
            try:
                r = await client.request(method, p)
            except RpcError:  # no answer: may have been applied
                self.failed += 1
                if method == "balance.update":
                    self.inflight_deposits.append(p)
                elif method != "order.cancel":
                    self.inflight_orders += 1
                await asyncio.sleep(0.01)
                continue
            if r["error"] is None:
                result = r["result"]
                if method == "balance.update":
                    self.acked_deposits.append(p)
                elif method == "order.cancel":
                    self.cancels[p[2]] = result
                else:
                    self.acked_orders.append(result["id"])
                    self.orders[result["id"]] = (method, p, result)
                    if method == "order.put_limit" and Decimal(result["left"]):
                        self.open_by_user.setdefault(p[0], []).append(result["id"])
            else:
                code = r["error"]["code"]
                self.errors[code] = self.errors.get(code, 0) + 1
                if code == 3:
                    self.code3 += 1
                    await asyncio.sleep(0.01)

    def deposited(self, inflight: bool = False) -> dict:
        """asset -> Σ acknowledged deposits (plus the in-flight ones)."""
        out: dict = {}
        for p in self.acked_deposits + (self.inflight_deposits if inflight else []):
            out[p[1]] = out.get(p[1], Decimal(0)) + Decimal(p[4])
        return out


async def verify_load(client, load: CheckedLoad, query) -> dict:
    """The invariants of the module docstring on the matcher's state and history (``query``
    runs SQL on the matcher's database). Returns (user, asset) -> balance."""
    # per asset, the system's total (before the deposits are re-sent below, refused as repeats)
    balances = await balances_of(client, load.users)
    fee = (await client.request("balance.query", [FEE_ACCOUNT]))["result"]
    totals: dict = {}
    shown: dict = {}  # asset -> how many values balance.query showed
    for (_, asset), total in balances.items():
        totals[asset] = totals.get(asset, Decimal(0)) + total
        shown[asset] = shown.get(asset, 0) + 2
    for asset, b in fee.items():
        totals[asset] = totals.get(asset, Decimal(0)) + Decimal(b["available"]) + Decimal(b["freeze"])
        shown[asset] = shown.get(asset, 0) + 2
    low, high = load.deposited(), load.deposited(inflight=True)
    for asset in ("BTC", "USDT"):
        # balance.query shows each value truncated to prec_show (8 decimals; stored at
        # prec_save 20, fees on market buys have more): each shown value is at most 1e-8 low
        slack = shown[asset] * Decimal("1e-8")
        assert low[asset] - slack < totals[asset] <= high[asset], (asset, low[asset], totals[asset], high[asset])
    assert sum(Decimal(b["available"]) + Decimal(b["freeze"]) for b in fee.values()) > 0, "fees reached the fee account"

    assert len(set(load.acked_orders)) == len(load.acked_orders), "an order id was acknowledged twice"
    assert set(load.orders) == set(load.acked_orders)
    for p in load.acked_deposits:  # applied: a repeat is refused
        r = await client.request("balance.update", p)
        assert r["error"] is not None and r["error"]["code"] == 10, (p, r)

    finished = {r[0]: r[1:] for r in await asyncio.to_thread(
        query, "SELECT id, user_id, market, t, side, price, amount, deal_stock, deal_money, deal_fee FROM order_history")}
    fills = {r[0]: tuple(Decimal(x) for x in r[1:]) for r in await asyncio.to_thread(
        query, "SELECT order_id, SUM(amount), SUM(deal), SUM(fee) FROM deal_history GROUP BY order_id")}
    for oid, (method, p, acked) in load.orders.items():
        if oid in finished:
            user, market, t, side, price, amount, deal_stock, deal_money, deal_fee = finished[oid]
        else:
            assert method == "order.put_limit", (oid, "a market order always has a history row")
            o = (await client.request("order.pending_detail", [MARKET, oid]))["result"]
            if o is None:  # finished without a fill: no history row (matching.md §6); only a cancel does that
                assert oid in load.cancels_sent, (oid, "acknowledged order lost")
                assert Decimal(acked["deal_stock"]) == 0 and oid not in fills, (oid, acked)
                continue
            assert oid not in load.cancels, (oid, "cancelled (acknowledged) but still open")
            user, market, t, side, price, amount = o["user"], o["market"], o["type"], o["side"], o["price"], o["amount"]
            deal_stock, deal_money, deal_fee = o["deal_stock"], o["deal_money"], o["deal_fee"]
        # as acknowledged
        assert (user, market, t, side) == (p[0], p[1], 1 if method == "order.put_limit" else 2, p[2]), (oid, p)
        assert (user, market, t, side) == (acked["user"], acked["market"], acked["type"], acked["side"])
        assert Decimal(amount) == Decimal(p[3]) == Decimal(acked["amount"]), (oid, amount, p)
        if method == "order.put_limit":
            assert Decimal(price) == Decimal(p[4]) == Decimal(acked["price"]), (oid, price, p)
        # fills: never below the acknowledged ones, equal to the deal rows
        deal_stock, deal_money, deal_fee = Decimal(deal_stock), Decimal(deal_money), Decimal(deal_fee)
        assert Decimal(acked["deal_stock"]) <= deal_stock and Decimal(acked["deal_money"]) <= deal_money, oid
        assert fills.get(oid, (0, 0, 0)) == (deal_stock, deal_money, deal_fee), (oid, fills.get(oid))
        if method == "order.put_limit":
            assert deal_stock <= Decimal(amount), oid
            if oid in finished and deal_stock < Decimal(amount):
                assert oid in load.cancels_sent, (oid, "finished unfilled without a cancel")
    for oid, reply in load.cancels.items():  # finished: with a history row iff it had fills
        assert (oid in finished) == (Decimal(reply["deal_stock"]) > 0), (oid, reply)
    assert not (set(load.cancels) - load.cancels_sent)
    return balances


def check_kafka(bootstrap: str, prefix: str, load: CheckedLoad, n_deals: int, since=None, query=sql) -> None:
    """Expected messages from what was acknowledged, in the layout of matching.md §7:
    balances [time, user_id, asset, business, change]; orders {"event", "order", "stock",
    "money"}; deals [..., deal_id (index 11), ...]. ``since`` = (deposits, orders): only what
    was acknowledged after that many (a restarted in-memory broker lost the earlier ones)."""
    deposits, acked = load.acked_deposits, load.acked_orders
    if since is not None:
        deposits, acked = deposits[since[0]:], acked[since[1]:]
    balances = dedupe(consume(bootstrap, prefix + "balances", min_count=len(deposits), timeout=60))
    seen = {(v[1], v[2], v[3], Decimal(v[4])) for _, v in balances.values()}
    for p in deposits:
        assert (p[0], p[1], "deposit", Decimal(p[4])) in seen, p
    orders = dedupe(consume(bootstrap, prefix + "orders", min_count=len(acked), timeout=60))
    events: dict = {}
    for _, v in orders.values():
        assert (v["stock"], v["money"]) == ("BTC", "USDT") and v["event"] in (1, 2, 3), v
        events.setdefault(v["order"]["id"], set()).add(v["event"])
    for oid in acked:
        method = load.orders[oid][0]
        assert oid in events, (oid, "acknowledged order not on the orders topic")
        if method == "order.put_market":
            assert 3 in events[oid], oid  # a market order always finishes
    for oid in load.cancels:
        if since is None:
            assert 3 in events[oid], oid
    deals = dedupe(consume(bootstrap, prefix + "deals", min_count=n_deals if since is None else 1, timeout=60))
    ids = sorted(v[11] for _, v in deals.values())
    if since is None:
        assert ids == list(range(1, n_deals + 1)), "each deal id exactly once"
    else:
        assert len(ids) == len(set(ids)), "a deal id twice"
        oids = ",".join(str(i) for i in acked) or "0"
        expected = {r[0] for r in query(f"SELECT deal_id FROM deal_history WHERE order_id IN ({oids})")}
        assert expected and expected <= set(ids), f"{len(expected - set(ids))} deals lost"


def check_history_and_deals(balances: dict, query=sql) -> int:
    """Σ balance-history changes = balance (fee account aside); two rows per deal, ids 1..N."""
    sums = {(u, a): Decimal(s) for u, a, s in query(
        "SELECT user_id, asset, SUM(`change`) FROM balance_history WHERE user_id <> %s GROUP BY user_id, asset"
        % FEE_ACCOUNT)}
    # balance.query shows available and freeze each truncated to 8 decimals (stored at 20)
    off = [(k, sums.get(k), balances.get(k)) for k in set(sums) | set(balances)
           if not 0 <= sums.get(k, 0) - balances.get(k, 0) < Decimal("2e-8")]
    assert not off, off[:10]
    distinct, rows, lo, hi = query(
        "SELECT COUNT(DISTINCT deal_id), COUNT(*), MIN(deal_id), MAX(deal_id) FROM deal_history")[0]
    assert distinct > 0 and rows == 2 * distinct and (lo, hi) == (1, distinct)
    return distinct


def test_kill_9_under_load_20_times(kafka_broker):
    prefix = f"crash{uuid.uuid4().hex[:8]}-"
    rng = random.Random(42)
    load = CheckedLoad(users=10, seed=1)
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
            acked = len(load.acked_orders)
            task = asyncio.create_task(load.run(client, 600, concurrency=16))
            # under load: some orders of this round acknowledged, then a random moment
            await until(lambda: len(load.acked_orders) >= acked + 10 or task.done(), what="acknowledged orders")
            assert not task.done()
            if i % 3 == 1:  # a snapshot under load, then the kill (sometimes while it is written)
                snap = asyncio.create_task(client.request("snapshot.make", [], timeout=30))
                if i % 2:
                    r = await snap
                    assert r["error"] is None, r
                    snapshots.append(r["result"]["id"])
            await asyncio.sleep(rng.uniform(0.0, 1.0))
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
                balances = await verify_load(client, load, sql)
                # the outputs have caught up: a snapshot now lets retention prune the log
                # behind the kept snapshots (those made under load may be ahead of the sinks)
                r = await client.request("snapshot.make", [], timeout=60)
                assert r["error"] is None, r
                return balances
            finally:
                await client.close()

        balances = asyncio.run(final())
        assert kills == 20 and len(load.acked_orders) >= 20 * 10, (kills, len(load.acked_orders))
        kinds = {m for m, _, _ in load.orders.values()}
        assert kinds == {"order.put_limit", "order.put_market"} and load.cancels and load.acked_deposits, kinds
        deals = check_history_and_deals(balances)
        check_kafka(kafka_broker.bootstrap, prefix, load, deals)
        assert len(snapshots) >= 3
        assert sql("SELECT COUNT(*) FROM snapshot WHERE complete = 1")[0][0] >= 1
        assert sql("SELECT MIN(id) FROM operation_log")[0][0] > 1  # pruned behind the snapshots
    finally:
        proc.stop()


def test_broker_stop_start_under_load():
    from tests.backing import KafkaBroker, free_port

    port = free_port()
    broker = KafkaBroker(port).start()
    prefix = "bo-"
    load = CheckedLoad(users=10, seed=2)
    proc = MatcherProc(db_url(), broker.bootstrap, MATCHER_KAFKA_TOPIC_PREFIX=prefix,
                       MATCHER_KAFKA_BACKLOG_LIMIT="1000", LOG_LEVEL="WARNING").start()

    async def scenario():
        client = proc.client()
        try:
            await setup_markets(client)
            await load.fund(client)
            task = asyncio.create_task(load.run(client, 600, concurrency=16))
            await until(lambda: len(load.acked_orders) >= 50, what="orders acknowledged before the stop")
            await asyncio.to_thread(broker.stop)
            # the backlog fills up to its limit: mutations are refused with code 3
            await until(lambda: load.code3 > 0, what="code 3 while the broker is down")
            since = (len(load.acked_deposits), len(load.acked_orders))  # not delivered before the stop
            pos_down = (await client.request("matcher.status", []))["result"]["kafka_position"]
            code3 = load.code3
            await until(lambda: load.code3 > code3 + 10, what="more code 3")
            st = (await client.request("matcher.status", []))["result"]
            assert st["kafka_position"] == pos_down, st  # nothing can be delivered
            await asyncio.to_thread(broker.start)
            acked = len(load.acked_orders)
            await until(lambda: len(load.acked_orders) >= acked + 50, what="orders acknowledged again")
            load.stop()
            await task
            await wait_drained(client)
            return since, await verify_load(client, load, sql)
        finally:
            await client.close()

    try:
        since, balances = asyncio.run(scenario())
        deals = check_history_and_deals(balances)
        check_kafka(broker.bootstrap, prefix, load, deals, since)
    finally:
        proc.stop()
        broker.stop()


def test_mysql_stop_start_under_load(kafka_broker):
    """A private mariadbd killed (SIGKILL) and restarted under load: code 3 while it is down,
    the pending commands commit when it is back, nothing acknowledged is lost — also across
    a matcher crash right after."""
    db = PrivateMariaDB().install().start()
    prefix = f"my{uuid.uuid4().hex[:8]}-"
    load = CheckedLoad(users=10, seed=3)
    try:
        db.create_and_migrate()
        proc = MatcherProc(db.url, kafka_broker.bootstrap, MATCHER_KAFKA_TOPIC_PREFIX=prefix,
                           LOG_LEVEL="WARNING").start()

        async def scenario():
            client = proc.client(timeout=30)
            try:
                await setup_markets(client)
                await load.fund(client)
                task = asyncio.create_task(load.run(client, 600, concurrency=16))
                await until(lambda: len(load.acked_orders) >= 50, what="orders acknowledged before the kill")
                await asyncio.to_thread(db.kill)

                async def status():
                    return (await client.request("matcher.status", []))["result"]

                # the matcher notices (its log writer cannot commit); the load's clients wait
                # on their pending commands (held until commit); a new mutating command is
                # refused (code 3) while the database is down; a read is held until the
                # pending commands it would show have committed (docs/durability.md)
                st = await status()
                deadline = time.monotonic() + 120
                while st["log_healthy"] is not False or not st["log_backlog"]:
                    assert time.monotonic() < deadline, st
                    await asyncio.sleep(0.05)
                    st = await status()
                probe = await client.request("balance.update", load.deposit_params(1, "USDT", "1"))
                read = asyncio.create_task(client.request("balance.query", [1], timeout=120))
                await asyncio.sleep(0.5)
                read_while_down = read.done()
                await asyncio.to_thread(db.start)  # only after the probe's answer: it came while down
                read = await read
                acked = len(load.acked_orders)
                await until(lambda: len(load.acked_orders) >= acked + 50, what="orders acknowledged again")
                load.stop()
                await task
                await wait_drained(client)
                return probe, read, read_while_down, st
            finally:
                await client.close()

        probe, read, read_while_down, st_down = asyncio.run(scenario())
        assert probe["error"]["code"] == 3, probe
        assert not read_while_down
        assert read["error"] is None and read["result"]["USDT"], read
        assert st_down["log_healthy"] is False and st_down["log_backlog"] > 0
        # crash the matcher right after: everything acknowledged must be recovered
        proc.kill9()
        proc.start()

        async def after():
            client = proc.client()
            try:
                await wait_drained(client)
                return await verify_load(client, load, db.query)
            finally:
                await client.close()

        balances = asyncio.run(after())
        deals = check_history_and_deals(balances, db.query)
        check_kafka(kafka_broker.bootstrap, prefix, load, deals)
        proc.stop()
    finally:
        db.cleanup()
