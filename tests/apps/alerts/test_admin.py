"""Alert admin (acknowledge / resolve), the viewer and operator roles, the read-only audit log."""
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from apps.alerts.models import Alert
from apps.console.models import AuditLog
from apps.console.roles import OPERATOR, VIEWER
from apps.console.services import record

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/alerts/alert/"


def staff(username, group=None, superuser=False):
    user = User.objects.create_user(username, password="pw-" + username, is_staff=True, is_superuser=superuser)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def alerts():
    now = timezone.now()
    return [
        Alert.objects.create(source="matcher", fingerprint=f"f{i}", message=f"problem {i}", count=i + 1,
                             first_seen=now - timedelta(minutes=5), last_seen=now)
        for i in range(3)
    ]


def as_user(client, user):
    client.force_login(user)
    return client


def act(client, action, alerts):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [a.pk for a in alerts]})


def test_roles_exist_viewer_only_views_operator_also_changes_alerts_and_acts():
    viewer = Group.objects.get(name=VIEWER).permissions.all()
    assert viewer and all(p.codename.startswith("view_") for p in viewer)
    assert {"view_alert", "view_auditlog", "view_asset", "view_market", "view_user"} <= {p.codename for p in viewer}
    operator = {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=OPERATOR).permissions.all()}
    assert {f"{p.content_type.app_label}.{p.codename}" for p in viewer} <= operator
    assert operator - {p for p in operator if ".view_" in p} == {
        "alerts.change_alert", "console.staff_deposit", "console.staff_withdraw", "console.cancel_order",
        "console.make_snapshot", "console.rebuild_klines"}
    user = staff("op", OPERATOR)
    assert user.has_perm("console.staff_deposit") and user.has_perm("alerts.change_alert")
    assert not staff("vi", VIEWER).has_perm("console.staff_deposit")


def test_operator_acknowledges_then_resolves_with_who_and_when_and_an_audit_row(client, alerts):
    op = staff("op", OPERATOR)
    as_user(client, op)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert b"Acknowledge selected alerts" in page.content and b"open: 3" in page.content
    assert act(client, "acknowledge", alerts[:2]).status_code == 302
    a0 = Alert.objects.get(pk=alerts[0].pk)
    assert a0.status == Alert.Status.ACKNOWLEDGED and a0.acknowledged_by == op and a0.acknowledged_at
    assert Alert.objects.get(pk=alerts[2].pk).status == Alert.Status.OPEN
    act(client, "resolve", alerts)
    for a in Alert.objects.all():
        assert a.status == Alert.Status.RESOLVED and a.resolved_by == op and a.resolved_at
        assert a.acknowledged_by == op
    assert a0.acknowledged_at == Alert.objects.get(pk=a0.pk).acknowledged_at  # kept
    rows = list(AuditLog.objects.order_by("id").values_list("actor_name", "action", "target"))
    assert rows == [("op", "alert.acknowledge", f"alerts.alert {alerts[0].pk}"),
                    ("op", "alert.acknowledge", f"alerts.alert {alerts[1].pk}"),
                    *[("op", "alert.resolve", f"alerts.alert {a.pk}") for a in alerts]]
    act(client, "resolve", alerts)  # again: nothing changes, no audit row
    assert AuditLog.objects.count() == 5
    # filters (with their counts) work
    assert client.get(CHANGELIST + "?status__exact=resolved&source=matcher&level=CRITICAL").status_code == 200


def test_viewer_sees_everything_and_changes_nothing(client, alerts):
    as_user(client, staff("vi", VIEWER))
    assert client.get(CHANGELIST).status_code == 200
    assert b"Acknowledge selected alerts" not in client.get(CHANGELIST).content
    assert client.get(f"{CHANGELIST}{alerts[0].pk}/change/").status_code == 200
    for url in ("/admin/markets/asset/", "/admin/markets/market/", "/admin/console/auditlog/",
                "/admin/auth/user/"):
        assert client.get(url).status_code == 200, url
    assert act(client, "acknowledge", alerts).status_code == 403
    assert act(client, "resolve", alerts).status_code == 403
    assert client.post(f"{CHANGELIST}{alerts[0].pk}/change/", {"status": "resolved"}).status_code == 403
    assert client.post(f"{CHANGELIST}{alerts[0].pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/markets/asset/add/").status_code == 403
    assert client.post("/admin/markets/asset/add/", {"name": "DOGE"}).status_code == 403
    assert client.post("/admin/auth/user/add/", {"username": "x"}).status_code == 403
    assert set(Alert.objects.values_list("status", flat=True)) == {"open"}
    assert AuditLog.objects.count() == 0


def test_alerts_cannot_be_added_in_the_admin(client):
    as_user(client, staff("root", superuser=True))
    assert client.get(CHANGELIST + "add/").status_code == 403


def test_audit_log_is_read_only_in_the_admin_even_for_a_superuser(client):
    root = staff("root", superuser=True)
    row = record(root, "balance.deposit", "user 12", {"asset": "USDT", "amount": "10"}, reason="refund")
    as_user(client, root)
    base = "/admin/console/auditlog/"
    assert client.get(base).status_code == 200
    page = client.get(f"{base}{row.pk}/change/")
    assert page.status_code == 200 and b"refund" in page.content and b"Save" not in page.content
    assert client.get(base + "add/").status_code == 403
    assert client.post(f"{base}{row.pk}/change/", {"reason": "edited"}).status_code == 403
    assert client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(base, {"action": "delete_selected", "_selected_action": [row.pk]}).status_code in (200, 302)
    row.refresh_from_db()
    assert row.reason == "refund" and AuditLog.objects.count() == 1


def test_record_keeps_who_when_what_why():
    user = User.objects.create_user("op")
    row = record(user, "order.cancel", "user 7 order 99", {"market": "BTCUSDT", "amount": __import__("decimal").Decimal("1.5")},
                 reason="stuck order")
    row.refresh_from_db()
    assert (row.actor, row.actor_name, row.action, row.target, row.reason) == (
        user, "op", "order.cancel", "user 7 order 99", "stuck order")
    assert row.details == {"market": "BTCUSDT", "amount": "1.5"} and row.time
    system = record(None, "snapshot.make")
    assert system.actor is None and system.actor_name == "system" and system.details == {}
    with pytest.raises(ValueError):
        record(user, "")
