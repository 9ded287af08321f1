"""Exactly-once effect across crashes, and repair when the broker lost its log."""
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from apps.history.models import DealHistory
from apps.markets.services import demo_config_seed
from tests.matcherproc import server_database_url
from tests.services import KafkaBroker

from .conftest import applied_ids, wait_for
from .streams import create_topic, produce, random_stream
from .test_consumer import check_all

ROOT = Path(__file__).resolve().parents[3]


class ConsumerProc:
    """`manage.py marketdata_consumer` as a child process (so it can be SIGKILLed)."""

    def __init__(self, md, bootstrap, log_path, database_url, **env):
        self.env = dict(os.environ, DATABASE_URL=database_url, KAFKA_BOOTSTRAP=bootstrap,
                        MARKETDATA_REDIS_URL=md.MARKETDATA_REDIS_URL, MARKETDATA_KEY_PREFIX=md.MARKETDATA_KEY_PREFIX,
                        MARKETDATA_DEALS_TOPIC=md.MARKETDATA_DEALS_TOPIC, LOG_FORMAT="console", PYTHONUNBUFFERED="1",
                        **{k: str(v) for k, v in env.items()})
        self.log_path = log_path
        self.proc = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "manage.py", "marketdata_consumer"], cwd=ROOT, env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.mark.django_db(transaction=True)
def test_sigkill_mid_stream_and_restart(md, store, topic, kafka_broker, tmp_path):
    events = random_stream(30_000, seed=21, span=86400)
    produce(kafka_broker.bootstrap, topic, events[:20_000])
    proc = ConsumerProc(md, kafka_broker.bootstrap, tmp_path / "consumer.log", server_database_url(),
                        MARKETDATA_BATCH=100)
    try:
        for _round in range(3):
            proc.start()
            wait_for(lambda: applied_ids(store, "BTCUSDT"), what="some deals applied")
            proc.kill9()
        produce(kafka_broker.bootstrap, topic, events[20_000:])  # produced while it is down
        proc.start()
        wait_for(lambda: len(applied_ids(store, "BTCUSDT")) == 30_000, timeout=120, what="all applied")
        check_all(store, events, "BTCUSDT", int(time.time()))
    finally:
        proc.stop()


def history_rows(events):
    return [DealHistory(id=e.deal_id * 2 + (1 if e.taker_side == 2 else 0), time=e.time_us / 1e6, user_id=1,
                        market=e.market, deal_id=e.deal_id, order_id=e.deal_id * 10, deal_order_id=e.deal_id * 10 + 1,
                        side=e.taker_side, role=2, price=e.price, amount=e.amount, deal=e.price * e.amount,
                        fee=Decimal(0), deal_fee=Decimal(0)) for e in events]


@pytest.mark.django_db(transaction=True)
def test_broker_emptied_under_the_consumer(md, store, run_consumer):
    """A private broker loses its log while the consumer runs (the embedded broker keeps
    topics in memory); deals acknowledged to the old broker exist only in the history."""
    demo_config_seed()
    events = random_stream(3000, seed=31, span=6 * 3600)
    broker = KafkaBroker().start()
    try:
        create_topic(broker.bootstrap, md.MARKETDATA_DEALS_TOPIC)
        DealHistory.objects.bulk_create(history_rows(events[:2000]), batch_size=1000)
        produce(broker.bootstrap, md.MARKETDATA_DEALS_TOPIC, events[:2000])
        c = run_consumer(md.MARKETDATA_DEALS_TOPIC, bootstrap=broker.bootstrap, check_interval=1.0)
        wait_for(lambda: len(applied_ids(store, "BTCUSDT")) == 2000, what="first part applied")
        broker.stop()
        # the matcher went on: 2000..2500 were delivered to the old broker just before it died
        # (in the history only); after the restart it publishes again from 2300
        DealHistory.objects.bulk_create(history_rows(events[2000:2500]), batch_size=1000)
        broker = KafkaBroker(port=broker.port).start()
        create_topic(broker.bootstrap, md.MARKETDATA_DEALS_TOPIC)
        DealHistory.objects.bulk_create(history_rows(events[2500:]), batch_size=1000)
        produce(broker.bootstrap, md.MARKETDATA_DEALS_TOPIC, events[2300:])
        wait_for(lambda: len(applied_ids(store, "BTCUSDT")) == 3000, timeout=120, what="repaired")
        wait_for(lambda: c.consumer.consumed >= 2000 + 700, timeout=120, what="new log consumed")
        assert c.consumer.repairs >= 1
        check_all(store, events, "BTCUSDT", int(time.time()))
    finally:
        broker.stop()
