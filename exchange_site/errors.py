"""Error replies of the site, whatever DEBUG is: never a traceback or an HTML page on an API
path, never a traceback for a refused request (bad Host, SuspiciousOperation) anywhere.

- API paths (`/api/…`) answer every error in REST v1's shape (docs/api.md "Errors"):
  ``{"error": {"type": …, "message": …}}``. `POST /` (JSON-RPC) is answered by its own app.
- ``ApiErrorMiddleware`` (first in MIDDLEWARE): an error response under `/api/` that is
  not JSON — Django's 404 (the DEBUG one lists URL patterns), a 400 for a
  SuspiciousOperation, a 413, a 500 (DEBUG: the traceback page) — is replaced by the JSON
  error of the same status; exceptions a view lets through (DRF re-raises what is not an
  APIException) are answered here: SuspiciousOperation / BadRequest → 400, a body over
  ``DATA_UPLOAD_MAX_MEMORY_SIZE`` → 413. With DEBUG on, the other paths get Django's plain
  400/404 pages instead of the technical ones.
- ``SafeExceptionReporter`` (``DEFAULT_EXCEPTION_REPORTER``): with DEBUG on, Django renders
  a SuspiciousOperation, and any error of an API path, with this reporter — a plain page
  with no traceback (the traceback is still logged). It also never reads the request's
  parameters again (TooManyFieldsSent raised while rendering turned a 400 into a 500).
"""
from __future__ import annotations

import orjson
from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import HttpResponse
from django.utils.deprecation import MiddlewareMixin
from django.views import defaults
from django.views.debug import ExceptionReporter

API_PREFIX = "/api/"

#: HTTP status → (type, message) of the generic JSON error
GENERIC = {
    400: ("bad_request", "Bad request."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    413: ("request_too_large", "Request body too large."),
    500: ("server_error", "Internal server error."),
}

_PLAIN_PAGE = defaults.ERROR_PAGE_TEMPLATE


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIX)


def error_body(error_type: str, message: str) -> bytes:
    return orjson.dumps({"error": {"type": error_type, "message": message}})


def plain_page(status: int) -> bytes:
    titles = {400: "Bad Request (400)", 403: "403 Forbidden", 404: "Not Found", 413: "Request Entity Too Large",
              500: "Server Error (500)"}
    return (_PLAIN_PAGE % {"title": titles.get(status, str(status)), "details": ""}).encode()


# -- ASGI helpers (exchange_site/guard.py) ---------------------------------------------------
async def send_plain(send, status: int, body: bytes, content_type: bytes | None = None) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type))
    if status == 413:
        headers.append((b"connection", b"close"))  # the rest of the body is not read
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(send, scope, status: int, error_type: str, message: str) -> None:
    """A refusal before the application: JSON on API paths, a plain page elsewhere."""
    if is_api_path(scope.get("path", "")):
        await send_plain(send, status, error_body(error_type, message), b"application/json")
    else:
        await send_plain(send, status, plain_page(status), b"text/html; charset=utf-8")


# -- Django ----------------------------------------------------------------------------------
def json_error(status: int, error_type: str | None = None, message: str | None = None) -> HttpResponse:
    default_type, default_message = GENERIC.get(status, ("error", "Error."))
    return HttpResponse(error_body(error_type or default_type, message or default_message), status=status,
                        content_type="application/json")


def _is_json(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


class ApiErrorMiddleware(MiddlewareMixin):
    def process_request(self, request):
        # every API path ends with a slash; CommonMiddleware's APPEND_SLASH cannot redirect
        # a POST/DELETE (with DEBUG it raises: a 500) — answer 404 naming the right path
        path = request.path
        if is_api_path(path) and not path.endswith("/") and request.method not in ("GET", "HEAD"):
            return json_error(404, "not_found", f"Not found (API paths end with a slash: {path}/).")
        return None

    def process_response(self, request, response):
        status = response.status_code
        if status < 400 or _is_json(response):
            return response
        if is_api_path(request.path):
            replaced = json_error(status)
            for header in ("Retry-After", "WWW-Authenticate", "Allow"):
                if header in response:
                    replaced[header] = response[header]
            return replaced
        if settings.DEBUG and status in (400, 404):
            # the technical pages (URL patterns, tracebacks) are for 500s only
            return HttpResponse(plain_page(status), status=status)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig):
            return self._refused(request, 413, "request_too_large", "Request body too large.")
        if isinstance(exception, TooManyFieldsSent):
            return self._refused(request, 400, "too_many_fields", "Too many parameters.")
        if isinstance(exception, (SuspiciousOperation, BadRequest)):
            return self._refused(request, 400, "bad_request", "Bad request.")
        return None

    @staticmethod
    def _refused(request, status, error_type, message):
        if is_api_path(request.path):
            return json_error(status, error_type, message)
        return HttpResponse(plain_page(status), status=status)


class SafeExceptionReporter(ExceptionReporter):
    """DEBUG pages without a traceback for refused requests and for API paths."""

    def _plain(self) -> bool:
        if isinstance(self.exc_value, (SuspiciousOperation, BadRequest)):
            return True
        path = getattr(self.request, "path", "") or ""
        return is_api_path(path)

    def _status(self) -> int:
        return 400 if isinstance(self.exc_value, (SuspiciousOperation, BadRequest)) else 500

    def get_traceback_html(self):
        if self._plain():
            return plain_page(self._status()).decode()
        return super().get_traceback_html()

    def get_traceback_text(self):
        if self._plain():
            return GENERIC[self._status()][1]
        return super().get_traceback_text()
