"""The market-data store in Redis: layout, the batch writer, and the reads.

Layout (prefix P = settings.MARKETDATA_KEY_PREFIX, default ``md:``; docs/marketdata.md):

    P markets              SET   every market seen in a deal
    P offsets              HASH  "<topic>:<partition>" → "<next offset>|<seq of the last applied message>"
    P m:<market>:1s|1m|1h|1d ZSET base klines: score = bucket start (UTC seconds), member =
                                 "ts|open|close|high|low|volume|deal|open_id|close_id"
    P m:<market>:deals     ZSET  recent deals, score = deal id, member = the market.deals JSON object
    P m:<market>:ids       ZSET  applied deal ids (dedupe window), score = member = deal id
    P m:<market>:last      STR   "<deal id>|<raw price>" of the newest deal (highest id)
    P m:<market>:ver       STR   version, +1 on every write to this market (optimistic locking)

Every write to a market happens in one MULTI/EXEC under WATCH of its version key, together
with the Kafka offsets that the batch covers: a batch is applied entirely or not at all,
and a writer that read stale state (another writer changed the version) starts over.
Open/close of a bucket are the prices of its lowest/highest deal id, so the order in which
deals arrive does not matter; a deal id already in the dedupe window is skipped.
"""
from __future__ import annotations

import decimal
import math
from decimal import Decimal

import orjson
import redis

RESOLUTIONS = (("1s", 1), ("1m", 60), ("1h", 3600), ("1d", 86400))
SIDES = {1: "sell", 2: "buy"}
CONTEXT = decimal.Context(prec=100)  # sums and products exact for any DECIMAL(50,20)


def fmt(d: Decimal) -> str:
    """http-jsonrpc.md §2 `fmt`: to-sci string, lowercase e, trailing zeros stripped."""
    s = str(d)
    if "E" in s:
        return s.replace("E", "e")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def fmt_raw(s: str) -> str:
    """fmt of a raw to-sci decimal string, without building a Decimal when it is plain."""
    if "e" in s or "E" in s:
        return fmt(Decimal(s))
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


class Deal:
    __slots__ = ("id", "time", "market", "price", "amount", "side", "p", "a")

    def __init__(self, id: int, time: float, market: str, price: str, amount: str, side: int,
                 p: Decimal | None = None, a: Decimal | None = None):
        self.id = id
        self.time = time
        self.market = market
        self.price = price  # raw decimal strings as published
        self.amount = amount
        self.side = side  # taker side: 1 sold, 2 bought
        self.p = Decimal(price) if p is None else p
        self.a = Decimal(amount) if a is None else a

    def recent_json(self) -> bytes:
        return orjson.dumps({"id": self.id, "time": self.time, "price": fmt_raw(self.price),
                             "amount": fmt_raw(self.amount), "type": SIDES[self.side]})


def parse_payload(value: bytes) -> Deal | None:
    """A `deals` message (matching.md §7) → Deal, or None if it is not a valid deal."""
    try:
        p = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if type(p) is not list or len(p) < 12:
        return None
    t, market, price, amount, side, deal_id = p[0], p[1], p[6], p[7], p[10], p[11]
    if (type(t) not in (float, int) or not t > 0 or type(market) is not str or not market
            or type(price) is not str or type(amount) is not str or side not in (1, 2)
            or type(deal_id) is not int or deal_id <= 0):
        return None
    try:
        pd, ad = Decimal(price), Decimal(amount)
    except decimal.InvalidOperation:
        return None
    if not pd.is_finite() or not ad.is_finite():
        return None
    return Deal(deal_id, float(t), market, price, amount, side, pd, ad)


# --- buckets ------------------------------------------------------------------------------
# a bucket is a list [open, close, high, low, volume, deal, open_id, close_id] (Decimals, ints)

def bucket_of_deal(price: Decimal, amount: Decimal, deal_id: int) -> list:
    return [price, price, price, price, amount, CONTEXT.multiply(price, amount), deal_id, deal_id]


def merge_into(b: list, o: list) -> None:
    """Merge bucket `o` into `b` (in place)."""
    if o[6] < b[6]:
        b[0], b[6] = o[0], o[6]
    if o[7] > b[7]:
        b[1], b[7] = o[1], o[7]
    if o[2] > b[2]:
        b[2] = o[2]
    if o[3] < b[3]:
        b[3] = o[3]
    b[4] = CONTEXT.add(b[4], o[4])
    b[5] = CONTEXT.add(b[5], o[5])


def encode_bucket(ts: int, b: list) -> bytes:
    return f"{ts}|{b[0]}|{b[1]}|{b[2]}|{b[3]}|{b[4]}|{b[5]}|{b[6]}|{b[7]}".encode()


def decode_bucket(member: bytes) -> tuple[int, list]:
    f = member.decode().split("|")
    return int(f[0]), [Decimal(f[1]), Decimal(f[2]), Decimal(f[3]), Decimal(f[4]), Decimal(f[5]),
                       Decimal(f[6]), int(f[7]), int(f[8])]


def aggregate(deals) -> dict[int, list]:
    """1-second buckets of `deals` (Deal objects): {second: bucket}."""
    out: dict[int, list] = {}
    mul = CONTEXT.multiply
    floor = math.floor
    for d in deals:
        s = floor(d.time)
        price = d.p
        b = out.get(s)
        if b is None:
            out[s] = [price, price, price, price, d.a, mul(price, d.a), d.id, d.id]
        else:
            merge_into(b, [price, price, price, price, d.a, mul(price, d.a), d.id, d.id])
    return out


def roll_up(seconds: dict[int, list]) -> list[dict[int, list]]:
    """The 1 s buckets merged into [1s, 1m, 1h, 1d] bucket dicts."""
    levels = [seconds]
    for _name, size in RESOLUTIONS[1:]:
        level: dict[int, list] = {}
        for s, b in levels[-1].items():  # each level from the one below
            k = s - s % size
            cur = level.get(k)
            if cur is None:
                level[k] = list(b)
            else:
                merge_into(cur, b)
        levels.append(level)
    return levels


# --- the store ----------------------------------------------------------------------------
class _MarketCache:
    """What the single consumer knows of one market (valid while `ver` matches Redis)."""

    __slots__ = ("ver", "ids", "ids_floor", "buckets", "last_id")

    def __init__(self, ver):
        self.ver = ver
        self.ids: set[int] | None = None
        self.ids_floor = 0  # ids below this are older than the window: treated as applied
        self.buckets: list[dict] = [{} for _ in RESOLUTIONS]  # ts → (bucket, stored member) or None (absent)
        self.last_id = None


class Store:
    def __init__(self, client: redis.Redis, prefix: str = "md:", *, deals_keep: int = 10_000,
                 dedupe_window: int = 100_000):
        self.r = client
        self.prefix = prefix
        self.deals_keep = deals_keep
        self.dedupe_window = dedupe_window
        self._cache: dict[str, _MarketCache] = {}

    # keys
    def key(self, market: str, what: str) -> str:
        return f"{self.prefix}m:{market}:{what}"

    @property
    def markets_key(self) -> str:
        return self.prefix + "markets"

    @property
    def offsets_key(self) -> str:
        return self.prefix + "offsets"

    # -- consumer side -----------------------------------------------------------------
    def offsets(self) -> dict[str, tuple[int, int]]:
        out = {}
        for field, value in self.r.hgetall(self.offsets_key).items():
            nxt, seq = value.decode().split("|")
            out[field.decode()] = (int(nxt), int(seq))
        return out

    def forget_offsets(self, fields) -> None:
        if fields:
            self.r.hdel(self.offsets_key, *fields)

    def drop_cache(self) -> None:
        self._cache.clear()

    def apply(self, deals: list[Deal], offsets: dict[str, tuple[int, int]] | None = None) -> int:
        """Apply a batch of deals and record `offsets` ({"topic:partition": (next, seq)}) in
        one transaction. Returns the number of deals applied (duplicates excluded)."""
        by_market: dict[str, list[Deal]] = {}
        for d in deals:
            by_market.setdefault(d.market, []).append(d)
        if not by_market:
            if offsets:
                self.r.hset(self.offsets_key, mapping={k: f"{n}|{s}" for k, (n, s) in offsets.items()})
            return 0
        for _attempt in range(100):
            try:
                return self._apply(by_market, offsets)
            except redis.WatchError:
                for m in by_market:
                    self._cache.pop(m, None)
        raise RuntimeError("market data: could not apply a batch (versions keep changing)")

    def _apply(self, by_market: dict[str, list[Deal]], offsets) -> int:
        markets = list(by_market)
        ver_keys = [self.key(m, "ver") for m in markets]
        with self.r.pipeline() as pipe:
            pipe.watch(*ver_keys)
            vers = pipe.mget(ver_keys)
            caches = []
            for m, v in zip(markets, vers):
                c = self._cache.get(m)
                if c is None or c.ver != v:
                    c = self._cache[m] = _MarketCache(v)
                caches.append(c)
            self._load_ids([(m, c) for m, c in zip(markets, caches) if c.ids is None])
            # dedupe
            fresh: dict[str, list[Deal]] = {}
            for m, c in zip(markets, caches):
                ids, floor, keep = c.ids, c.ids_floor, []
                batch_ids = set()
                for d in by_market[m]:
                    if d.id in ids or d.id < floor or d.id in batch_ids:
                        continue
                    batch_ids.add(d.id)
                    keep.append(d)
                if keep:
                    fresh[m] = keep
            # new bucket values
            updates: dict[str, list[dict]] = {}
            need: dict[tuple[str, int], list[int]] = {}
            for m, keep in fresh.items():
                levels = roll_up(aggregate(keep))
                updates[m] = levels
                c = self._cache[m]
                for li, level in enumerate(levels):
                    known = c.buckets[li]
                    missing = [ts for ts in level if ts not in known]
                    if missing:
                        need[(m, li)] = missing
            self._load_buckets(need)
            applied = 0
            written: dict[str, list] = {}
            pipe.multi()
            for m, levels in updates.items():
                c = self._cache[m]
                keep = fresh[m]
                applied += len(keep)
                new_buckets = written[m] = []
                for li, level in enumerate(levels):
                    key = self.key(m, RESOLUTIONS[li][0])
                    known = c.buckets[li]
                    add, drop = {}, []
                    for ts, b in level.items():
                        old = known.get(ts)
                        if old is not None:
                            merged = list(old[0])
                            merge_into(merged, b)
                            b = merged
                            drop.append(old[1])
                        member = encode_bucket(ts, b)
                        add[member] = ts
                        new_buckets.append((li, ts, (b, member)))
                    if drop:
                        pipe.zrem(key, *drop)
                    pipe.zadd(key, add)
                top = max(keep, key=lambda d: d.id)
                if c.last_id is None or top.id > c.last_id:
                    pipe.set(self.key(m, "last"), f"{top.id}|{top.price}")
                newest = sorted(keep, key=lambda d: d.id)[-self.deals_keep:]
                dkey = self.key(m, "deals")
                pipe.zadd(dkey, {d.recent_json(): d.id for d in newest})
                pipe.zremrangebyrank(dkey, 0, -self.deals_keep - 1)
                ikey = self.key(m, "ids")
                pipe.zadd(ikey, {str(d.id): d.id for d in keep})
                pipe.zremrangebyrank(ikey, 0, -self.dedupe_window - 1)
                pipe.sadd(self.markets_key, m)
            for m in markets:
                pipe.incr(self.key(m, "ver"))
            if offsets:
                pipe.hset(self.offsets_key, mapping={k: f"{n}|{s}" for k, (n, s) in offsets.items()})
            pipe.execute()
        # committed: bring the cache along
        for m, c in zip(markets, caches):
            c.ver = b"%d" % (int(c.ver or 0) + 1)
            keep = fresh.get(m)
            if not keep:
                continue
            for li, ts, entry in written[m]:
                c.buckets[li][ts] = entry
            c.ids.update(d.id for d in keep)
            if len(c.ids) > self.dedupe_window * 1.25:  # trimmed now and then (Redis: every batch)
                ordered = sorted(c.ids)
                cut = len(ordered) - self.dedupe_window
                c.ids_floor = ordered[cut]
                c.ids.difference_update(ordered[:cut])
            top = max(d.id for d in keep)
            if c.last_id is None or top > c.last_id:
                c.last_id = top
            if sum(len(x) for x in c.buckets) > 200_000:
                c.buckets = [{} for _ in RESOLUTIONS]
        return applied

    def _load_ids(self, pending) -> None:
        if not pending:
            return
        p = self.r.pipeline(transaction=False)
        for m, _c in pending:
            p.zrange(self.key(m, "ids"), 0, -1)
            p.get(self.key(m, "last"))
        res = p.execute()
        for i, (_m, c) in enumerate(pending):
            ids = [int(x) for x in res[2 * i]]
            c.ids = set(ids)
            c.ids_floor = min(ids) if len(ids) >= self.dedupe_window else 0
            last = res[2 * i + 1]
            c.last_id = int(last.split(b"|", 1)[0]) if last else None

    def _load_buckets(self, need: dict[tuple[str, int], list[int]]) -> None:
        """Fill the cache with the stored buckets at `need` {(market, level): [ts, ...]}
        (None = absent): one range read per cluster of wanted buckets (a batch covers a
        stretch of time; a gap of more than 1000 buckets starts a new cluster)."""
        if not need:
            return
        p = self.r.pipeline(transaction=False)
        plan = []
        for (m, li), tss in need.items():
            name, size = RESOLUTIONS[li]
            key = self.key(m, name)
            tss = sorted(tss)
            start = 0
            for i in range(1, len(tss) + 1):
                if i == len(tss) or tss[i] - tss[i - 1] > 1000 * size:
                    p.zrangebyscore(key, tss[start], tss[i - 1])
                    plan.append((m, li, tss[start:i]))
                    start = i
        for (m, li, tss), members in zip(plan, p.execute()):
            known = self._cache[m].buckets[li]
            wanted = set(tss)
            for ts in tss:
                known[ts] = None
            for member in members:
                ts = int(member.split(b"|", 1)[0])
                if ts in wanted:
                    known[ts] = (decode_bucket(member)[1], member)

    # -- replacing a time range (rebuild) ------------------------------------------------
    def replace_range(self, market: str, start: int, end: int, history: list[Deal]) -> int:
        """Make the base buckets of [start, end) (whole UTC days) those of `history` (the
        deal history of that range) plus the applied deals of the range not in it yet (the
        recent deals: the history can lag the consumer), and mark the history's deals applied
        so the consumer does not count them again. Optimistic: starts over if the market
        changes meanwhile. Returns the number of deals in the range."""
        assert start % 86400 == 0 and end % 86400 == 0
        ver_key = self.key(market, "ver")
        by_id = {d.id: d for d in history}
        for _attempt in range(100):
            with self.r.pipeline() as pipe:
                try:
                    pipe.watch(ver_key)
                    deals = dict(by_id)
                    for raw in pipe.zrangebyscore(self.key(market, "deals"), "-inf", "+inf"):
                        j = orjson.loads(raw)
                        if start <= j["time"] < end and j["id"] not in deals:
                            deals[j["id"]] = Deal(j["id"], j["time"], market, j["price"], j["amount"],
                                                  1 if j["type"] == "sell" else 2)
                    last = pipe.get(self.key(market, "last"))
                    last_id = int(last.split(b"|", 1)[0]) if last else 0
                    ids = sorted(deals)[-self.dedupe_window:]
                    levels = roll_up(aggregate(deals.values()))
                    pipe.multi()
                    for li, (name, _size) in enumerate(RESOLUTIONS):
                        key = self.key(market, name)
                        pipe.zremrangebyscore(key, start, f"({end}")
                        if levels[li]:
                            pipe.zadd(key, {encode_bucket(ts, b): ts for ts, b in levels[li].items()})
                    if deals:
                        ikey = self.key(market, "ids")
                        pipe.zadd(ikey, {str(i): i for i in ids})
                        pipe.zremrangebyrank(ikey, 0, -self.dedupe_window - 1)
                        newest = [deals[i] for i in ids[-self.deals_keep:]]
                        dkey = self.key(market, "deals")
                        pipe.zremrangebyscore(dkey, newest[0].id, newest[-1].id)
                        pipe.zadd(dkey, {d.recent_json(): d.id for d in newest})
                        pipe.zremrangebyrank(dkey, 0, -self.deals_keep - 1)
                        top = deals[ids[-1]]
                        if top.id > last_id:
                            pipe.set(self.key(market, "last"), f"{top.id}|{top.price}")
                        pipe.sadd(self.markets_key, market)
                    pipe.incr(ver_key)
                    pipe.execute()
                    return len(deals)
                except redis.WatchError:
                    continue
        raise RuntimeError("market data: could not rebuild (versions keep changing)")

    def prune(self, market: str, cutoffs: dict[str, int]) -> int:
        """Drop base buckets older than the retention cutoffs {"1s": ts, ...}. Buckets are
        only removed, never changed, so this needs no version check."""
        p = self.r.pipeline(transaction=False)
        for name, cutoff in cutoffs.items():
            p.zremrangebyscore(self.key(market, name), "-inf", f"({cutoff}")
        return sum(p.execute())

    # -- reads ---------------------------------------------------------------------------
    def markets(self) -> set[str]:
        return {m.decode() for m in self.r.smembers(self.markets_key)}

    def known(self, market: str) -> bool:
        return bool(self.r.sismember(self.markets_key, market))

    def last(self, market: str) -> str | None:
        v = self.r.get(self.key(market, "last"))
        return v.decode().split("|", 1)[1] if v else None

    def recent(self, market: str, limit: int, last_id: int) -> list[dict]:
        rows = self.r.zrevrangebyscore(self.key(market, "deals"), "+inf", f"({last_id}", start=0, num=limit)
        return [orjson.loads(x) for x in rows]

    def buckets(self, market: str, res: str, lo, hi) -> list[tuple[int, list]]:
        return [decode_bucket(x) for x in self.r.zrangebyscore(self.key(market, res), lo, hi)]

    def bucket_before(self, market: str, res: str, ts: int, floor: int) -> tuple[int, list] | None:
        rows = self.r.zrevrangebyscore(self.key(market, res), f"({ts}", floor, start=0, num=1)
        return decode_bucket(rows[0]) if rows else None

