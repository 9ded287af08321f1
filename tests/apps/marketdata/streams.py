"""Deal streams for the market-data tests, produced exactly as the matcher does
(matcher/sinks/kafka.py `message_of` of a core DealEvent, header `seq`), and an independent
plain computation of what market data must answer for them."""
from __future__ import annotations

import calendar
import random
import time
from datetime import datetime, timezone
from decimal import Decimal, localcontext

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from matcher.core import DealEvent
from matcher.sinks.kafka import message_of

D = Decimal


def deal_event(deal_id: int, time_s: float, market: str, price: str, amount: str, side: int) -> DealEvent:
    p, a = D(price), D(amount)
    return DealEvent((deal_id, int(round(time_s * 1e6)), market, market[:3], market[3:], deal_id, p, a, p * a,
                      side, deal_id * 10, deal_id * 10 + 1, 1, 2, D("0"), D("0"), 1, 2))


def random_stream(n: int, *, market: str = "BTCUSDT", seed: int = 1, end: float | None = None,
                  span: float = 3 * 86400, first_id: int = 1) -> list[DealEvent]:
    """n deals over `span` seconds up to `end`: gaps (hours without deals), bursts (many
    deals in one second) and identical timestamps."""
    rnd = random.Random(seed)
    end = time.time() - 5 if end is None else end
    t = end - span
    out = []
    price = D("8000.00")
    i = 0
    while i < n:
        r = rnd.random()
        if r < 0.02:
            t += rnd.uniform(3600, 5 * 3600)  # a gap
        elif r < 0.1:
            t += 0  # identical timestamp
        elif r < 0.3:
            t += rnd.uniform(0, 0.01)  # burst
        else:
            t += rnd.uniform(0, span / n)
        t = min(t, end)
        price = max(D("0.01"), price + D(rnd.randint(-500, 500)) / 100)
        amount = D(rnd.randint(1, 10**6)) / D(10**6)
        ev = deal_event(first_id + i, round(t, 6), market, str(price.quantize(D("0.01"))),
                        str(amount.quantize(D("0.00000001"))), rnd.choice((1, 2)))
        out.append(ev)
        i += 1
    return out


def create_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)]).values():
        try:
            f.result(10)
        except Exception as e:  # noqa: BLE001
            if "already exists" not in str(e).lower() and "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


def produce(bootstrap: str, topic: str, events, seqs=None) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    for i, ev in enumerate(events):
        _t, key, value = message_of(ev)
        seq = seqs[i] if seqs is not None else ev.seq
        while True:
            try:
                p.produce(topic, value, key, headers=[("seq", b"%d" % seq)])
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    assert p.flush(30) == 0


# --- the independent computation --------------------------------------------------------
def _fmt(d: Decimal) -> str:
    s = str(d)
    if "E" in s:
        return s.replace("E", "e")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def _candle(deals):
    """[open, close, high, low, volume, deal] of deals (open/close by deal id)."""
    deals = sorted(deals, key=lambda e: e.deal_id)
    with localcontext() as c:
        c.prec = 100
        vol = sum((e.amount for e in deals), D(0))
        money = sum((e.price * e.amount for e in deals), D(0))
    return [deals[0].price, deals[-1].price, max(e.price for e in deals), min(e.price for e in deals), vol, money]


def bucket_start(t: float, interval: int) -> int:
    s = int(t // 1)
    if interval == 2592000:
        d = datetime.fromtimestamp(s, timezone.utc)
        return calendar.timegm((d.year, d.month, 1, 0, 0, 0))
    if interval == 604800:
        monday = 4 * 86400  # 1970-01-05 was a Monday
        return s - (s - monday) % 604800
    return s - s % interval


def next_bucket(b: int, interval: int) -> int:
    if interval == 2592000:
        d = datetime.fromtimestamp(b, timezone.utc)
        y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return calendar.timegm((y, m, 1, 0, 0, 0))
    return b + interval


def expected_kline(events, market: str, start: int, end: int, interval: int) -> list[list]:
    """market.kline straight from the deals: buckets from start's bucket to end, empty
    buckets flat at the previous close (only after the first candle or an earlier deal)."""
    deals = [e for e in events if e.market == market]
    groups: dict[int, list] = {}
    for e in deals:
        groups.setdefault(bucket_start(e.time_us / 1e6, interval), []).append(e)
    b = bucket_start(start, interval)
    before = [e for e in deals if int(e.time_us // 10**6) < b]
    prev = max(before, key=lambda e: e.deal_id).price if before else None
    out = []
    while b <= end:
        g = groups.get(b)
        if g:
            c = _candle(g)
            out.append([b, *(_fmt(x) for x in c), market])
            prev = c[1]
        elif prev is not None:
            p = _fmt(prev)
            out.append([b, p, p, p, p, "0", "0", market])
        b = next_bucket(b, interval)
    return out


def expected_status(events, market: str, period: int, now: int) -> dict:
    deals = [e for e in events if e.market == market]
    last = max(deals, key=lambda e: e.deal_id).price if deals else None
    inside = [e for e in deals if now - period <= int(e.time_us // 10**6) <= now]
    res = {"period": period, "last": _fmt(last) if last is not None else "0"}
    if not inside:
        return {**res, "open": "0", "close": "0", "high": "0", "low": "0", "volume": "0", "deal": "0"}
    c = _candle(inside)
    return {**res, **dict(zip(("open", "close", "high", "low", "volume", "deal"), (_fmt(x) for x in c)))}


def expected_last(events, market: str) -> str:
    deals = [e for e in events if e.market == market]
    if not deals:
        return "0"
    from matcher.core.numbers import raw

    return raw(max(deals, key=lambda e: e.deal_id).price)


def expected_recent(events, market: str, limit: int, last_id: int = 0) -> list[dict]:
    deals = sorted((e for e in events if e.market == market and e.deal_id > last_id), key=lambda e: -e.deal_id)
    return [{"id": e.deal_id, "time": e.time_us / 1e6, "price": _fmt(e.price), "amount": _fmt(e.amount),
             "type": "sell" if e.taker_side == 1 else "buy"} for e in deals[:limit]]
