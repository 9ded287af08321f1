"""REST v1 views: parse, check permissions, call one service or selector, shape the reply."""
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authentication import HasScope
from apps.accounts.models import ApiKey
from apps.console import services as audit
from apps.trading import selectors, services
from apps.wire.numbers import U64

from . import serializers as s
from .errors import exception_handler
from .parsers import StrictJSONParser
from .throttles import AnonThrottle, UserThrottle

E400 = OpenApiResponse(s.ErrorOut, description="Invalid input (fields name the offending parameters) "
                                               "or a matcher refusal such as code 10 balance not enough.")
E401 = OpenApiResponse(s.ErrorOut, description="Not authenticated, or a bad / expired / replayed signature.")
E403 = OpenApiResponse(s.ErrorOut, description="Missing scope, CSRF failure, or not staff.")
E404 = OpenApiResponse(s.ErrorOut, description="No such order of yours.")
E409 = OpenApiResponse(s.ErrorOut, description="Conflict: post-only would trade, FOK not fillable, "
                                               "duplicate client_order_id / business_id, no enough trader.")
E503 = OpenApiResponse(s.ErrorOut, description="Matcher unavailable (code 3), or the API's Redis (replay "
                                               "protection, rate limits) unreachable (type unavailable); "
                                               "nothing was done.")
E504 = OpenApiResponse(s.ErrorOut, description="Matcher timeout (code 5): the command may have been applied.")
PRIVATE_ERRORS = {401: E401, 403: E403, 503: E503, 504: E504}

ORDER_EXAMPLE = {
    "id": 12, "client_order_id": "my-1", "market": "BTCUSDT", "type": "limit", "side": "buy", "status": "open",
    "price": "8000", "amount": "0.5", "left": "0.5", "deal_stock": "0", "deal_money": "0", "deal_fee": "0",
    "taker_fee": "0.002", "maker_fee": "0.001", "source": "api", "ctime": 1602599518.243492,
    "mtime": 1602599518.243492,
}


def _order_id(raw: str) -> int:
    """The path's order id: an integer 1 .. 2^64-1 (else 400 naming order_id, in JSON)."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 20 and 0 < int(raw) <= U64):
        raise ValidationError({"order_id": ["Must be an integer 1 .. 2^64-1."]})
    return int(raw)


def _query(serializer_class, request):
    ser = serializer_class(data=request.query_params)
    ser.is_valid(raise_exception=True)
    return ser.validated_data


def _body(serializer_class, request):
    ser = serializer_class(data=request.data)
    ser.is_valid(raise_exception=True)
    return ser.validated_data


class ApiView(APIView):
    """Base of REST v1: authenticated, scope-checked (GET → read, POST/DELETE → trade), throttled."""

    permission_classes = [permissions.IsAuthenticated, HasScope]
    throttle_classes = [AnonThrottle, UserThrottle]
    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]
    scope_map = {"GET": "read", "POST": "trade", "DELETE": "trade"}

    def get_exception_handler(self):
        return exception_handler

    @staticmethod
    def source(request) -> str:
        return "api" if isinstance(request.auth, ApiKey) else "web"


class PublicView(ApiView):
    permission_classes = [permissions.AllowAny]


class StaffView(ApiView):
    permission_classes = [permissions.IsAuthenticated, permissions.IsAdminUser, HasScope]


# --- public ------------------------------------------------------------------------------
# Examples of list responses are one element: drf-spectacular wraps them in the list.
class MarketListView(PublicView):
    @extend_schema(tags=["public"], summary="Markets (config order)", responses={200: s.MarketOut(many=True)},
                   examples=[OpenApiExample("markets", response_only=True, value={
                       "name": "BTCUSDT", "stock": "BTC", "money": "USDT", "stock_prec": 8, "money_prec": 2,
                       "fee_prec": 4, "min_amount": "0.001", "listed": True})])
    def get(self, request):
        return Response(selectors.market_list())


class AssetListView(PublicView):
    @extend_schema(tags=["public"], summary="Assets (config order)", responses={200: s.AssetOut(many=True)},
                   examples=[OpenApiExample("assets", response_only=True, value={"name": "BTC", "prec": 8})])
    def get(self, request):
        return Response(selectors.asset_list())


class DepthView(PublicView):
    @extend_schema(tags=["public"], summary="Order book depth (live)", parameters=[s.DepthQuery],
                   responses={200: s.DepthOut, 400: E400, 503: E503, 504: E504},
                   examples=[OpenApiExample("depth", response_only=True, value={
                       "market": "BTCUSDT", "asks": [["8000", "1.5"]], "bids": [["7990", "0.2"]]})])
    def get(self, request):
        return Response(selectors.depth_get(**_query(s.DepthQuery, request)))


# --- balances ----------------------------------------------------------------------------
class BalanceListView(ApiView):
    @extend_schema(tags=["balances"], summary="Your balances (live)", parameters=[s.BalanceQuery],
                   responses={200: s.BalanceOut(many=True), 400: E400, **PRIVATE_ERRORS},
                   examples=[OpenApiExample("balances", response_only=True, value={
                       "asset": "BTC", "available": "1.5", "freeze": "0.5"})])
    def get(self, request):
        q = _query(s.BalanceQuery, request)
        return Response(selectors.balance_list(user=request.user, assets=q.get("asset")))


class BalanceHistoryView(ApiView):
    @extend_schema(tags=["balances"], summary="Your balance history, newest first", parameters=[s.BalanceHistoryQuery],
                   responses={200: s.BalanceHistoryPage, 400: E400, **PRIVATE_ERRORS},
                   examples=[OpenApiExample("history", response_only=True, value={
                       "offset": 0, "limit": 50, "records": [{"time": 1602505357.413194, "asset": "BTC",
                                                             "business": "deposit", "change": "1", "balance": "3",
                                                             "detail": {"id": 1}}]})])
    def get(self, request):
        q = _query(s.BalanceHistoryQuery, request)
        return Response(selectors.balance_history_list(user=request.user, **q))


# --- orders ------------------------------------------------------------------------------
class OrderListView(ApiView):
    @extend_schema(tags=["orders"], operation_id="orders_open_list", summary="Your open orders in a market, newest first",
                   parameters=[s.OpenOrdersQuery], responses={200: s.OrderPage, 400: E400, **PRIVATE_ERRORS},
                   examples=[OpenApiExample("open", response_only=True, value={
                       "offset": 0, "limit": 50, "total": 1, "records": [ORDER_EXAMPLE]})])
    def get(self, request):
        return Response(selectors.order_open_list(user=request.user, **_query(s.OpenOrdersQuery, request)))

    @extend_schema(tags=["orders"], operation_id="order_place", summary="Place an order", request=s.OrderPlaceIn,
                   responses={201: s.OrderOut, 400: E400, 409: E409, **PRIVATE_ERRORS},
                   examples=[
                       OpenApiExample("limit buy", request_only=True, value={
                           "market": "BTCUSDT", "side": "buy", "type": "limit", "amount": "0.5", "price": "8000",
                           "client_order_id": "my-1", "time_in_force": "GTC", "post_only": False}),
                       OpenApiExample("market sell", request_only=True, value={
                           "market": "BTCUSDT", "side": "sell", "type": "market", "amount": "0.01"}),
                       OpenApiExample("order", response_only=True, status_codes=["201"], value=ORDER_EXAMPLE),
                   ])
    def post(self, request):
        data = _body(s.OrderPlaceIn, request)
        order = services.order_place(user=request.user, source=self.source(request), **data)
        return Response(order, status=201)

    @extend_schema(tags=["orders"], operation_id="orders_cancel_all", summary="Cancel all your open orders in a market", parameters=[s.CancelAllQuery],
                   responses={200: s.CancelAllOut, 400: E400, **PRIVATE_ERRORS},
                   examples=[OpenApiExample("cancelled", response_only=True, value={"count": 2, "orders": [12, 15]})])
    def delete(self, request):
        return Response(services.order_cancel_all(user=request.user, **_query(s.CancelAllQuery, request)))


ORDER_ID = OpenApiParameter("order_id", int, OpenApiParameter.PATH, description="Order id.")


class OrderDetailView(ApiView):
    @extend_schema(tags=["orders"], operation_id="order_get", summary="One of your orders (open, or finished with a fill)",
                   parameters=[ORDER_ID, s.OrderLookupQuery], responses={200: s.OrderOut, 400: E400, 404: E404,
                                                                     **PRIVATE_ERRORS},
                   examples=[OpenApiExample("order", response_only=True, value=ORDER_EXAMPLE)])
    def get(self, request, order_id: str):
        q = _query(s.OrderLookupQuery, request)
        return Response(selectors.order_get(user=request.user, order_id=_order_id(order_id), market=q.get("market")))

    @extend_schema(tags=["orders"], operation_id="order_cancel", summary="Cancel one of your open orders", parameters=[ORDER_ID, s.OrderLookupQuery],
                   responses={200: s.OrderOut, 400: E400, 404: E404, **PRIVATE_ERRORS},
                   examples=[OpenApiExample("cancelled", response_only=True, value={**ORDER_EXAMPLE,
                                                                                     "status": "cancelled"})])
    def delete(self, request, order_id: str):
        q = _query(s.OrderLookupQuery, request)
        return Response(services.order_cancel(user=request.user, order_id=_order_id(order_id), market=q.get("market")))


class OrderDealListView(ApiView):
    @extend_schema(tags=["orders"], summary="Deals of one of your orders, newest first",
                   parameters=[ORDER_ID, s.PageQuery], responses={200: s.UserDealPage, 400: E400, **PRIVATE_ERRORS})
    def get(self, request, order_id: str):
        q = _query(s.PageQuery, request)
        return Response(selectors.order_deal_list(user=request.user, order_id=_order_id(order_id), **q))


class FinishedOrderListView(ApiView):
    @extend_schema(tags=["orders"], summary="Your finished orders in a market, newest first",
                   description="Orders that traded at least once, and every market order; a limit order "
                               "cancelled with no fill leaves no history.",
                   parameters=[s.FinishedOrdersQuery], responses={200: s.OrderPage, 400: E400, **PRIVATE_ERRORS})
    def get(self, request):
        q = _query(s.FinishedOrdersQuery, request)
        return Response(selectors.order_finished_list(user=request.user, side=q.pop("side", None), **q))


class UserDealListView(ApiView):
    @extend_schema(tags=["orders"], summary="Your deals, newest first", parameters=[s.UserDealsQuery],
                   responses={200: s.UserDealPage, 400: E400, **PRIVATE_ERRORS},
                   examples=[OpenApiExample("deals", response_only=True, value={"offset": 0, "limit": 50, "records": [{
                       "id": 3, "time": 1602591296.663264, "market": "BTCUSDT", "order_id": 12, "deal_order_id": 6,
                       "side": "buy", "role": "maker", "price": "8000", "amount": "0.5", "deal": "4000",
                       "fee": "0.0005", "fee_asset": "BTC"}]})])
    def get(self, request):
        q = _query(s.UserDealsQuery, request)
        return Response(selectors.user_deal_list(user=request.user, market=q.pop("market", None), **q))


# --- staff -------------------------------------------------------------------------------
class _BalanceAdjustView(StaffView):
    withdraw = False

    def post(self, request):
        data = _body(s.BalanceAdjustIn, request)
        result = services.balance_adjust(staff_user=request.user, withdraw=self.withdraw, **data)
        # a staff action: one audit row, as from the console (docs/console.md)
        audit.record(request.user, "balance.withdraw" if self.withdraw else "balance.deposit",
                     f"user {data['user_id']}", {**result, "via": "rest"})
        return Response(result, status=201)


_ADJUST_EXAMPLE = {"user_id": 2, "asset": "BTC", "amount": "1.5", "business_id": 1001}


class DepositView(_BalanceAdjustView):
    @extend_schema(tags=["staff"], summary="Credit a user's balance (staff only)", request=s.BalanceAdjustIn,
                   responses={201: s.BalanceAdjustOut, 400: E400, 409: E409, **PRIVATE_ERRORS},
                   examples=[OpenApiExample("deposit", request_only=True, value=_ADJUST_EXAMPLE)])
    def post(self, request):
        return super().post(request)


class WithdrawalView(_BalanceAdjustView):
    withdraw = True

    @extend_schema(tags=["staff"], summary="Debit a user's available balance (staff only)", request=s.BalanceAdjustIn,
                   responses={201: s.BalanceAdjustOut, 400: E400, 409: E409, **PRIVATE_ERRORS},
                   examples=[OpenApiExample("withdrawal", request_only=True, value=_ADJUST_EXAMPLE)])
    def post(self, request):
        return super().post(request)
