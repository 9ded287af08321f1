"""Console pages and actions that need no running matcher: the status page with the matcher
down, and the kline rebuild action (the Celery queue replaced by a recording stub: no
worker runs in the tests)."""
from types import SimpleNamespace

import pytest

from apps.marketdata import tasks
from apps.console.models import AuditLog
from apps.console.roles import OPERATOR, VIEWER
from apps.markets.services import demo_config_seed
from apps.trading import client as matcher_client
from tests.backing import free_port

from .conftest import staff

pytestmark = pytest.mark.django_db
STATUS = "/admin/console/matcherstatus/"


@pytest.fixture
def matcher_down():
    matcher_client.set_sync_client(matcher_client.SyncMatcherClient(port=free_port(), timeout=1.0))
    yield
    matcher_client.set_sync_client(None)


def test_status_page_renders_with_the_matcher_down(client, matcher_down):
    client.force_login(staff("vi", VIEWER))
    page = client.get(STATUS)
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="matcher-up">DOWN' in text and "Operator console" in text
    assert "actions need the operator role" in text
    assert f'href="{STATUS}"' in client.get("/admin/").content.decode()  # linked from the admin index


def test_rebuild_klines_queues_the_task_once_audited_and_checks_its_input(client, monkeypatch):
    demo_config_seed()
    queued = []
    monkeypatch.setattr(tasks.rebuild_market, "delay", lambda *a: queued.append(a) or SimpleNamespace(id="task-1"))
    op = staff("op", OPERATOR)
    client.force_login(op)
    url = f"{STATUS}rebuild-klines/"

    bad = client.post(url, {"market": "BTCUSDT", "start": "2026-01-02 00:00", "end": "2026-01-01 00:00",
                            "reason": "r"})
    assert bad.status_code == 400 and queued == [] and AuditLog.objects.count() == 0
    ok = client.post(url, {"market": "BTCUSDT", "start": "2026-01-01 00:00", "end": "2026-01-02 00:00",
                           "reason": "late deals imported"})
    assert ok.status_code == 302
    assert queued == [("BTCUSDT", 1767225600, 1767312000)]
    (row,) = AuditLog.objects.all()
    assert (row.actor, row.action, row.target, row.reason) == (op, "marketdata.rebuild", "market BTCUSDT",
                                                                "late deals imported")
    assert row.details == {"market": "BTCUSDT", "start": 1767225600, "end": 1767312000, "task_id": "task-1"}
