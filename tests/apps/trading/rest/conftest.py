import pytest
from django.contrib.auth import get_user_model

from apps.accounts.services import api_key_create
from apps.markets.services import demo_config_seed
from apps.trading import client as matcher_client
from tests.apps.accounts.conftest import api_cache  # noqa: F401  (autouse)

from .helpers import EngineClient, SignedClient


@pytest.fixture
def markets(db):
    demo_config_seed()


@pytest.fixture
def engine(markets):
    """The matcher core in process, installed as the sync client (unit tests only)."""
    fake = EngineClient()
    matcher_client.set_sync_client(fake)
    yield fake
    matcher_client.set_sync_client(None)


def _user(name, **extra):
    return get_user_model().objects.create_user(username=name, **extra)  # no password: fast


@pytest.fixture
def alice(db):
    return _user("alice")


@pytest.fixture
def bob(db):
    return _user("bob")


@pytest.fixture
def staff(db):
    return _user("staff", is_staff=True)


def signed_client(user, scopes=("read", "trade")):
    created = api_key_create(user=user, scopes=scopes)
    c = SignedClient(created.api_key.access_id, created.secret)
    c.api_key = created.api_key
    c.user = user
    return c


@pytest.fixture
def alice_api(alice):
    return signed_client(alice)


@pytest.fixture
def bob_api(bob):
    return signed_client(bob)


@pytest.fixture
def staff_api(staff):
    return signed_client(staff)


def fund(engine, user, asset, amount, business_id=None):
    fund.seq = getattr(fund, "seq", 0) + 1
    engine.call("balance.update", [user.pk, asset, "deposit", business_id or fund.seq, amount, {}])
