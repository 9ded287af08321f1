"""The readhistory JSON-RPC methods (../shared/spec/http-jsonrpc.md §5, readhistory.md §2).

`HISTORY_METHODS` maps each ViaBTC method name to a sync function taking the raw JSON
`params` list and returning the JSON-ready result; bad input raises
`RpcError(1, data={"param", "reason"})`. Validation follows `readhistory/rh_server.c`:
same param counts and check order, integers read leniently (a non-integer JSON value —
float, string, bool, null — counts as 0, then fails its range check if 0 is not allowed),
strings must be JSON strings. Where the original is defective, spec README §6 applies:
out-of-range integers fail instead of wrapping (user_id > 2^32−1, ids/offset/times
> 2^64−1, negative values), and a market that never existed (no row in apps.markets,
listed or not) is code 1.

Extension (spec README §6, "new request params are optional and appended at the end"): a
keyset cursor `before_id` after the last original param of every list method. When it
is present (0 or null = start from the newest) the result also carries
`next_before_id`: pass it back to get the next, older page (null = no more rows).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apps.wire.errors import RpcError
from apps.wire.numbers import U32, U64

from . import selectors

QUERY_LIMIT = 101


def _int(value) -> int:
    """jansson's json_integer_value: the integer, or 0 for anything that is not one."""
    return value if type(value) is int else 0


def _uint(params: list, index: int, name: str, maximum: int = U64) -> int:
    value = _int(params[index])
    if value < 0:
        raise RpcError.invalid(name, "must be >= 0")
    if value > maximum:
        raise RpcError.invalid(name, f"must be <= {maximum}")
    return value


def _user_id(params: list, index: int = 0) -> int:
    user_id = _uint(params, index, "user_id", U32)
    if user_id == 0:
        raise RpcError.invalid("user_id", "must be a non-zero integer")
    return user_id


def _order_id(params: list, index: int = 0) -> int:
    order_id = _uint(params, index, "order_id")
    if order_id == 0:
        raise RpcError.invalid("order_id", "must be a non-zero integer")
    return order_id


def _str(params: list, index: int, name: str) -> str:
    value = params[index]
    if not isinstance(value, str):
        raise RpcError.invalid(name, "must be a string")
    return value


def _market(params: list, index: int) -> str:
    from apps.markets.models import Market

    market = _str(params, index, "market")
    # compare in Python: the database collation may be case-insensitive
    if market not in Market.objects.filter(name=market).values_list("name", flat=True):
        raise RpcError.invalid("market", "unknown market")
    return market


def _time_range(params: list, index: int) -> tuple[int, int]:
    start_time = _uint(params, index, "start_time")
    end_time = _uint(params, index + 1, "end_time")
    if end_time and start_time > end_time:
        raise RpcError.invalid("end_time", "must not be before start_time")
    return start_time, end_time


def _paging(params: list, index: int) -> tuple[int, int]:
    offset = _uint(params, index, "offset")
    limit = _int(params[index + 1])
    if limit < 1 or limit > QUERY_LIMIT:
        raise RpcError.invalid("limit", f"must be 1…{QUERY_LIMIT}")
    return offset, limit


def _count(params, exact: int | None = None, minimum: int | None = None, maximum: int | None = None) -> list:
    if not isinstance(params, list):
        raise RpcError.invalid("params", "must be an array")
    n = len(params)
    if exact is not None and n != exact:
        raise RpcError.invalid("params", f"expected {exact} params")
    if minimum is not None and n < minimum:
        raise RpcError.invalid("params", f"expected at least {minimum} params")
    if maximum is not None and n > maximum:
        raise RpcError.invalid("params", f"expected at most {maximum} params")
    return params


def _before_id(params: list, index: int) -> tuple[bool, int | None]:
    """The optional keyset extension param: (present, value or None)."""
    if len(params) <= index:
        return False, None
    value = params[index]
    if value is None:
        return True, None
    if type(value) is not int or value < 0 or value > U64:
        raise RpcError.invalid("before_id", "must be null or an integer 0…2^64-1")
    return True, value or None


def _list_result(offset: int, limit: int, page: selectors.Page, keyset: bool) -> dict:
    result = {"offset": offset, "limit": limit, "records": list(page)}
    if keyset:
        result["next_before_id"] = page.next_before_id
    return result


def balance_history(params: list) -> dict:
    """user_id, asset, business, start_time, end_time, offset, limit [, before_id]"""
    _count(params, minimum=7, maximum=8)
    user_id = _user_id(params)
    asset = _str(params, 1, "asset")
    business = _str(params, 2, "business")
    start_time, end_time = _time_range(params, 3)
    offset, limit = _paging(params, 5)
    keyset, before_id = _before_id(params, 7)
    page = selectors.balance_history_list(
        user_id=user_id, asset=asset, business=business, start_time=start_time, end_time=end_time,
        offset=offset, limit=limit, before_id=before_id,
    )
    return _list_result(offset, limit, page, keyset)


def order_finished(params: list) -> dict:
    """user_id, market, start_time, end_time, offset, limit [, side [, before_id]]"""
    _count(params, minimum=6)
    user_id = _user_id(params)
    market_param = _str(params, 1, "market")
    start_time, end_time = _time_range(params, 2)
    offset, limit = _paging(params, 4)
    side = 0
    if len(params) >= 7:
        side = _int(params[6])
        if side not in (0, 1, 2):
            raise RpcError.invalid("side", "must be 0, 1 or 2")
    keyset, before_id = _before_id(params, 7)
    market = _market([market_param], 0)
    page = selectors.order_finished_list(
        user_id=user_id, market=market, start_time=start_time, end_time=end_time,
        offset=offset, limit=limit, side=side, before_id=before_id,
    )
    return _list_result(offset, limit, page, keyset)


def order_finished_detail(params: list) -> dict | None:
    """order_id"""
    _count(params, exact=1)
    return selectors.order_finished_get(order_id=_order_id(params))


def order_deals(params: list) -> dict:
    """order_id, offset, limit [, before_id]"""
    _count(params, minimum=3, maximum=4)
    order_id = _order_id(params)
    offset, limit = _paging(params, 1)
    keyset, before_id = _before_id(params, 3)
    page = selectors.order_deal_list(order_id=order_id, offset=offset, limit=limit, before_id=before_id)
    return _list_result(offset, limit, page, keyset)


def market_user_deals(params: list) -> dict:
    """user_id, market, offset, limit [, before_id]"""
    _count(params, minimum=4, maximum=5)
    user_id = _user_id(params)
    market_param = _str(params, 1, "market")
    offset, limit = _paging(params, 2)
    keyset, before_id = _before_id(params, 4)
    market = _market([market_param], 0)
    page = selectors.user_deal_list(user_id=user_id, market=market, offset=offset, limit=limit, before_id=before_id)
    return _list_result(offset, limit, page, keyset)


HISTORY_METHODS: dict[str, Callable[[list], Any]] = {
    "balance.history": balance_history,
    "order.finished": order_finished,
    "order.finished_detail": order_finished_detail,
    "order.deals": order_deals,
    "market.user_deals": market_user_deals,
}
