"""Trading reads: configuration (apps.markets), the matcher's live state (depth, balances,
open orders) and history (only through apps.history.selectors). Each user sees only their
own. Transport-neutral (plain dicts, RpcError); used by REST v1 and ready for the admin
console and the websocket layer."""
from decimal import Decimal

from apps.history import selectors as history
from apps.markets import selectors as markets
from apps.markets.models import Market
from apps.wire.numbers import plain
from apps.wire.orders import SIDE_NAMES, TYPE_NAMES

from . import matcher
from .matcher import engine_user_id, order_not_found


# --- configuration -------------------------------------------------------------------------
def market_list() -> list[dict]:
    return [
        {
            "name": m.name, "stock": m.stock.name, "money": m.money.name, "stock_prec": m.stock_prec,
            "money_prec": m.money_prec, "fee_prec": m.fee_prec, "min_amount": plain(m.min_amount), "listed": m.listed,
        }
        for m in markets.market_list()
    ]


def asset_list() -> list[dict]:
    return [{"name": a.name, "prec": a.prec_show} for a in markets.asset_list()]


# --- matcher state -------------------------------------------------------------------------
def depth_get(*, market: Market, limit: int, interval: Decimal) -> dict:
    result = matcher.call("order.depth", [market.name, limit, plain(interval)])
    return {
        "market": market.name,
        "asks": [[plain(p), plain(a)] for p, a in result.get("asks", [])],
        "bids": [[plain(p), plain(a)] for p, a in result.get("bids", [])],
    }


def balance_list(*, user, assets: list[str] | None = None) -> list[dict]:
    result = matcher.call("balance.query", [engine_user_id(user), *(assets or [])])
    return [
        {"asset": name, "available": plain(v["available"]), "freeze": plain(v["freeze"])}
        for name, v in result.items()
    ]


def order_out(o: dict, *, status: str | None = None) -> dict:
    """The REST shape of a matcher order object (http-jsonrpc.md §3) or a finished-order
    record of apps.history."""
    finished = "ftime" in o
    amount = Decimal(o["amount"])
    if "left" in o:
        left = Decimal(o["left"])
    elif o["type"] == 2 and o["side"] == 2:  # market buy: amount is money to spend
        left = amount - Decimal(o["deal_money"])
    else:
        left = amount - Decimal(o["deal_stock"])
    if status is None:
        status = "finished" if finished else "open"
    return {
        "id": o["id"],
        "client_order_id": o.get("client_order_id") or None,
        "market": o["market"],
        "type": TYPE_NAMES[o["type"]],
        "side": SIDE_NAMES[o["side"]],
        "status": status,
        "price": plain(o["price"]),
        "amount": plain(amount),
        "left": plain(max(left, Decimal(0))),
        "deal_stock": plain(o["deal_stock"]),
        "deal_money": plain(o["deal_money"]),
        "deal_fee": plain(o["deal_fee"]),
        "taker_fee": plain(o["taker_fee"]),
        "maker_fee": plain(o["maker_fee"]),
        "source": o.get("source", ""),
        "ctime": o["ctime"],
        "mtime": o["ftime"] if finished else o["mtime"],
    }


def order_open_list(*, user, market: Market, offset: int, limit: int) -> dict:
    result = matcher.call("order.pending", [engine_user_id(user), market.name, offset, limit])
    return {
        "offset": offset, "limit": limit, "total": result.get("total", 0),
        "records": [order_out(o, status="open") for o in result.get("records", [])],
    }


def order_pending_find(*, user, order_id: int, market: Market | None = None) -> dict | None:
    """The user's open order `order_id` (matcher object) or None. Another user's order costs
    exactly what a missing id costs (every candidate market is asked), so neither the answer
    nor its timing tells whether the id exists."""
    uid = engine_user_id(user)
    candidates = [market] if market is not None else list(markets.market_list())
    for m in candidates:
        o = matcher.call("order.pending_detail", [m.name, order_id])
        if o is not None and o.get("user") == uid:
            return o
    return None


def order_get(*, user, order_id: int, market: Market | None = None) -> dict:
    """One of the user's orders: open (matcher) or finished (history). Raises RpcError 10
    (→ 404) when it does not exist, is not the user's, or was cancelled with no fill (such
    orders leave no history). Another user's order takes the same path, with the same
    queries and matcher calls, as a missing id."""
    uid = engine_user_id(user)
    if market is None:
        # cheaper first: one indexed read; finished orders never come back to the book
        finished = history.order_finished_get(order_id=order_id)
        if finished is not None and finished["user"] == uid:
            return _own_finished(finished)
    o = order_pending_find(user=user, order_id=order_id, market=market)
    if o is not None:
        return order_out(o, status="open")
    if market is not None:
        finished = history.order_finished_get(order_id=order_id)
        if finished is not None and finished["market"] == market.name and finished["user"] == uid:
            return _own_finished(finished)
    raise order_not_found()


def _with_client_order_ids(records: list[dict]) -> list[dict]:
    """history.order_finished_* records lack client_order_id: add it (one query)."""
    ids = history.order_client_ids(order_ids=[r["id"] for r in records])
    return [{**r, "client_order_id": ids.get(r["id"])} for r in records]


def _own_finished(record: dict) -> dict:
    return order_out(_with_client_order_ids([record])[0])


def order_finished_list(*, user, market: Market, side: str | None, start_time: int, end_time: int,
                        offset: int, limit: int) -> dict:
    page = history.order_finished_list(
        user_id=engine_user_id(user), market=market.name, start_time=start_time, end_time=end_time,
        offset=offset, limit=limit, side={"sell": 1, "buy": 2}.get(side, 0),
    )
    return {"offset": offset, "limit": limit, "records": [order_out(r) for r in _with_client_order_ids(page)]}


def _deal_out(r: dict, *, market: Market | None, side: int, order_id: int) -> dict:
    name = r.get("market") or (market.name if market else "")
    m = market if market is not None and market.name == name else Market.objects.select_related(
        "stock", "money").filter(name=name).first()
    fee_asset = "" if m is None else (m.stock.name if side == 2 else m.money.name)
    return {
        "id": r["id"], "time": r["time"], "market": name, "order_id": order_id,
        "deal_order_id": r["deal_order_id"], "side": SIDE_NAMES[side], "role": "maker" if r["role"] == 1 else "taker",
        "price": r["price"], "amount": r["amount"], "deal": r["deal"], "fee": r["fee"], "fee_asset": fee_asset,
    }


def user_deal_list(*, user, market: Market | None, offset: int, limit: int) -> dict:
    """The user's deals (one record per own order side), newest first. Through
    history.user_deal_records rather than history.user_deal_list: these records carry the
    own order id and the market is optional."""
    rows = history.user_deal_records(user_id=engine_user_id(user), market=market.name if market is not None else "",
                                     offset=offset, limit=limit)
    by_name = {m.name: m for m in markets.market_list()}
    records = [_deal_out(r, market=by_name.get(r["market"]), side=r["side"], order_id=r["order_id"]) for r in rows]
    return {"offset": offset, "limit": limit, "records": records}


def order_deal_list(*, user, order_id: int, offset: int, limit: int) -> dict:
    uid = engine_user_id(user)
    first = history.order_deal_owner(order_id=order_id)
    if first is None or first["user_id"] != uid:
        return {"offset": offset, "limit": limit, "records": []}  # not the user's (or no deals)
    market = Market.objects.select_related("stock", "money").filter(name=first["market"]).first()
    page = history.order_deal_list(order_id=order_id, offset=offset, limit=limit)
    records = [_deal_out({**r, "market": first["market"]}, market=market, side=first["side"], order_id=order_id)
               for r in page]
    return {"offset": offset, "limit": limit, "records": records}


def balance_history_list(*, user, asset=None, business: str | None = None, start_time: int = 0, end_time: int = 0,
                         offset: int = 0, limit: int = 50) -> dict:
    qs_page = history.balance_history_list(
        user_id=engine_user_id(user), asset=asset.name if asset else "", business=business or "",
        start_time=start_time, end_time=end_time, offset=offset, limit=limit,
    )
    return {"offset": offset, "limit": limit, "records": list(qs_page)}
