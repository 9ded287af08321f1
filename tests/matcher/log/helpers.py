"""Shared helpers of the durability tests (operation log, snapshots, sinks, service)."""
from __future__ import annotations

import asyncio  # noqa: F401
import random

from django.db import connections

from matcher.service import MatcherService
from tests.matcherproc import MatcherProc, database_url  # noqa: F401  (MatcherProc: re-exported)

SETUP = [
    ("asset.put", ["BTC", 20, 8]),
    ("asset.put", ["ETH", 20, 8]),
    ("asset.put", ["USDT", 20, 8]),
    ("market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001", True]),
    ("market.put", ["ETHUSDT", "ETH", "USDT", 8, 2, 4, "0.01", True]),
]


# ----------------------------------------------------------------------------- a MatcherService in a test


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


def db_name() -> str:
    return connections["default"].settings_dict["NAME"]


def db_url() -> str:
    return database_url()


def deposit(uid: int, asset: str, amount: str, bid: int) -> tuple[str, list]:
    return ("balance.update", [uid, asset, "deposit", bid, amount, {"note": "test"}])


def random_commands(rng: random.Random, n: int, users: int = 20, start_bid: int = 1):
    """A mix of deposits, crossing limit orders, market orders and cancels."""
    cmds = []
    bid = start_bid
    for uid in range(1, users + 1):
        for asset, amt in (("BTC", "100"), ("ETH", "1000"), ("USDT", "10000000")):
            cmds.append(deposit(uid, asset, amt, bid))
            bid += 1
    for _ in range(n):
        r = rng.random()
        uid = rng.randint(1, users)
        market = rng.choice(("BTCUSDT", "ETHUSDT"))
        if r < 0.80:
            side = rng.choice((1, 2))
            price = str(rng.randint(9900, 10100)) if market == "BTCUSDT" else str(rng.randint(290, 310))
            amount = f"{rng.randint(1, 500) / 100:.2f}"
            cmds.append(("order.put_limit", [uid, market, side, amount, price, "0.002", "0.001", "test"]))
        elif r < 0.85:
            side = rng.choice((1, 2))
            amount = "0.05" if side == 1 else "500"
            cmds.append(("order.put_market", [uid, market, side, amount, "0.002", "test"]))
        elif r < 0.95:
            cmds.append(("order.cancel_all", [uid, market]))
        else:
            cmds.append(deposit(uid, "USDT", f"{rng.randint(1, 1000)}.5", bid))
            bid += 1
    return cmds


def run(coro):
    import asyncio

    return asyncio.run(coro)


async def run_commands(service, cmds, concurrency: int = 32) -> list:
    """Send ``cmds`` with up to ``concurrency`` in flight; replies in command order."""
    import asyncio

    sem = asyncio.Semaphore(concurrency)

    async def one(m, p):
        async with sem:
            return await service.call(m, p)

    return await asyncio.gather(*[one(m, p) for m, p in cmds])


def consume(bootstrap: str, topic: str, *, min_count: int = 0, timeout: float = 10.0, idle: float = 1.0):
    """Every message of ``topic`` (all partitions, from the beginning):
    list of (seq, key, value) with value JSON-decoded. Reads until ``min_count`` messages
    arrived and nothing new came for ``idle`` s, or ``timeout``."""
    import time

    import orjson
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-" + topic, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "topic.metadata.refresh.interval.ms": 1000})
    try:
        deadline = time.monotonic() + timeout
        parts = None
        while time.monotonic() < deadline:
            md = c.list_topics(topic, timeout=5)
            t = md.topics.get(topic)
            if t is not None and t.error is None and t.partitions:
                parts = sorted(t.partitions)
                break
            time.sleep(0.2)
        if parts is None:
            return []
        c.assign([TopicPartition(topic, p, -2) for p in parts])  # OFFSET_BEGINNING
        out = []
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            msgs = c.consume(10000, 0.2)
            for m in msgs:
                if m.error():
                    if m.error().code() == -191:  # partition EOF
                        continue
                    raise KafkaException(m.error())
                seq = int(dict(m.headers() or [])["seq"])
                out.append((seq, m.key().decode() if m.key() else None, orjson.loads(m.value())))
            if msgs:
                last_new = time.monotonic()
            elif len(out) >= min_count and time.monotonic() - last_new >= idle:
                break
        return out
    finally:
        c.close()


def dedupe(messages):
    seen = {}
    for seq, key, value in messages:
        seen.setdefault(seq, (key, value))
    return seen


def history_balance_sums() -> dict:
    """(user_id, asset) -> Σ change of balance_history."""
    from decimal import Decimal

    with connections["default"].cursor() as cur:
        cur.execute("SELECT user_id, asset, SUM(`change`) FROM balance_history GROUP BY user_id, asset")
        return {(u, a): Decimal(s) for u, a, s in cur.fetchall()}


def engine_totals(engine) -> dict:
    """(user_id, asset) -> available + freeze, from the engine dump."""
    from decimal import Decimal

    out = {}
    for b in engine.dump_state()["balances"]:
        total = Decimal(b["available"]) + Decimal(b["freeze"])
        if total:
            out[(b["user"], b["asset"])] = total
    return out


def sql(query, params=()):
    with connections["default"].cursor() as cur:
        cur.execute(query, params)
        try:
            return cur.fetchall()
        except Exception:  # noqa: BLE001
            return None


class PrivateMariaDB:
    """A private mariadbd (own datadir, socket, port) that outage tests stop and start;
    never the machine's shared server."""

    def __init__(self):
        import tempfile

        from tests.backing import free_port

        self.dir = tempfile.mkdtemp(prefix="mariadb-private-")
        self.port = free_port()
        self.proc = None

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/matcher"

    def install(self) -> "PrivateMariaDB":
        import shutil
        import subprocess

        shutil.chown(self.dir, "mysql", "mysql")
        subprocess.run(["mariadb-install-db", f"--datadir={self.dir}/data", "--user=mysql",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def start(self) -> "PrivateMariaDB":
        import subprocess

        from tests.backing import wait_port

        self.proc = subprocess.Popen(
            ["mariadbd", f"--datadir={self.dir}/data", f"--socket={self.dir}/sock", f"--port={self.port}",
             "--bind-address=127.0.0.1", "--user=mysql", "--skip-grant-tables", f"--pid-file={self.dir}/pid",
             "--innodb-buffer-pool-size=64M", "--skip-log-bin"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port("127.0.0.1", self.port, 60)
        return self

    def kill(self) -> None:
        import signal

        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def create_and_migrate(self) -> None:
        import os
        import subprocess
        import sys

        subprocess.run(["mariadb", "-h127.0.0.1", f"-P{self.port}", "-uroot", "-e",
                        "CREATE DATABASE IF NOT EXISTS matcher CHARACTER SET utf8mb4"], check=True)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        subprocess.run([sys.executable, "manage.py", "migrate", "--skip-checks", "-v0"], check=True, cwd=root,
                       env=dict(os.environ, DATABASE_URL=self.url))

    def query(self, q: str):
        import MySQLdb

        conn = MySQLdb.connect(host="127.0.0.1", port=self.port, user="root", db="matcher")
        try:
            cur = conn.cursor()
            cur.execute(q)
            return cur.fetchall()
        finally:
            conn.close()

    def cleanup(self) -> None:
        import shutil

        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Load:
    """Concurrent clients putting limit orders (about half crossing) and deposits through
    the RPC client; records what was acknowledged."""

    def __init__(self, users: int = 10, seed: int = 0):
        self.users = users
        self.rng = random.Random(seed)
        self.acked_orders: list[int] = []
        self.acked_deposits: list[list] = []
        self.code3 = 0
        self.errors: dict = {}
        self.failed = 0
        self.next_bid = 10_000_000 + seed * 1_000_000

    def deposit_params(self, uid, asset, amount):
        self.next_bid += 1
        return [uid, asset, "deposit", self.next_bid, amount, {}]

    async def fund(self, client) -> None:
        for uid in range(1, self.users + 1):
            for asset, amount in (("BTC", "100000"), ("USDT", "1000000000")):
                p = self.deposit_params(uid, asset, amount)
                r = await client.request("balance.update", p)
                assert r["error"] is None, r
                self.acked_deposits.append(p)

    def stop(self) -> None:
        self.stop_at = 0.0

    async def worker(self, client) -> None:
        import time

        from apps.wire.errors import RpcError

        rng = self.rng
        while time.monotonic() < self.stop_at:
            uid = rng.randint(1, self.users)
            if rng.random() < 0.1:
                method, p = "balance.update", self.deposit_params(uid, "USDT", "10")
            else:
                side = rng.choice((1, 2))
                price = str(rng.randint(9990, 10010))
                method, p = "order.put_limit", [uid, "BTCUSDT", side, "0.01", price, "0.002", "0.001", "load"]
            try:
                r = await client.request(method, p)
            except RpcError:
                self.failed += 1
                await asyncio_sleep(0.01)
                continue
            if r["error"] is None:
                if method == "order.put_limit":
                    self.acked_orders.append(r["result"]["id"])
                else:
                    self.acked_deposits.append(p)
            else:
                code = r["error"]["code"]
                self.errors[code] = self.errors.get(code, 0) + 1
                if code == 3:
                    self.code3 += 1
                    await asyncio_sleep(0.01)

    async def run(self, client, seconds: float, concurrency: int = 16) -> None:
        import asyncio
        import time

        self.stop_at = time.monotonic() + seconds
        await asyncio.gather(*[self.worker(client) for _ in range(concurrency)])


async def asyncio_sleep(s):
    import asyncio

    await asyncio.sleep(s)


async def wait_drained(client, timeout: float = 60.0) -> dict:
    """Wait until the matcher's outputs caught up (history and Kafka backlogs empty)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while True:
        st = (await client.request("matcher.status", []))["result"]
        if not st["log_backlog"] and not (st["history_backlog"] or 0) and not (st["kafka_backlog"] or 0):
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"outputs not drained: {st}")
        await asyncio.sleep(0.1)


async def verify_acknowledged(client, load: Load, order_history_ids) -> None:
    """Every acknowledged command is there: deposits are refused as repeats (code 10);
    orders are open or in the order history; no acknowledged order id twice."""
    assert len(set(load.acked_orders)) == len(load.acked_orders), "an order id was acknowledged twice"
    for p in load.acked_deposits:
        r = await client.request("balance.update", p)
        assert r["error"] is not None and r["error"]["code"] == 10, (p, r)
    missing = []
    for oid in load.acked_orders:
        if oid in order_history_ids:
            continue
        r = await client.request("order.pending_detail", ["BTCUSDT", oid])
        if r["result"] is None:
            missing.append(oid)
    assert not missing, f"acknowledged orders lost: {missing[:20]} ({len(missing)})"


async def balances_of(client, users: int) -> dict:
    from decimal import Decimal

    out = {}
    for uid in range(1, users + 1):
        r = (await client.request("balance.query", [uid]))["result"]
        for asset, b in r.items():
            total = Decimal(b["available"]) + Decimal(b["freeze"])
            if total:
                out[(uid, asset)] = total
    return out
