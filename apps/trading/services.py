"""Trading writes: orders and staff balance changes, all through the matcher
(apps.trading.matcher). Transport-neutral: plain arguments in, plain dicts out, RpcError
on refusal; used by REST v1 (apps.trading.rest.views) and ready for the admin console and
the websocket layer."""
from decimal import Decimal

from django.conf import settings

from apps.markets.models import Asset, Market
from apps.wire.errors import RpcError
from apps.wire.numbers import plain
from apps.wire.orders import SIDES

from . import matcher
from .matcher import engine_user_id, order_not_found
from .selectors import order_out, order_pending_find

USER_NOT_MATCH = 11  # order.cancel: the order is another user's


def order_place(
    *, user, market: Market, side: str, type: str, amount: Decimal, price: Decimal | None = None,
    source: str = "api", client_order_id: str | None = None, time_in_force: str | None = None,
    post_only: bool | None = None, self_trade: str | None = None,
) -> dict:
    """Place a limit or market order for `user`; returns the order (selectors.order_out) after matching."""
    given = {"time_in_force": time_in_force, "post_only": post_only, "self_trade": self_trade,
             "client_order_id": client_order_id}
    options = {k: v for k, v in given.items() if v is not None}
    uid = engine_user_id(user)
    if type == "limit":
        params = [uid, market.name, SIDES[side], plain(amount), plain(price),
                  settings.REST_TAKER_FEE_RATE, settings.REST_MAKER_FEE_RATE, source]
        method = "order.put_limit"
    else:
        params = [uid, market.name, SIDES[side], plain(amount), settings.REST_TAKER_FEE_RATE, source]
        method = "order.put_market"
    if options:
        params.append(options)
    o = matcher.call(method, params)
    resting = type == "limit" and (time_in_force or "GTC") == "GTC" and Decimal(o["left"]) > 0
    return order_out(o, status="open" if resting else "finished")


def order_cancel(*, user, order_id: int, market: Market | None = None) -> dict:
    """Cancel one of the user's open orders; another user's or unknown → RpcError 10."""
    if market is None:
        found = order_pending_find(user=user, order_id=order_id)
        if found is None:
            raise order_not_found()
        market_name = found["market"]
    else:
        market_name = market.name
    try:
        o = matcher.call("order.cancel", [engine_user_id(user), market_name, order_id])
    except RpcError as exc:
        if exc.code == USER_NOT_MATCH:  # another user's order: answered exactly like a missing id
            raise order_not_found() from None
        raise
    return order_out(o, status="cancelled")


def order_cancel_all(*, user, market: Market, side: str | None = None) -> dict:
    params = [engine_user_id(user), market.name]
    if side:
        params.append(SIDES[side])
    return matcher.call("order.cancel_all", params)


def balance_adjust(
    *, staff_user, user_id: int, asset: Asset, amount: Decimal, business_id: int, withdraw: bool,
    business: str | None = None, detail: dict | None = None,
) -> dict:
    """A staff deposit (credit) or withdrawal (debit) through `balance.update`. The detail
    records who did it; (user, asset, business, business_id) is applied at most once."""
    business = business or ("withdraw" if withdraw else "deposit")
    change = -amount if withdraw else amount
    detail = {**(detail or {}), "staff": staff_user.pk}
    matcher.call("balance.update", [user_id, asset.name, business, business_id, plain(change), detail])
    return {"user_id": user_id, "asset": asset.name, "business": business, "business_id": business_id,
            "change": plain(change)}
