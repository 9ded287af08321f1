"""Redis, caches, Kafka, Celery (the channel layer: realtime.py)."""
from .base import env

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")  # channel layer, api cache, Celery
KAFKA_BOOTSTRAP = env.str("KAFKA_BOOTSTRAP", default="127.0.0.1:9092")  # the matcher publishes events here

# default: per-process memory; api: Redis shared by the web workers (apps.accounts keeps
# used API-key signatures and DRF its throttle counters there; see API_REPLAY_CACHE).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "api": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.str("API_CACHE_URL", default=REDIS_URL),
        "KEY_PREFIX": "api",
    },
}

# The channel layer (websockets) is in realtime.py.

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)  # Celery broker
CELERY_TIMEZONE = "UTC"  # Celery beat schedules in UTC
# Celery workers keep LOGGING's handlers, the alert handler among them (by default Celery replaces the root logger's)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
