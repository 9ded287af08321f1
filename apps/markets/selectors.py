from .models import Asset, Market


def asset_list():
    return Asset.objects.order_by("id")


def market_list(*, listed_only: bool = False):
    qs = Market.objects.select_related("stock", "money").order_by("id")
    return qs.filter(listed=True) if listed_only else qs
