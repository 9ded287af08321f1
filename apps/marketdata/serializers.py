"""REST v1 market-data query and response shapes (OpenAPI via drf-spectacular)."""
from rest_framework import serializers

from apps.trading.rest.serializers import (  # noqa: F401 - shared REST v1 shapes, re-exported
    MAX_TIME,
    MarketDealOut,
    MarketDealsQuery,
    MarketNameField,
    QueryIntegerField,
    QuerySerializer,
    TickerOut,
)


class StatusQuery(QuerySerializer):
    market = MarketNameField()
    period = QueryIntegerField(min_value=1, max_value=604800, default=86400, help_text="Seconds back from now.")


class StatusOut(serializers.Serializer):
    market = serializers.CharField()
    period = serializers.IntegerField()
    last = serializers.CharField(help_text='Last deal price; "0" if never traded.')
    open = serializers.CharField(help_text='First deal of the period; "0" if no deal in it.')
    close = serializers.CharField()
    high = serializers.CharField()
    low = serializers.CharField()
    volume = serializers.CharField(help_text="Stock traded in the period.")
    deal = serializers.CharField(help_text="Money traded in the period.")
    today = serializers.DictField(child=serializers.CharField(), help_text=(
        "market.status_today: open/high/low/last of the current UTC day (or the previous day's close), "
        "volume/deal over the last 24 h."))


class KlineQuery(QuerySerializer):
    market = MarketNameField()
    start = QueryIntegerField(min_value=1, max_value=MAX_TIME, help_text="UTC seconds.")
    end = QueryIntegerField(min_value=1, max_value=MAX_TIME, help_text="UTC seconds; clamped to now.")
    interval = QueryIntegerField(min_value=1, max_value=2592000, help_text=(
        "Seconds: a divisor of 60; a multiple of 60 dividing 3600; a multiple of 3600 dividing 86400; a "
        "multiple of 86400 below 604800; 604800 (weeks from Monday); 2592000 (calendar months). UTC."))

