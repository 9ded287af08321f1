"""REST v1 authentication: signed API-key requests, and the scope map of each view.

A request carrying `X-API-KEY` must also carry `X-API-TIMESTAMP` (Unix ms) and
`X-API-SIGNATURE` = lowercase hex HMAC-SHA256(secret, timestamp + METHOD + path-with-query
+ body). Without `X-API-KEY` the next authenticator (the browser session, with CSRF) runs.
"""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from .models import SCOPE_READ, SCOPE_TRADE, ApiKey
from .services import ApiKeyError, ReplayStoreUnavailable, api_request_verify

HEADER_KEY = "X-API-KEY"
HEADER_TIMESTAMP = "X-API-TIMESTAMP"
HEADER_SIGNATURE = "X-API-SIGNATURE"


class GuardUnavailable(exceptions.APIException):
    """HTTP 503: the Redis that REST v1 needs to guard a request (replay marks of signatures,
    throttle counters) is unreachable. Fail closed: the request is not served, and changes
    nothing. The REST exception handler logs it once (and not again as a plain 5xx)."""

    status_code = 503
    default_code = "unavailable"
    default_detail = ("Service temporarily unavailable: the request guard store (replay protection, "
                      "rate limits) cannot be reached. Nothing was done; retry later.")
    wait = 5  # Retry-After, seconds


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        access_id = request.headers.get(HEADER_KEY)
        if access_id is None:
            return None
        django_request = request._request
        try:
            api_key = api_request_verify(
                access_id=access_id,
                timestamp=request.headers.get(HEADER_TIMESTAMP, ""),
                signature=request.headers.get(HEADER_SIGNATURE, ""),
                method=django_request.method,
                path=django_request.get_full_path(),
                body=django_request.body,
            )
        except ApiKeyError as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        except ReplayStoreUnavailable as exc:
            raise GuardUnavailable() from exc
        return api_key.user, api_key

    def authenticate_header(self, request):
        return 'ApiKey realm="api"'


class HasScope(permissions.BasePermission):
    """Sentry-style scope map: `view.scope_map = {"GET": "read", "POST": "trade"}`.

    Only API-key requests are limited by scopes; a browser session has every scope.
    """

    message = "This API key lacks the scope this request needs."
    default_map = {"GET": SCOPE_READ, "HEAD": SCOPE_READ, "OPTIONS": SCOPE_READ}

    def has_permission(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return True
        scope_map = getattr(view, "scope_map", None) or {}
        needed = scope_map.get(request.method) or self.default_map.get(request.method, SCOPE_TRADE)
        if needed not in request.auth.scope_set:
            self.message = f"This API key lacks the '{needed}' scope."
            return False
        return True


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = ["ApiKey", "ApiTimestamp", "ApiSignature"]

    def get_security_requirement(self, auto_schema):
        return {name: [] for name in self.name}

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": HEADER_KEY, "description": "The key's public access id."},
            {"type": "apiKey", "in": "header", "name": HEADER_TIMESTAMP,
             "description": "Unix time in milliseconds; accepted within ±30 s of the server clock."},
            {"type": "apiKey", "in": "header", "name": HEADER_SIGNATURE,
             "description": "Lowercase hex HMAC-SHA256(secret, timestamp + METHOD + path with query + body). "
                            "Each signature is accepted once."},
        ]
