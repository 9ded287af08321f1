"""The one door from the access layer's sync code (REST v1, the admin console, Celery
tasks) to the matcher: every call goes through `call`, which tags a failure with the
method so a transport can choose its status (REST: apps.trading.rest.errors)."""
from apps.trading import client
from apps.wire.errors import RpcError
from apps.wire.numbers import U32


def call(method: str, params: list):
    try:
        return client.call_sync(method, params)
    except RpcError as exc:
        exc.method = method
        raise


def engine_user_id(user) -> int:
    """The engine user id of a Django user is the auth user's pk (docs/matcher-core.md)."""
    if not 0 < user.pk <= U32:
        raise RpcError.invalid("user", "user id out of the engine's range")
    return user.pk


def order_not_found() -> RpcError:
    """Code 10 `order not found`, tagged as order.cancel's (REST maps it to 404): an order
    that does not exist or is another user's."""
    err = RpcError(10, "order not found")
    err.method = "order.cancel"
    return err
