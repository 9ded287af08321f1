"""The one door from REST v1 to the matcher: every call goes through `call`, which tags a
failure with the method so the exception handler can choose the HTTP status."""
from decimal import Decimal

from apps.trading import client
from apps.trading.errors import RpcError

U32 = 2**32 - 1


def call(method: str, params: list):
    try:
        return client.call_sync(method, params)
    except RpcError as exc:
        exc.method = method
        raise


def engine_user_id(user) -> int:
    """The engine user id of a REST user is the Django auth user's pk (docs/matcher-core.md)."""
    if not 0 < user.pk <= U32:
        raise RpcError.invalid("user", "user id out of the engine's range")
    return user.pk


def plain(value) -> str:
    """A decimal (or the matcher's `fmt` string such as "0e-8") in plain notation,
    trailing zeros stripped: "1.5", "0", "100"."""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if d.is_zero():
        return "0"
    s = format(d.normalize(), "f")
    return s
