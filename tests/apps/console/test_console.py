"""The operator console in the admin against the real matcher: roles (a viewer changes
nothing, 403), staff deposits applied once per form, staff cancels, the status page, and a
market added in the admin becoming tradable over JSON-RPC without a restart."""
import asyncio
import os
import re
import signal
from decimal import Decimal
from pathlib import Path

from django.test import Client

from apps.console.models import AuditLog
from apps.console.roles import OPERATOR, VIEWER
from apps.console.services import business_id_of
from apps.history import selectors as history
from apps.markets.models import Asset, Market
from apps.trading import client as matcher_client
from apps.trading import services as trading
from apps.trading.matcher import call

from .conftest import staff, wait_for

STATUS = "/admin/console/matcherstatus/"


def account_url(user):
    return f"/admin/console/engineuser/{user.pk}/change/"


def logged_in(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def balance(user, asset) -> Decimal:
    b = call("balance.query", [user.pk, asset])[asset]
    return Decimal(b["available"])


def form_token(client, user) -> str:
    page = client.get(account_url(user))
    assert page.status_code == 200
    return re.search(r'name="token" value="([0-9a-f]{32})"', page.content.decode()).group(1)


def pending_ids(user, market="BTCUSDT"):
    return [o["id"] for o in call("order.pending", [user.pk, market, 0, 100])["records"]]


def funded_user_with_an_order(django_user_model):
    alice = django_user_model.objects.create_user(username="alice")
    staffer = django_user_model.objects.create_user(username="funder", is_staff=True)
    trading.balance_adjust(staff_user=staffer, user_id=alice.pk, asset=Asset.objects.get(name="USDT"),
                           amount=Decimal("1000"), business_id=1, withdraw=False)
    order = trading.order_place(user=alice, market=Market.objects.get(name="BTCUSDT"), side="buy", type="limit",
                                amount=Decimal("1"), price=Decimal("100"))
    return alice, order


def test_viewer_sees_everything_and_every_action_is_403_with_nothing_changed(matcher_proc, django_user_model):
    alice, order = funded_user_with_an_order(django_user_model)
    viewer = logged_in(staff("vi", VIEWER))

    page = viewer.get(account_url(alice))
    assert page.status_code == 200
    text = page.content.decode()
    assert f'id="engine-user-id">{alice.pk}<' in text and str(order["id"]) in text  # balances, pending order
    assert 'id="balance-form"' not in text and "Cancel order" not in text
    assert viewer.get(f"/admin/console/engineuser/?q={alice.username}").status_code == 200
    assert viewer.get(STATUS).status_code == 200

    token = "ab" * 16
    for kind in ("deposit", "withdraw"):
        r = viewer.post(f"/admin/console/engineuser/{alice.pk}/balance/",
                        {"kind": kind, "asset": "USDT", "amount": "5", "reason": "r", "token": token})
        assert r.status_code == 403
    r = viewer.post(f"/admin/console/engineuser/{alice.pk}/cancel/",
                    {"market": "BTCUSDT", "order_id": order["id"], "reason": "r"})
    assert r.status_code == 403
    assert viewer.post(f"{STATUS}snapshot/", {"reason": "r"}).status_code == 403
    assert viewer.post(f"{STATUS}rebuild-klines/", {"market": "BTCUSDT", "start": "2026-01-01 00:00",
                                                     "end": "2026-01-02 00:00", "reason": "r"}).status_code == 403
    assert viewer.post(account_url(alice), {}).status_code == 403
    assert viewer.get(f"/admin/console/engineuser/{alice.pk}/balance/").status_code == 403

    assert balance(alice, "USDT") == Decimal("900")  # 1000 - 100 frozen by the order
    assert pending_ids(alice) == [order["id"]]
    assert AuditLog.objects.count() == 0


def test_operator_deposit_submitted_twice_is_one_change_and_one_audit_row(matcher_proc, django_user_model):
    bob = django_user_model.objects.create_user(username="bob")
    op_user = staff("op", OPERATOR)
    op = logged_in(op_user)
    url = f"/admin/console/engineuser/{bob.pk}/balance/"

    token = form_token(op, bob)
    # no reason: refused, nothing applied
    r = op.post(url, {"kind": "deposit", "asset": "BTC", "amount": "1.5", "reason": "", "token": token})
    assert r.status_code == 400 and AuditLog.objects.count() == 0
    form = {"kind": "deposit", "asset": "BTC", "amount": "1.5", "reason": "ticket 42: wire received", "token": token}
    first = op.post(url, form)
    second = op.post(url, form)
    assert first.status_code == second.status_code == 302

    assert balance(bob, "BTC") == Decimal("1.5")
    (row,) = AuditLog.objects.all()
    assert (row.actor, row.action, row.target, row.reason) == (op_user, "balance.deposit", f"user {bob.pk}",
                                                                "ticket 42: wire received")
    assert row.details["amount"] == "1.5" and row.details["business"] == "admin" and row.once_key == token
    # the history holds exactly one balance change (the follower writes it)
    wait_for(lambda: history.balance_history_list(user_id=bob.pk, asset="BTC", business="", start_time=0, end_time=0,
                                                   offset=0, limit=10), what="the history row")
    rows = history.balance_history_list(user_id=bob.pk, asset="BTC", business="", start_time=0, end_time=0,
                                        offset=0, limit=10)
    assert len(rows) == 1 and rows[0]["business"] == "admin" and Decimal(rows[0]["change"]) == Decimal("1.5")

    # a withdrawal (new form, new token) is a second action; too much → refused, no row
    token2 = form_token(op, bob)
    too_much = op.post(url, {"kind": "withdraw", "asset": "BTC", "amount": "2", "reason": "r", "token": token2})
    assert too_much.status_code == 409 and AuditLog.objects.count() == 1
    ok = op.post(url, {"kind": "withdraw", "asset": "BTC", "amount": "0.5", "reason": "payout", "token": token2})
    assert ok.status_code == 302
    assert balance(bob, "BTC") == Decimal("1")
    assert list(AuditLog.objects.values_list("action", flat=True)) == ["balance.withdraw", "balance.deposit"]

    # applied by a submission whose audit row was lost (a crash in between): the resubmitted
    # form applies nothing more and writes the one missing row
    token3 = form_token(op, bob)
    trading.balance_adjust(staff_user=op_user, user_id=bob.pk, asset=Asset.objects.get(name="BTC"),
                           amount=Decimal("2"), business_id=business_id_of(token3), withdraw=False, business="admin")
    r = op.post(url, {"kind": "deposit", "asset": "BTC", "amount": "2", "reason": "again", "token": token3}, follow=True)
    assert "already submitted" in r.content.decode()
    assert balance(bob, "BTC") == Decimal("3")
    assert AuditLog.objects.filter(once_key=token3).count() == 1 and AuditLog.objects.count() == 3


def test_operator_cancels_a_pending_order_audited(matcher_proc, django_user_model):
    alice, order = funded_user_with_an_order(django_user_model)
    op_user = staff("op", OPERATOR)
    op = logged_in(op_user)
    url = f"/admin/console/engineuser/{alice.pk}/cancel/"

    assert "Cancel order" in op.get(account_url(alice)).content.decode()
    assert op.post(url, {"market": "BTCUSDT", "order_id": order["id"], "reason": ""}).status_code == 302
    assert pending_ids(alice) == [order["id"]] and AuditLog.objects.count() == 0  # no reason: nothing

    r = op.post(url, {"market": "BTCUSDT", "order_id": order["id"], "reason": "user asked by phone"})
    assert r.status_code == 302
    assert pending_ids(alice) == []
    assert balance(alice, "USDT") == Decimal("1000")
    (row,) = AuditLog.objects.all()
    assert (row.actor, row.action, row.target, row.reason) == (op_user, "order.cancel", f"order {order['id']}",
                                                                "user asked by phone")
    assert row.details["user_id"] == alice.pk and row.details["market"] == "BTCUSDT"
    # again: the order is gone → an error message, no second row
    again = op.post(url, {"market": "BTCUSDT", "order_id": order["id"], "reason": "again"}, follow=True)
    assert "order not pending" in again.content.decode() and AuditLog.objects.count() == 1


def _history_child_pid(matcher_pid: int) -> int:
    for task in Path(f"/proc/{matcher_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"matcher.sinks.history_child" in cmd:
                return int(child)
    return 0


def test_status_page_shows_a_stopped_history_follower_as_lagging_and_operator_makes_a_snapshot(
        matcher_proc, django_user_model):
    alice = django_user_model.objects.create_user(username="alice")
    op_user = staff("op", OPERATOR)
    op = logged_in(op_user)
    usdt = Asset.objects.get(name="USDT")

    def history_cell():
        text = op.get(STATUS).content.decode()
        return re.search(r'<td id="history">(.*?)</td>', text, re.S).group(1)

    trading.balance_adjust(staff_user=op_user, user_id=alice.pk, asset=usdt, amount=Decimal("1"), business_id=1,
                           withdraw=False)
    caught_up = "ok:\n    backlog 0 operations"
    wait_for(lambda: caught_up in history_cell(), what="history caught up")
    page = op.get(STATUS).content.decode()
    assert 'id="matcher-up">up<' in page and "USDT" in page and "BTCUSDT" in page  # summaries
    assert 'href="/admin/alerts/alert/?status__exact=open"' in page
    md = re.search(r'<td id="marketdata">(.*?)</td>', page, re.S).group(1)
    assert "store unavailable" not in md and ("no position yet" in md or "next offset" in md)

    pid = wait_for(lambda: _history_child_pid(matcher_proc.proc.pid), what="the history follower process")
    os.kill(pid, signal.SIGSTOP)
    try:
        trading.balance_adjust(staff_user=op_user, user_id=alice.pk, asset=usdt, amount=Decimal("1"), business_id=2,
                               withdraw=False)
        seen = []
        try:
            cell = wait_for(lambda: (c := history_cell()) and (seen.append(c) or "lagging" in c) and c,
                            what="lagging on the status page")
        except AssertionError:
            raise AssertionError(f"pid {pid}: {seen[-1:]} {call('matcher.status', [])}") from None
        assert "backlog 1 operations" in cell
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: caught_up in history_cell(), what="history caught up again")

    # make snapshot: the matcher's snapshot.make, one audit row, its age on the page
    assert 'id="snapshot">none<' in op.get(STATUS).content.decode()
    r = op.post(f"{STATUS}snapshot/", {"reason": "before the upgrade"})
    assert r.status_code == 302
    (row,) = AuditLog.objects.filter(action="matcher.snapshot")
    assert row.actor == op_user and row.reason == "before the upgrade" and row.details["snapshot"]["id"]
    assert re.search(r'id="snapshot">\d+ at operation \d+, [\d.]+ s old<', op.get(STATUS).content.decode())


def test_a_market_added_in_the_admin_is_tradable_over_jsonrpc_without_a_restart(matcher_proc, django_user_model):
    from apps.trading.client import MatcherClient
    from apps.trading.jsonrpc import JsonRpcApp
    from tests.apps.trading.util import asgi_request

    admin = logged_in(staff("root", superuser=True))
    r = admin.post("/admin/markets/asset/add/", {"name": "LTC", "prec_save": 20, "prec_show": 8})
    assert r.status_code == 302, r.content.decode()[:2000]
    ltc, usdt = Asset.objects.get(name="LTC"), Asset.objects.get(name="USDT")
    r = admin.post("/admin/markets/market/add/", {
        "name": "LTCUSDT", "stock": ltc.pk, "money": usdt.pk, "stock_prec": 8, "money_prec": 2, "fee_prec": 4,
        "min_amount": "0.01", "listed": "on"})
    assert r.status_code == 302, r.content.decode()[:2000]

    async def go():
        client = MatcherClient("127.0.0.1", matcher_proc.port, timeout=10.0)
        app = JsonRpcApp(client=client, marketdata_methods={}, backend_timeout=10.0)

        async def rpc(method, *params):
            resp = await asgi_request(app, {"method": method, "params": list(params), "id": 1})
            assert resp.status == 200
            return resp.json()

        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while True:  # the next configuration sync
                names = [m["name"] for m in (await rpc("market.list"))["result"] or []]
                if "LTCUSDT" in names:
                    break
                assert loop.time() < deadline, names
                await asyncio.sleep(0.1)
            assert (await rpc("balance.update", 7001, "LTC", "deposit", 1, "3", {}))["error"] is None
            placed = await rpc("order.put_limit", 7001, "LTCUSDT", 1, "2", "80", "0.001", "0.001", "test")
            assert placed["error"] is None, placed
            return placed["result"], await rpc("order.pending", 7001, "LTCUSDT", 0, 10)
        finally:
            app.close()
            await client.close()

    order, pending = asyncio.run(go())
    assert order["market"] == "LTCUSDT" and Decimal(order["left"]) == 2
    assert [o["id"] for o in pending["result"]["records"]] == [order["id"]]
    assert matcher_client.call_sync("balance.query", [7001, "LTC"])["LTC"]["freeze"] == "2"
