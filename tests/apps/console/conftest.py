"""A real `python -m matcher` on the test database (committed rows: transactional_db), no
Kafka, the configuration synced every 0.5 s; the Django side's matcher client points at it."""

import pytest
from django.contrib.auth.models import Group, User

from apps.markets.services import demo_config_seed
from apps.trading import client as matcher_client
from apps.wire.errors import RpcError
from tests.backing import until
from tests.matcherproc import MatcherProc, server_database_url


def wait_for(predicate, timeout=30.0, what="condition"):
    """Poll `predicate` until truthy (a generous deadline, no timing asserted)."""
    return until(predicate, timeout, what, ignore=(RpcError, OSError))

@pytest.fixture
def matcher_proc(transactional_db, tmp_path):
    demo_config_seed()
    proc = MatcherProc(server_database_url(), log_path=tmp_path / "matcher.log", MATCHER_CONFIG_SYNC_INTERVAL="0.5")
    sync = matcher_client.SyncMatcherClient(port=proc.port, timeout=10.0)
    try:
        proc.start(timeout=60)
        matcher_client.set_sync_client(sync)
        wait_for(lambda: len(matcher_client.call_sync("market.list", [])) == 3, what="the market configuration")
        yield proc
    finally:
        matcher_client.set_sync_client(None)
        proc.stop(timeout=10)


def staff(username, group=None, superuser=False):
    user = User.objects.create_user(username, password="pw-" + username, is_staff=True, is_superuser=superuser)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user
