"""The REST v1 exception handler: one body shape for every error.

    {"error": {"type": "invalid", "code": 1, "message": "invalid argument",
               "fields": {"amount": ["At most 8 decimals."]}}}

`code` is the ViaBTC code when there is one (validation = 1, matcher errors); `fields`
names the offending request fields; `data` carries the matcher's extra data.
"""
import logging

from django.core.exceptions import (
    BadRequest, PermissionDenied, RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent,
)
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from apps.accounts.authentication import GuardUnavailable
from apps.wire.errors import (
    INTERNAL_ERROR,
    INVALID_ARGUMENT,
    METHOD_NOT_FOUND,
    SERVICE_TIMEOUT,
    SERVICE_UNAVAILABLE,
    RpcError,
)

GENERIC_STATUS = {
    INVALID_ARGUMENT: status.HTTP_400_BAD_REQUEST,
    INTERNAL_ERROR: status.HTTP_500_INTERNAL_SERVER_ERROR,
    SERVICE_UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
    METHOD_NOT_FOUND: status.HTTP_500_INTERNAL_SERVER_ERROR,
    SERVICE_TIMEOUT: status.HTTP_504_GATEWAY_TIMEOUT,
}
# (method, code) → (HTTP status, field the error is about or None, message override)
METHOD_STATUS = {
    ("order.put_limit", 10): (400, None, None),  # balance not enough
    ("order.put_limit", 11): (400, "amount", None),  # amount too small
    ("order.put_limit", 12): (409, "post_only", None),  # order would trade
    ("order.put_limit", 13): (409, "time_in_force", None),  # fill or kill not satisfied
    ("order.put_limit", 14): (409, "client_order_id", None),  # duplicate client order id
    ("order.put_market", 10): (400, None, None),
    ("order.put_market", 11): (400, "amount", None),
    ("order.put_market", 12): (409, None, None),  # no enough trader
    ("order.put_market", 13): (409, "client_order_id", None),
    ("order.cancel", 10): (404, None, None),  # order not found
    ("order.cancel", 11): (404, None, "order not found"),  # another user's order: not found
    ("balance.update", 10): (409, "business_id", None),  # repeat update
    ("balance.update", 11): (400, "amount", None),  # balance not enough
}
PARAM_FIELDS = {  # matcher param names → REST field names
    "options.client_order_id": "client_order_id",
    "options.time_in_force": "time_in_force",
    "options.post_only": "post_only",
    "options.self_trade": "self_trade",
    "change": "amount",
}

logger = logging.getLogger(__name__)

TIMEOUT_HINT = (
    "The matcher did not answer in time; the command may still have been applied. Retry an order "
    "with the same client_order_id (or a deposit with the same business_id): a duplicate is refused."
)


def _rpc_response(exc: RpcError) -> Response:
    method = getattr(exc, "method", None)
    http, field, message = METHOD_STATUS.get((method, exc.code), (None, None, None))
    if http is None:
        http = GENERIC_STATUS.get(exc.code, status.HTTP_400_BAD_REQUEST if exc.code >= 10 else 500)
    error = {"type": "matcher", "code": exc.code, "message": message or exc.message}
    data = exc.data if isinstance(exc.data, dict) else None
    if exc.code == INVALID_ARGUMENT and data and "param" in data:
        param = PARAM_FIELDS.get(data["param"], data["param"])
        error["type"] = "invalid"
        error["fields"] = {param: [data.get("reason", "invalid")]}
    elif field:
        error["fields"] = {field: [error["message"]]}
    if exc.code == SERVICE_TIMEOUT:
        error["message"] = f"{exc.message}: {TIMEOUT_HINT}"
    if data and http != 404:
        error["data"] = data
    return Response({"error": error}, status=http)


def exception_handler(exc, context):
    if isinstance(exc, RpcError):
        set_rollback()
        return _rpc_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, (SuspiciousOperation, BadRequest)):
        # refused requests (Django's size and count limits among them): a 4xx here, not a
        # re-raise (DRF would then fail on the missing renderer with DEBUG on: a 500)
        set_rollback()
        status_code, error_type, message = _refused(exc)
        return Response({"error": {"type": error_type, "message": message}}, status=status_code)
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let Django answer 500 and log it
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = "%d" % exc.wait
    set_rollback()
    if isinstance(exc, GuardUnavailable):
        return _guard_unavailable_response(exc, context, headers)
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        error = {"type": "invalid", "code": INVALID_ARGUMENT, "message": "invalid argument", "fields": detail}
    else:
        codes = exc.get_codes()
        error = {"type": codes if isinstance(codes, str) else exc.default_code, "message": str(exc.detail)}
    return Response({"error": error}, status=exc.status_code, headers=headers)


def _refused(exc) -> tuple[int, str, str]:
    if isinstance(exc, RequestDataTooBig):
        return 413, "request_too_large", "Request body too large."
    if isinstance(exc, TooManyFieldsSent):
        return 400, "too_many_fields", "Too many parameters."
    return 400, "bad_request", "Bad request."


def _guard_unavailable_response(exc: GuardUnavailable, context, headers: dict) -> Response:
    """503 for an unreachable guard store, logged once: one ERROR naming the cause here, and
    the response marked as logged so django.request does not log it again."""
    request = context.get("request")
    cause = exc.__cause__
    logger.error("REST v1 refused %s %s with 503: the API Redis (replay protection, throttles) is "
                 "unreachable: %s: %s", getattr(request, "method", "?"), getattr(request, "path", "?"),
                 type(cause).__name__ if cause else "-", cause or "")
    response = Response({"error": {"type": exc.default_code, "message": str(exc.detail)}},
                        status=exc.status_code, headers=headers)
    response._has_been_logged = True
    return response
