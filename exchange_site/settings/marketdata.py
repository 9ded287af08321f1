"""Market data (apps.marketdata; docs/marketdata.md)."""
from .base import INSTALLED_APPS, env
from .matcher import MATCHER_KAFKA_TOPIC_PREFIX
from .stores import REDIS_URL

MARKETDATA_REDIS_URL = env.str("MARKETDATA_REDIS_URL", default=REDIS_URL)  # the store (klines, status, deals)
MARKETDATA_KEY_PREFIX = env.str("MARKETDATA_KEY_PREFIX", default="md:")  # every store key starts with it
MARKETDATA_DEALS_TOPIC = env.str("MARKETDATA_DEALS_TOPIC", default=MATCHER_KAFKA_TOPIC_PREFIX + "deals")
MARKETDATA_BATCH = env.int("MARKETDATA_BATCH", default=20_000)  # messages applied per Redis transaction at most
MARKETDATA_DEALS_KEEP = env.int("MARKETDATA_DEALS_KEEP", default=10_000)  # recent deals per market (market.deals)
MARKETDATA_DEDUPE_WINDOW = env.int("MARKETDATA_DEDUPE_WINDOW", default=100_000)  # deal ids remembered per market
MARKETDATA_LOG_CHECK_INTERVAL = env.float("MARKETDATA_LOG_CHECK_INTERVAL", default=10.0)  # s between broker-log checks
# retention of the base klines in Redis, seconds (marketprice.md §5); day buckets are kept forever
MARKETDATA_KEEP_1S = env.int("MARKETDATA_KEEP_1S", default=7 * 86400)
MARKETDATA_KEEP_1M = env.int("MARKETDATA_KEEP_1M", default=365 * 86400)
MARKETDATA_KEEP_1H = env.int("MARKETDATA_KEEP_1H", default=10 * 365 * 86400)
MARKETDATA_KEEP_1D = None
MARKETDATA_PERSIST_INTERVAL = env.float("MARKETDATA_PERSIST_INTERVAL", default=60.0)  # s: closed klines → Kline table
MARKETDATA_PRUNE_INTERVAL = env.float("MARKETDATA_PRUNE_INTERVAL", default=3600.0)  # s: Redis pruned per retention
INSTALLED_APPS += ["apps.marketdata"]
CELERY_BEAT_SCHEDULE = {
    "marketdata-persist-klines": {"task": "marketdata.persist_klines", "schedule": MARKETDATA_PERSIST_INTERVAL},
    "marketdata-prune-store": {"task": "marketdata.prune_store", "schedule": MARKETDATA_PRUNE_INTERVAL},
}
