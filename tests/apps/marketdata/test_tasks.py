"""Celery tasks: closed klines persisted (idempotent), Redis pruned per retention, and the
rebuild from the deal history equal to the live result — also run twice at once and while
the consumer is applying deals."""
import threading
import time
from decimal import Decimal

import pytest

from apps.history.models import DealHistory
from apps.marketdata import services, tasks
from apps.marketdata.models import Kline
from apps.markets.services import demo_config_seed

from .conftest import applied_ids, wait_for
from .streams import produce, random_stream
from .test_consumer import check_all
from .test_recovery import history_rows


def snapshot(store, market):
    keys = [store.key(market, w) for w in ("1s", "1m", "1h", "1d", "last", "deals", "ids")]
    out = {}
    for k in keys:
        t = store.r.type(k)
        out[k] = (store.r.zrange(k, 0, -1, withscores=True) if t == b"zset" else store.r.get(k))
    return out


@pytest.mark.django_db(transaction=True)
def test_rebuild_equals_live(md, store, topic, kafka_broker, run_consumer):
    demo_config_seed()
    events = random_stream(2500, seed=41, span=3 * 86400)
    DealHistory.objects.bulk_create(history_rows(events), batch_size=1000)
    produce(kafka_broker.bootstrap, topic, events)
    c = run_consumer(topic)
    wait_for(lambda: len(applied_ids(store, "BTCUSDT")) == 2500, what="all applied")
    c.stop()
    live = snapshot(store, "BTCUSDT")
    now = int(time.time())
    lo, hi = events[0].time_us // 10**6, events[-1].time_us // 10**6
    # damage the store, then rebuild twice at once
    store.r.delete(store.key("BTCUSDT", "1m"), store.key("BTCUSDT", "1s"))
    store.r.zremrangebyrank(store.key("BTCUSDT", "1h"), 0, 5)
    errors = []

    def rebuild():
        try:
            tasks.rebuild_market.apply(args=("BTCUSDT", lo, hi)).get()
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=rebuild) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert snapshot(store, "BTCUSDT") == live
    check_all(store, events, "BTCUSDT", now)
    # persisted klines equal the store's closed buckets
    for res, size in services.PERSISTED:
        rows = list(Kline.objects.filter(market="BTCUSDT", interval=size).order_by("time")
                    .values_list("time", "open", "close", "high", "low", "volume", "deal"))
        buckets = [(ts, *b[:6]) for ts, b in store.buckets("BTCUSDT", res, "-inf", now - size)]
        assert rows == buckets, res


@pytest.mark.django_db(transaction=True)
def test_rebuild_from_an_empty_store_and_consumer_skips_rebuilt(md, store, topic, kafka_broker, run_consumer):
    """Market data can always be rebuilt from deal_history: an empty store rebuilt, then the
    consumer reading the same deals from the topic counts none of them twice."""
    demo_config_seed()
    events = random_stream(1200, seed=43, span=2 * 86400)
    DealHistory.objects.bulk_create(history_rows(events), batch_size=1000)
    services.rebuild_market("BTCUSDT", events[0].time_us // 10**6, events[-1].time_us // 10**6)
    check_all(store, events, "BTCUSDT", int(time.time()))
    produce(kafka_broker.bootstrap, topic, events)
    c = run_consumer(topic)
    wait_for(lambda: c.consumer.consumed >= 1200, what="topic consumed")
    assert c.consumer.applied == 0
    check_all(store, events, "BTCUSDT", int(time.time()))


@pytest.mark.django_db(transaction=True)
def test_persist_is_idempotent_and_prune_follows_retention(md, store):
    from apps.marketdata.store import Deal

    now = int(time.time())
    old = now - 10 * 86400
    store.apply([Deal(1, old + 0.5, "BTCUSDT", "100", "1", 1), Deal(2, old + 70.5, "BTCUSDT", "101", "2", 2),
                 Deal(3, now - 3600.5, "BTCUSDT", "102", "1", 2)])
    n1 = tasks.persist_klines.apply().get()
    n2 = tasks.persist_klines.apply().get()
    assert n1 >= 6 and n2 <= n1  # the newest of each interval is written again, nothing doubles
    assert Kline.objects.filter(market="BTCUSDT", interval=60).count() == 3
    k = Kline.objects.get(market="BTCUSDT", interval=86400, time=old - old % 86400)
    assert (k.open, k.close, k.volume, k.deal) == (Decimal(100), Decimal(101), Decimal(3), Decimal(302))
    md.MARKETDATA_KEEP_1S = 86400
    dropped = tasks.prune_store.apply().get()
    assert dropped == 2  # the two 1 s buckets older than a day
    assert len(store.buckets("BTCUSDT", "1s", "-inf", "+inf")) == 1
    assert len(store.buckets("BTCUSDT", "1m", "-inf", "+inf")) == 3
    assert tasks.prune_store.apply().get() == 0
