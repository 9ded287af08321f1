"""The admin and the matcher cannot disagree (issue 17 item 7): the admin validates with
the matcher core's own rules (matcher.core.config.asset_check / market_check) against what
the matcher knows; what the matcher knows cannot be deleted (delist instead); a
configuration the matcher refuses is shown in the admin and logged once."""
import asyncio
import logging
import time

import pytest
from django.db.models import ProtectedError

from apps.markets.models import Asset, Market, MatcherConfigStatus
from apps.markets.services import demo_config_seed
from matcher.config_sync import sync_config
from matcher.core import Engine

pytestmark = pytest.mark.django_db(transaction=True)  # the sync reads the configuration from its own thread


class InProcessMatcher:
    """The matcher core in process with the service's call interface (what sync_config uses)."""

    def __init__(self):
        self.engine = Engine()
        self.t = int(time.time() * 1_000_000)

    async def call(self, method, params):
        self.t += 1
        out = self.engine.execute(method, params, self.t)
        if out.error is not None:
            code, message, data = out.error
            return {"error": {"code": code, "message": message, "data": data}, "result": None}
        return {"error": None, "result": out.result}


@pytest.fixture
def matcher():
    demo_config_seed()
    m = InProcessMatcher()
    asyncio.run(sync_config(m))
    assert set(m.engine.markets) == {"BTCUSDT", "ETHUSDT", "ETHBTC"}
    return m


def _add_form(**overrides):
    form = {"name": "BTCUSDT", "stock": Asset.objects.get(name="BTC").pk, "money": Asset.objects.get(name="USDT").pk,
            "stock_prec": 8, "money_prec": 2, "fee_prec": 4, "min_amount": "0.001", "listed": "on"}
    form.update(overrides)
    return form


def test_min_amount_the_matcher_refuses_is_refused_by_the_form_with_its_reason(admin_client):
    demo_config_seed()
    r = admin_client.post("/admin/markets/market/add/", _add_form(name="BTCETH", money=Asset.objects.get(name="ETH").pk,
                                                                   min_amount="1000000000000000"))
    assert r.status_code == 200
    assert "must be less than 10^15" in r.content.decode()
    assert not Market.objects.filter(name="BTCETH").exists()


def test_a_known_market_or_asset_cannot_be_deleted(matcher, admin_client):
    market = Market.objects.get(name="BTCUSDT")
    r = admin_client.post(f"/admin/markets/market/{market.pk}/delete/", {"post": "yes"})
    assert r.status_code in (200, 403)
    assert Market.objects.filter(name="BTCUSDT").exists()
    r = admin_client.post("/admin/markets/market/", {"action": "delete_selected", "_selected_action": [market.pk],
                                                      "post": "yes"})
    assert Market.objects.filter(name="BTCUSDT").exists()
    with pytest.raises(ProtectedError, match="delist"):
        market.delete()
    with pytest.raises(ProtectedError):
        Market.objects.filter(name="BTCUSDT").delete()
    # an asset the matcher knows, even with no market left in the database
    from apps.markets.services import asset_create
    asset_create(name="DOGE", prec_save=20, prec_show=8)
    asyncio.run(sync_config(matcher))
    with pytest.raises(ProtectedError):
        Asset.objects.get(name="DOGE").delete()
    # what the matcher does not know yet can go
    asset_create(name="NEW", prec_save=20, prec_show=8).delete()


def test_deleted_and_re_added_with_other_precisions_is_refused(matcher, admin_client):
    # the row vanished from the database by other means (e.g. before this rule existed)
    Market.objects.filter(name="BTCUSDT")._raw_delete("default")
    r = admin_client.post("/admin/markets/market/add/", _add_form(stock_prec=6, money_prec=4))
    assert r.status_code == 200
    assert "precisions are fixed once the market exists" in r.content.decode()
    assert not Market.objects.filter(name="BTCUSDT").exists()
    # re-added as the matcher knows it: accepted
    r = admin_client.post("/admin/markets/market/add/", _add_form())
    assert r.status_code == 302, r.content.decode()[:2000]


def test_precision_change_of_a_known_market_is_refused(matcher, admin_client):
    market = Market.objects.get(name="BTCUSDT")
    r = admin_client.post(f"/admin/markets/market/{market.pk}/change/", {
        "stock_prec": 6, "money_prec": 4, "fee_prec": 2, "min_amount": "0.001", "listed": "on"})
    assert r.status_code == 302
    market.refresh_from_db()
    assert (market.stock_prec, market.money_prec, market.fee_prec) == (8, 2, 4)  # read-only in the form
    for field, value in [("stock_prec", 6), ("money_prec", 4), ("fee_prec", 2)]:
        fresh = Market.objects.get(pk=market.pk)
        setattr(fresh, field, value)
        with pytest.raises(Exception) as exc:
            fresh.full_clean()
        assert exc.value.message_dict[field] == ["precisions are fixed once the market exists (the matcher's rule)"]


def test_delisting_works_and_stops_orders(matcher, admin_client):
    market = Market.objects.get(name="BTCUSDT")
    r = admin_client.post(f"/admin/markets/market/{market.pk}/change/", {"min_amount": "0.001"})  # listed off
    assert r.status_code == 302
    assert Market.objects.get(name="BTCUSDT").listed is False
    asyncio.run(sync_config(matcher))
    out = matcher.engine.execute("order.put_limit", [1, "BTCUSDT", 1, "1", "100", "0.002", "0.001", "web"],
                                 matcher.t + 1)
    assert out.error == (1, "invalid argument", {"param": "market", "reason": "market not listed"})
    assert MatcherConfigStatus.current().refusals == []


def test_a_refused_configuration_is_shown_in_the_admin_and_logged_once(matcher, admin_client, caplog):
    # a row the matcher refuses, written around the validation (as before this rule existed)
    Market.objects.filter(name="ETHBTC").update(money_prec=3)
    with caplog.at_level(logging.ERROR, logger="matcher.config"):
        for _ in range(3):
            asyncio.run(sync_config(matcher))
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1
    status = MatcherConfigStatus.current()
    assert [(r["method"], r["params"][0], r["error"]["data"]) for r in status.refusals] == [
        ("market.put", "ETHBTC", {"param": "stock_prec", "reason": "precisions are fixed once the market exists"})]
    page = admin_client.get("/admin/markets/market/").content.decode()
    assert "The matcher refuses market.put" in page and "precisions are fixed once the market exists" in page
    # fixed: the refusal goes away
    Market.objects.filter(name="ETHBTC").update(money_prec=6)
    asyncio.run(sync_config(matcher))
    assert MatcherConfigStatus.current().refusals == []
    assert "The matcher refuses" not in admin_client.get("/admin/markets/market/").content.decode()
