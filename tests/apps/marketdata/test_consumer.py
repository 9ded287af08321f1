"""The consumer against the real broker and Redis: every kline, status and last price agrees
with an independent computation over a known deal stream; duplicates and out-of-order
redelivery change nothing."""
import random
import time

import pytest

from apps.marketdata import selectors

from .conftest import applied_ids, wait_for
from .streams import expected_kline, expected_last, expected_recent, expected_status, produce, random_stream

pytestmark = pytest.mark.django_db

INTERVALS = [1, 5, 60, 300, 3600, 14400, 86400, 3 * 86400, 604800, 2592000]


def check_all(store, events, market, now):
    assert selectors.last_price(market, store=store) == expected_last(events, market)
    for interval in INTERVALS:
        if interval < 60:
            start = now - 2 * 3600
        else:
            start = int(min(e.time_us for e in events) // 10**6) - 7200
        got = selectors.kline(market, start, now, interval, now=now, store=store)
        assert got == expected_kline(events, market, start, now, interval), interval
    for period in (1, 59, 60, 61, 3600, 86400, 2 * 86400 + 17, 604800):
        assert selectors.status(market, period, now=now, store=store) == expected_status(events, market, period, now)
    assert selectors.recent_deals(market, 100, 0, store=store) == expected_recent(events, market, 100)
    assert selectors.recent_deals(market, 10000, 0, store=store) == expected_recent(events, market, 10000)
    mid = events[len(events) // 2].deal_id
    assert selectors.recent_deals(market, 7, mid, store=store) == expected_recent(events, market, 7, mid)


def test_stream_agrees_with_plain_computation(store, topic, kafka_broker, run_consumer):
    events = random_stream(3000, seed=7, span=2 * 86400)
    events += random_stream(400, market="ETHBTC", seed=8, span=3600, first_id=10_000)
    produce(kafka_broker.bootstrap, topic, events)
    run_consumer(topic)
    wait_for(lambda: len(applied_ids(store, "BTCUSDT")) == 3000 and len(applied_ids(store, "ETHBTC")) == 400,
             what="all deals applied")
    now = int(time.time())
    check_all(store, events, "BTCUSDT", now)
    check_all(store, events, "ETHBTC", now)


def test_duplicates_and_out_of_order_redelivery(store, topic, kafka_broker, run_consumer):
    events = random_stream(1500, seed=11, span=6 * 3600)
    rnd = random.Random(3)
    # the matcher republishing after a crash: a tail again, some deals out of order, repeats
    redelivered = events[:1000] + events[800:1200] + events[1300:1500] + events[1200:1300] + rnd.sample(events, 300)
    c = run_consumer(topic)
    produce(kafka_broker.bootstrap, topic, redelivered[:700])
    wait_for(lambda: c.consumer.consumed >= 700, what="first part consumed")
    produce(kafka_broker.bootstrap, topic, redelivered[700:])
    wait_for(lambda: c.consumer.consumed >= len(redelivered), what="all consumed")
    assert len(applied_ids(store, "BTCUSDT")) == 1500
    assert c.consumer.applied == 1500
    check_all(store, events, "BTCUSDT", int(time.time()))
