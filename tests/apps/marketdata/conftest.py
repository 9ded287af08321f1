import threading
import time
import uuid

import pytest

from apps.marketdata.consumer import DealConsumer, history_repair
from apps.marketdata.selectors import get_store

from .streams import create_topic


@pytest.fixture
def md(settings, redis_client, redis_url):
    """Market-data settings of this test: its own key prefix (deleted afterwards) and topic."""
    settings.MARKETDATA_REDIS_URL = redis_url
    settings.MARKETDATA_KEY_PREFIX = redis_client.test_prefix + "md:"
    settings.MARKETDATA_DEALS_TOPIC = f"md-{uuid.uuid4().hex[:12]}.deals"
    return settings


@pytest.fixture
def store(md):
    s = get_store()
    s.drop_cache()
    return s


@pytest.fixture
def topic(md, kafka_broker):
    create_topic(kafka_broker.bootstrap, md.MARKETDATA_DEALS_TOPIC)
    return md.MARKETDATA_DEALS_TOPIC


class ConsumerThread:
    def __init__(self, store, bootstrap, topic, **kw):
        from apps.marketdata.store import Store

        # a store of its own (own cache), as the consumer process has
        own = Store(store.r, store.prefix, deals_keep=store.deals_keep, dedupe_window=store.dedupe_window)
        self.consumer = DealConsumer(own, bootstrap, topic, **kw)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error = None

    def _run(self):
        try:
            self.consumer.run()
        except BaseException as e:  # noqa: BLE001
            self.error = e
            raise

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.consumer.stopping.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


@pytest.fixture
def run_consumer(store, kafka_broker):
    started = []

    def start(topic, bootstrap=None, **kw):
        kw.setdefault("repair", history_repair)
        c = ConsumerThread(store, bootstrap or kafka_broker.bootstrap, topic, **kw).start()
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop()


def wait_for(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def applied_ids(store, market):
    return {int(x) for x in store.r.zrange(store.key(market, "ids"), 0, -1)}
