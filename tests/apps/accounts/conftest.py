import uuid

import pytest


@pytest.fixture(autouse=True)
def api_cache(settings, redis_url):
    """The `api` cache (replay marks, throttle counters) on the test Redis, under a
    per-test prefix; only those keys are deleted afterwards."""
    import redis

    prefix = f"test:{uuid.uuid4().hex}:api"
    caches = dict(settings.CACHES)
    caches["api"] = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url,
                     "KEY_PREFIX": prefix}
    settings.CACHES = caches
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + ":*"))
    if keys:
        client.delete(*keys)
    client.close()
