"""Writes to the exchange configuration. Every write validates with the model rules."""
from decimal import Decimal

from django.db import transaction

from .models import Asset, Market

DEMO_ASSETS = [("BTC", 20, 8), ("ETH", 20, 8), ("USDT", 20, 8)]
DEMO_MARKETS = [
    ("BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001"),
    ("ETHUSDT", "ETH", "USDT", 8, 2, 4, "0.01"),
    ("ETHBTC", "ETH", "BTC", 8, 6, 4, "0.01"),
]


def asset_create(*, name: str, prec_save: int, prec_show: int) -> Asset:
    asset = Asset(name=name, prec_save=prec_save, prec_show=prec_show)
    asset.full_clean()
    asset.save()
    return asset


def market_create(
    *, name: str, stock: str, money: str, stock_prec: int, money_prec: int, fee_prec: int, min_amount: Decimal | str
) -> Market:
    market = Market(
        name=name,
        stock=Asset.objects.filter(name=stock).first(),
        money=Asset.objects.filter(name=money).first(),
        stock_prec=stock_prec,
        money_prec=money_prec,
        fee_prec=fee_prec,
        min_amount=Decimal(min_amount),
    )
    market.full_clean()
    market.save()
    return market


@transaction.atomic
def demo_config_seed() -> list[str]:
    """Create the demo assets and markets that are missing; existing rows stay as they are."""
    created = []
    for name, prec_save, prec_show in DEMO_ASSETS:
        if not Asset.objects.filter(name=name).exists():
            asset_create(name=name, prec_save=prec_save, prec_show=prec_show)
            created.append(name)
    for name, stock, money, stock_prec, money_prec, fee_prec, min_amount in DEMO_MARKETS:
        if not Market.objects.filter(name=name).exists():
            market_create(
                name=name, stock=stock, money=money, stock_prec=stock_prec,
                money_prec=money_prec, fee_prec=fee_prec, min_amount=min_amount,
            )
            created.append(name)
    return created
