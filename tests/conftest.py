import os
import uuid

import pytest

from tests import backing


def pytest_configure(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.mysql":
        # The suite asserts behaviour against MySQL/MariaDB (the matcher child process shares
        # the test database, history uses index hints): on any other database it must fail,
        # not skip its way to green.
        raise pytest.UsageError(
            f"the tests need MySQL/MariaDB (DATABASE_URL=mysql://...), not {db['ENGINE']}; run `make test`")
    backing.ensure_mysql(f"mysql://{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}")


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """A test database of our own, so concurrent runs on one server don't collide."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.mysql":
        db.setdefault("TEST", {})["NAME"] = f"test_{db['NAME']}_{os.getpid()}"


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
    backing.ensure_redis(url)
    return url


@pytest.fixture
def redis_client(redis_url):
    """A Redis client whose keys live under a per-test prefix; only those are deleted."""
    import redis

    client = redis.Redis.from_url(redis_url)
    prefix = f"test:{uuid.uuid4().hex}:"
    client.test_prefix = prefix
    yield client
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="session")
def kafka_broker():
    broker = backing.KafkaBroker().start()
    yield broker
    broker.stop()
