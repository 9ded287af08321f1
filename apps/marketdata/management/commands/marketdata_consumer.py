"""`manage.py marketdata_consumer`: the `deals` topic → the market-data store (Redis)."""
import gc
import logging

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.marketdata.consumer import DealConsumer, history_repair, install_signal_handlers
from apps.marketdata.selectors import get_store

logger = logging.getLogger("apps.marketdata.consumer")


class Command(BaseCommand):
    help = "Consume the `deals` topic into the market-data store (klines, status, last price, recent deals)."

    def handle(self, *args, **options):
        # a batch allocates many short-lived objects and no cycles: collect less often
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        consumer = DealConsumer(
            get_store(), settings.KAFKA_BOOTSTRAP, settings.MARKETDATA_DEALS_TOPIC,
            batch_size=settings.MARKETDATA_BATCH, check_interval=settings.MARKETDATA_LOG_CHECK_INTERVAL,
            repair=history_repair,
        )
        install_signal_handlers(consumer)
        logger.info("market data consumer: %s topic %s → %s (prefix %s)", settings.KAFKA_BOOTSTRAP,
                    settings.MARKETDATA_DEALS_TOPIC, settings.MARKETDATA_REDIS_URL, settings.MARKETDATA_KEY_PREFIX)
        consumer.run()
        logger.info("market data consumer stopped: %s consumed, %s applied", consumer.consumed, consumer.applied)
