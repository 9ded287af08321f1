import pytest
from django.core.management import call_command

from apps.markets.models import Asset, Market

pytestmark = pytest.mark.django_db


def test_seed_markets_creates_demo_configuration_in_order():
    call_command("seed_markets")
    assert [(a.name, a.prec_save, a.prec_show) for a in Asset.objects.order_by("id")] == [
        ("BTC", 20, 8), ("ETH", 20, 8), ("USDT", 20, 8),
    ]
    assert [
        (m.name, m.stock.name, m.money.name, m.stock_prec, m.money_prec, m.fee_prec, str(m.min_amount.normalize()))
        for m in Market.objects.order_by("id")
    ] == [
        ("BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001"),
        ("ETHUSDT", "ETH", "USDT", 8, 2, 4, "0.01"),
        ("ETHBTC", "ETH", "BTC", 8, 6, 4, "0.01"),
    ]


def test_seed_markets_twice_leaves_existing_rows_as_they_are():
    call_command("seed_markets")
    Market.objects.filter(name="ETHBTC").update(min_amount="0.5", listed=False)
    ids = list(Market.objects.values_list("id", flat=True))
    call_command("seed_markets")
    assert list(Market.objects.values_list("id", flat=True)) == ids
    ethbtc = Market.objects.get(name="ETHBTC")
    assert (str(ethbtc.min_amount.normalize()), ethbtc.listed) == ("0.5", False)
    assert Asset.objects.count() == 3
