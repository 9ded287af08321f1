"""Input serializers validate and resolve; output serializers shape (and document) replies."""
from decimal import Decimal

from rest_framework import serializers

from apps.markets.models import Asset, Market
from apps.wire.numbers import CLIENT_ORDER_ID_RE, U32, U64
from apps.wire.orders import SIDES, TYPES

from .fields import DecimalStringField, QueryIntegerField, StrictBooleanField, StrictIntegerField, check_precision

MAX_OFFSET = 10**9
MAX_TIME = 2**40
BUSINESS_RE = r"^[A-Za-z0-9_.\-]{1,30}$"


class StrictSerializer(serializers.Serializer):
    """A JSON object with only the documented keys."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class QuerySerializer(serializers.Serializer):
    """Query parameters: a parameter given empty (`?asset=`) is refused, not ignored."""

    def to_internal_value(self, data):
        blank = sorted(k for k in self.fields if k in data and data.get(k) == "")
        if blank:
            raise serializers.ValidationError({key: ["May not be blank."] for key in blank})
        return super().to_internal_value(data)


class MarketNameField(serializers.CharField):
    """A configured market's name → the Market row (400 naming the field if unknown)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 15)
        super().__init__(**kwargs)

    def run_validation(self, data=serializers.empty):
        name = super().run_validation(data)
        market = Market.objects.select_related("stock", "money").filter(name=name).first()
        if market is None:
            raise serializers.ValidationError("Unknown market.")
        return market

    def to_representation(self, value):
        return value.name if isinstance(value, Market) else value


class AssetNameField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 15)
        super().__init__(**kwargs)

    def run_validation(self, data=serializers.empty):
        name = super().run_validation(data)
        asset = Asset.objects.filter(name=name).first()
        if asset is None:
            raise serializers.ValidationError("Unknown asset.")
        return asset

    def to_representation(self, value):
        return value.name if isinstance(value, Asset) else value


class PageQuery(QuerySerializer):
    offset = QueryIntegerField(min_value=0, max_value=MAX_OFFSET, default=0)
    limit = QueryIntegerField(min_value=1, max_value=100, default=50)


# --- public ------------------------------------------------------------------------------
class MarketOut(serializers.Serializer):
    name = serializers.CharField()
    stock = serializers.CharField()
    money = serializers.CharField()
    stock_prec = serializers.IntegerField()
    money_prec = serializers.IntegerField()
    fee_prec = serializers.IntegerField()
    min_amount = serializers.CharField()
    listed = serializers.BooleanField()


class AssetOut(serializers.Serializer):
    name = serializers.CharField()
    prec = serializers.IntegerField(help_text="Decimals shown and accepted (prec_show).")


class DepthQuery(QuerySerializer):
    market = MarketNameField()
    limit = QueryIntegerField(min_value=1, max_value=100, default=20, help_text="Price levels per side.")
    interval = DecimalStringField(allow_zero=True, default=Decimal(0), help_text="Merge levels to this price step; 0 = none.")

    def validate(self, attrs):
        errors = {}
        check_precision(errors, "interval", attrs["interval"], attrs["market"].money_prec, "money_prec")
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class DepthOut(serializers.Serializer):
    market = serializers.CharField()
    asks = serializers.ListField(child=serializers.ListField(child=serializers.CharField()),
                                 help_text="[price, amount] levels, price ascending.")
    bids = serializers.ListField(child=serializers.ListField(child=serializers.CharField()),
                                 help_text="[price, amount] levels, price descending.")


class MarketDealsQuery(QuerySerializer):
    market = MarketNameField()
    limit = QueryIntegerField(min_value=1, max_value=1000, default=100)
    last_id = QueryIntegerField(min_value=0, max_value=U64, default=0, help_text="Only deals with a larger id.")


class MarketDealOut(serializers.Serializer):
    id = serializers.IntegerField()
    time = serializers.FloatField()
    price = serializers.CharField()
    amount = serializers.CharField()
    type = serializers.ChoiceField(choices=["buy", "sell"], help_text="The taker's side.")


class TickerOut(serializers.Serializer):
    market = serializers.CharField()
    last = serializers.CharField(help_text='Last deal price; "0" if never traded.')
    open = serializers.CharField()
    high = serializers.CharField()
    low = serializers.CharField()
    volume = serializers.CharField(help_text="Stock traded over the last 24 h.")
    deal = serializers.CharField(help_text="Money traded over the last 24 h.")
    period = serializers.IntegerField()


# --- balances ----------------------------------------------------------------------------
class BalanceQuery(QuerySerializer):
    asset = serializers.CharField(required=False, max_length=200, help_text="Comma list of assets; default all.")

    def validate_asset(self, value):
        names = [n for n in value.split(",") if n]
        known = set(Asset.objects.filter(name__in=names).values_list("name", flat=True))
        unknown = [n for n in names if n not in known]
        if unknown:
            raise serializers.ValidationError(f"Unknown asset: {', '.join(unknown)}.")
        return names


class BalanceOut(serializers.Serializer):
    asset = serializers.CharField()
    available = serializers.CharField()
    freeze = serializers.CharField()


class BalanceHistoryQuery(PageQuery):
    asset = AssetNameField(required=False)
    business = serializers.RegexField(BUSINESS_RE, required=False)
    start_time = QueryIntegerField(min_value=0, max_value=MAX_TIME, default=0, help_text="Unix s, inclusive; 0 = none.")
    end_time = QueryIntegerField(min_value=0, max_value=MAX_TIME, default=0, help_text="Unix s, exclusive; 0 = none.")

    def validate(self, attrs):
        if attrs["start_time"] and attrs["end_time"] and attrs["start_time"] > attrs["end_time"]:
            raise serializers.ValidationError({"end_time": ["Must not be before start_time."]})
        return attrs


class BalanceHistoryOut(serializers.Serializer):
    time = serializers.FloatField()
    asset = serializers.CharField()
    business = serializers.CharField()
    change = serializers.CharField()
    balance = serializers.CharField(help_text="The asset's total (available + freeze) after the change.")
    detail = serializers.DictField()


class BalanceHistoryPage(serializers.Serializer):
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    records = BalanceHistoryOut(many=True)


# --- orders ------------------------------------------------------------------------------
class OrderPlaceIn(StrictSerializer):
    market = MarketNameField()
    side = serializers.ChoiceField(choices=list(SIDES))
    type = serializers.ChoiceField(choices=list(TYPES), default="limit")
    amount = DecimalStringField(help_text="Stock amount; for a market buy, the money to spend.")
    price = DecimalStringField(required=False, help_text="Limit price (money per stock); limit orders only.")
    client_order_id = serializers.RegexField(CLIENT_ORDER_ID_RE, required=False,
                                             help_text="Your id, unique among your orders for 24 h.")
    time_in_force = serializers.ChoiceField(choices=["GTC", "IOC", "FOK"], required=False,
                                            help_text="Limit orders only; default GTC.")
    post_only = StrictBooleanField(required=False, help_text="Limit GTC orders only: refuse if it would trade.")
    self_trade = serializers.ChoiceField(choices=["none", "cancel_newest", "cancel_oldest"], required=False)

    def validate(self, attrs):
        market: Market = attrs["market"]
        errors = {}
        if not market.listed:
            errors["market"] = ["Market not listed: it accepts no orders."]
        is_limit = attrs["type"] == "limit"
        amount, price = attrs["amount"], attrs.get("price")
        if is_limit:
            if price is None:
                errors["price"] = ["Required for a limit order."]
            check_precision(errors, "price", price, market.money_prec, "money_prec")
            check_precision(errors, "amount", amount, market.stock_prec, "stock_prec")
            if "amount" not in errors and amount < market.min_amount:
                errors["amount"] = [f"Below the market's min_amount {market.min_amount.normalize():f}."]
            if attrs.get("post_only") and attrs.get("time_in_force", "GTC") != "GTC":
                errors["post_only"] = ["Only with time_in_force GTC."]
        else:
            for name in ("price", "time_in_force", "post_only"):
                if name in attrs:
                    errors[name] = ["Not allowed for a market order."]
            if attrs["side"] == "buy":  # money to spend; the matcher truncates it to stock_prec
                prec = min(market.money_prec, market.stock_prec)
                check_precision(errors, "amount", amount, prec, "money to spend: min(money_prec, stock_prec)")
            else:
                check_precision(errors, "amount", amount, market.stock_prec, "stock_prec")
                if "amount" not in errors and amount < market.min_amount:
                    errors["amount"] = [f"Below the market's min_amount {market.min_amount.normalize():f}."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class OrderOut(serializers.Serializer):
    id = serializers.IntegerField()
    client_order_id = serializers.CharField(allow_null=True)
    market = serializers.CharField()
    type = serializers.ChoiceField(choices=list(TYPES))
    side = serializers.ChoiceField(choices=list(SIDES))
    status = serializers.ChoiceField(choices=["open", "finished", "cancelled"])
    price = serializers.CharField(help_text='"0" for market orders.')
    amount = serializers.CharField()
    left = serializers.CharField()
    deal_stock = serializers.CharField()
    deal_money = serializers.CharField()
    deal_fee = serializers.CharField(help_text="Fee paid, in the asset received (stock for buys, money for sells).")
    taker_fee = serializers.CharField()
    maker_fee = serializers.CharField()
    source = serializers.CharField()
    ctime = serializers.FloatField()
    mtime = serializers.FloatField(help_text="Time of the last fill, or of the finish for finished orders.")


class OrderPage(serializers.Serializer):
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    total = serializers.IntegerField(required=False)
    records = OrderOut(many=True)


class OpenOrdersQuery(PageQuery):
    market = MarketNameField()


class CancelAllQuery(QuerySerializer):
    market = MarketNameField()
    side = serializers.ChoiceField(choices=list(SIDES), required=False)


class CancelAllOut(serializers.Serializer):
    count = serializers.IntegerField()
    orders = serializers.ListField(child=serializers.IntegerField())


class OrderLookupQuery(QuerySerializer):
    market = MarketNameField(required=False, help_text="The order's market (faster); optional.")


class FinishedOrdersQuery(PageQuery):
    market = MarketNameField()
    side = serializers.ChoiceField(choices=list(SIDES), required=False)
    start_time = QueryIntegerField(min_value=0, max_value=MAX_TIME, default=0, help_text="Creation time ≥, Unix s.")
    end_time = QueryIntegerField(min_value=0, max_value=MAX_TIME, default=0, help_text="Creation time <, Unix s.")

    def validate(self, attrs):
        if attrs["start_time"] and attrs["end_time"] and attrs["start_time"] > attrs["end_time"]:
            raise serializers.ValidationError({"end_time": ["Must not be before start_time."]})
        return attrs


class UserDealsQuery(PageQuery):
    market = MarketNameField(required=False)


class UserDealOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="Deal id.")
    time = serializers.FloatField()
    market = serializers.CharField()
    order_id = serializers.IntegerField()
    deal_order_id = serializers.IntegerField(help_text="The counter-order.")
    side = serializers.ChoiceField(choices=list(SIDES))
    role = serializers.ChoiceField(choices=["maker", "taker"])
    price = serializers.CharField()
    amount = serializers.CharField()
    deal = serializers.CharField()
    fee = serializers.CharField()
    fee_asset = serializers.CharField()


class UserDealPage(serializers.Serializer):
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    records = UserDealOut(many=True)


# --- staff -------------------------------------------------------------------------------
class BalanceAdjustIn(StrictSerializer):
    user_id = StrictIntegerField(min_value=1, max_value=U32)
    asset = AssetNameField()
    amount = DecimalStringField()
    business_id = StrictIntegerField(min_value=0, max_value=U64,
                                     help_text="Your id of this operation: applied at most once (24 h).")
    business = serializers.RegexField(BUSINESS_RE, required=False, help_text="Label; default deposit / withdraw.")
    detail = serializers.DictField(required=False, default=dict)

    def validate_user_id(self, value):
        from django.contrib.auth import get_user_model

        if not get_user_model().objects.filter(pk=value).exists():
            raise serializers.ValidationError("Unknown user.")
        return value

    def validate_detail(self, value):
        if len(str(value)) > 1000:
            raise serializers.ValidationError("At most 1000 characters.")
        return value

    def validate(self, attrs):
        errors = {}
        check_precision(errors, "amount", attrs["amount"], attrs["asset"].prec_show, "the asset's prec_show")
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class BalanceAdjustOut(serializers.Serializer):
    user_id = serializers.IntegerField()
    asset = serializers.CharField()
    business = serializers.CharField()
    business_id = serializers.IntegerField()
    change = serializers.CharField()


class ErrorBody(serializers.Serializer):
    type = serializers.CharField()
    code = serializers.IntegerField(required=False, help_text="ViaBTC error code, when there is one.")
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
    data = serializers.DictField(required=False)


class ErrorOut(serializers.Serializer):
    error = ErrorBody()
