"""Asset/market validation: one test per precision rule and per bad value."""
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.markets.models import Asset, Market
from apps.markets.services import asset_create, market_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def assets():
    return {
        "BTC": asset_create(name="BTC", prec_save=20, prec_show=8),
        "USDT": asset_create(name="USDT", prec_save=20, prec_show=8),
        "LOW": asset_create(name="LOW", prec_save=10, prec_show=8),
    }


def market_kwargs(**overrides):
    kwargs = dict(name="BTCUSDT", stock="BTC", money="USDT", stock_prec=8, money_prec=2, fee_prec=4, min_amount="0.001")
    kwargs.update(overrides)
    return kwargs


def errors_of(exc_info):
    return exc_info.value.message_dict


def test_valid_market_is_created(assets):
    market = market_create(**market_kwargs())
    assert Market.objects.get(name="BTCUSDT").stock == assets["BTC"]
    assert market.min_amount == Decimal("0.001")
    assert market.listed is True


@pytest.mark.parametrize("name", ["btc", "", "B-TC", "ABCDEFGHIJKLMNOP", "BT C", "BTC\n"])
def test_asset_name_must_be_upper_alnum_up_to_15(name):
    with pytest.raises(ValidationError) as exc:
        asset_create(name=name, prec_save=8, prec_show=8)
    assert "name" in errors_of(exc)


@pytest.mark.parametrize("field", ["prec_save", "prec_show"])
def test_asset_negative_precision_rejected(field):
    kwargs = {"name": "XYZ", "prec_save": 8, "prec_show": 8, field: -1}
    with pytest.raises(ValidationError) as exc:
        asset_create(**kwargs)
    assert field in errors_of(exc)


def test_asset_precision_at_most_20():
    with pytest.raises(ValidationError) as exc:
        asset_create(name="XYZ", prec_save=21, prec_show=8)
    assert "prec_save" in errors_of(exc)


def test_asset_prec_show_not_above_prec_save():
    with pytest.raises(ValidationError) as exc:
        asset_create(name="XYZ", prec_save=6, prec_show=8)
    assert "prec_show" in errors_of(exc)


def test_asset_prec_save_fixed_once_created_but_prec_show_may_change(assets):
    btc = assets["BTC"]
    btc.prec_show = 6
    btc.full_clean()  # allowed
    btc.prec_save = 18
    with pytest.raises(ValidationError) as exc:
        btc.full_clean()
    assert "prec_save" in errors_of(exc)


@pytest.mark.parametrize("field", ["stock_prec", "money_prec", "fee_prec"])
def test_market_negative_precision_rejected(assets, field):
    with pytest.raises(ValidationError) as exc:
        market_create(**market_kwargs(**{field: -1}))
    assert field in errors_of(exc)


def test_rule_money_prec_save_covers_stock_money_and_fee_precisions(assets):
    # LOW has prec_save 10: 8 + 2 + 4 = 14 > 10
    with pytest.raises(ValidationError) as exc:
        market_create(**market_kwargs(name="BTCLOW", money="LOW"))
    assert "money_prec" in errors_of(exc)
    # 4 + 2 + 4 = 10 fits exactly
    market_create(**market_kwargs(name="BTCLOW", money="LOW", stock_prec=4, min_amount="0.001"))


def test_rule_stock_prec_save_covers_stock_and_fee_precisions(assets):
    # LOW as stock: 8 + 4 = 12 > 10
    with pytest.raises(ValidationError) as exc:
        market_create(**market_kwargs(name="LOWUSDT", stock="LOW"))
    assert "stock_prec" in errors_of(exc)
    market_create(**market_kwargs(name="LOWUSDT", stock="LOW", stock_prec=6, fee_prec=4))


@pytest.mark.parametrize("min_amount", ["0", "-0.01"])
def test_min_amount_must_be_positive(assets, min_amount):
    with pytest.raises(ValidationError) as exc:
        market_create(**market_kwargs(min_amount=min_amount))
    assert "min_amount" in errors_of(exc)


def test_min_amount_at_most_stock_prec_decimals(assets):
    with pytest.raises(ValidationError) as exc:
        market_create(**market_kwargs(stock_prec=2, min_amount="0.001"))
    assert "min_amount" in errors_of(exc)
    market_create(**market_kwargs(stock_prec=3, min_amount="0.001"))


@pytest.mark.parametrize("side", ["stock", "money"])
def test_unknown_asset_rejected(assets, side):
    with pytest.raises(ValidationError) as exc:
        market_create(**market_kwargs(**{side: "NOPE"}))
    assert side in errors_of(exc)
    assert not Market.objects.exists()


def test_stock_and_money_must_differ(assets):
    with pytest.raises(ValidationError) as exc:
        market_create(**market_kwargs(name="BTCBTC", money="BTC"))
    assert "money" in errors_of(exc)


def test_one_market_per_pair(assets):
    market_create(**market_kwargs())
    with pytest.raises(ValidationError):
        market_create(**market_kwargs(name="BTCUSDT2"))
    assert Market.objects.count() == 1


def test_market_precisions_and_pair_fixed_once_created_min_amount_and_listed_may_change(assets):
    market = market_create(**market_kwargs())
    market.min_amount = Decimal("0.01")
    market.listed = False
    market.full_clean()
    market.save()
    for field, value in [("stock_prec", 6), ("money_prec", 3), ("fee_prec", 3), ("money", assets["LOW"])]:
        fresh = Market.objects.get(pk=market.pk)
        setattr(fresh, field, value)
        with pytest.raises(ValidationError) as exc:
            fresh.full_clean()
        assert field in errors_of(exc)


def test_admin_form_enforces_the_same_rules(assets, admin_client):
    response = admin_client.post(
        "/admin/markets/market/add/",
        {"name": "BTCLOW", "stock": assets["BTC"].pk, "money": assets["LOW"].pk, "stock_prec": 8,
         "money_prec": 2, "fee_prec": 4, "min_amount": "0.001", "listed": "on"},
    )
    assert response.status_code == 200  # form redisplayed with errors
    assert "stock_prec + money_prec + fee_prec" in response.content.decode()
    assert not Market.objects.filter(name="BTCLOW").exists()
    response = admin_client.post(
        "/admin/markets/market/add/",
        {"name": "BTCUSDT", "stock": assets["BTC"].pk, "money": assets["USDT"].pk, "stock_prec": 8,
         "money_prec": 2, "fee_prec": 4, "min_amount": "0.001", "listed": "on"},
    )
    assert response.status_code == 302
    assert Market.objects.filter(name="BTCUSDT").exists()
