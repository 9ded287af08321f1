import pytest


@pytest.fixture
def alert_key(redis_client, settings):
    """A private Redis list for the alerts of one test; the worker reads it."""
    key = redis_client.test_prefix + "alerts"
    settings.ALERT_REDIS_URL = redis_client.connection_pool.connection_kwargs and _url(redis_client)
    settings.ALERT_REDIS_KEY = key
    settings.ALERT_EMAILS = ["ops@example.com"]
    settings.ALERT_GROUP_WINDOW_S = 300
    return key


def _url(client) -> str:
    kw = client.connection_pool.connection_kwargs
    return f"redis://{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"
