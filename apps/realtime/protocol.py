"""Pure pieces of the ViaBTC websocket protocol (../shared/spec/websocket.md): envelopes,
param checks, subscription keys and group names, the depth diff. No I/O."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import orjson

from apps.wire.errors import INVALID_ARGUMENT, error_object

REQUIRE_AUTH = 6  # websocket.md §2
AUTH_REFUSED = 11  # the auth/sign check said no (message says why)
NAME_MAX = 15  # market/asset/interval strings: < 16 bytes
SOURCE_MAX = 31
# what may become part of a channel-layer group name; anything else is accepted and never pushed
GROUP_SAFE = re.compile(r"^[A-Za-z0-9_\-]{1,15}$")

_dumps = orjson.dumps


def reply(rid, result) -> str:
    return _dumps({"error": None, "result": result, "id": rid}).decode()


def error_reply(rid, code: int, message: str | None = None, data: dict | None = None) -> str:
    return _dumps({"error": error_object(code, message, data), "result": None, "id": rid}).decode()


def push(method: str, params: list) -> str:
    return _dumps({"method": method, "params": params, "id": None}).decode()


SUCCESS = {"status": "success"}


class BadParams(Exception):
    """Code 1, with the parameter and the reason (README §6)."""

    def __init__(self, param: str, reason: str):
        self.param, self.reason = param, reason
        super().__init__(f"{param}: {reason}")

    def as_reply(self, rid) -> str:
        return error_reply(rid, INVALID_ARGUMENT, data={"param": self.param, "reason": self.reason})


def count(params: list, n: int, *, at_least: int | None = None) -> list:
    if at_least is not None:
        if not at_least <= len(params) <= n:
            raise BadParams("params", f"expected {at_least} to {n} params")
    elif len(params) != n:
        raise BadParams("params", f"expected {n} params")
    return params


def name(value, param: str, limit: int = NAME_MAX) -> str:
    if type(value) is not str or not value:
        raise BadParams(param, "must be a non-empty string")
    if len(value.encode()) > limit:
        raise BadParams(param, f"must be shorter than {limit + 1} bytes")
    return value


def integer(value, param: str, minimum: int | None = None) -> int:
    if type(value) is not int:
        raise BadParams(param, "must be an integer")
    if minimum is not None and value < minimum:
        raise BadParams(param, f"must be >= {minimum}")
    return value


def names(params: list, param: str) -> list[str]:
    out = []
    for value in params:
        value = name(value, param)
        if value not in out:
            out.append(value)
    return out


def decimal_equal_member(value: str, allowed: list[str]) -> bool:
    try:
        v = Decimal(value)
    except (InvalidOperation, ValueError):
        return False
    if not v.is_finite():
        return False
    return any(v == Decimal(a) for a in allowed)


# -- subscription keys (registry members) and channel-layer group names ---------------------
# A key is also the group name: ASCII letters, digits, '-', '_', '.', < 100 chars.
def depth_key(market: str, limit: int, interval: str) -> str:
    return f"depth.{market}.{limit}.{interval}"


def kline_key(market: str, interval: int) -> str:
    return f"kline.{market}.{interval}"


def market_key(kind: str, market: str) -> str:  # price, state, today, deals
    return f"{kind}.{market}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def order_key(user_id: int, market: str) -> str:
    return f"order.{user_id}.{market}"


def asset_key(user_id: int, asset: str) -> str:
    return f"asset.{user_id}.{asset}"


def interval_safe(interval: str) -> bool:
    return bool(re.fullmatch(r"[0-9.]{1,15}", interval))


# -- depth diff (websocket.md §5.1) ---------------------------------------------------------
def _side_diff(old: list, new: list, limit: int, sign: int) -> list:
    out = []
    i = j = 0
    po = [Decimal(p) for p, _ in old]
    pn = [Decimal(p) for p, _ in new]
    while i < len(old) and j < len(new):
        a, b = po[i], pn[j]
        if a == b:
            if Decimal(old[i][1]) != Decimal(new[j][1]):
                out.append(new[j])
            i += 1
            j += 1
        elif (a - b) * sign < 0:  # old level comes first: it vanished
            out.append([old[i][0], "0"])
            i += 1
        else:
            out.append(new[j])
            j += 1
    out.extend(new[j:])
    if len(new) < limit:
        out.extend([p, "0"] for p, _ in old[i:])
    return out


def depth_diff(old: dict, new: dict, limit: int) -> dict:
    """The changes from book `old` to book `new` (each {"asks": [[p, a]...], "bids": ...});
    a side without changes is omitted; {} = no change."""
    diff = {}
    asks = _side_diff(old.get("asks", []), new.get("asks", []), limit, 1)
    if asks:
        diff["asks"] = asks
    bids = _side_diff(old.get("bids", []), new.get("bids", []), limit, -1)
    if bids:
        diff["bids"] = bids
    return diff
