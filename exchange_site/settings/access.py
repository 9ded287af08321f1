"""The access layer: ViaBTC JSON-RPC at POST / (apps.trading.jsonrpc), REST v1 and DRF
(apps.trading.rest), API keys (apps.accounts), throttles, fees, OpenAPI (docs/api.md)."""
import base64
import hashlib

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from .base import PRODUCTION, SECRET_KEY, env
from .matcher import MATCHER_RPC_TIMEOUT

# --- JSON-RPC at POST / ------------------------------------------------------------------
# Who may call POST /: callers from these networks, and/or callers presenting the service
# token (`Authorization: Bearer <token>` or `X-Service-Token: <token>`). With
# JSONRPC_REQUIRE_TOKEN both are needed. Browser cross-site requests are always refused.
JSONRPC_ALLOWED_NETWORKS = env.list("JSONRPC_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
JSONRPC_SERVICE_TOKEN = env.str("JSONRPC_SERVICE_TOKEN", default="")  # empty: tokens disabled
JSONRPC_REQUIRE_TOKEN = env.bool("JSONRPC_REQUIRE_TOKEN", default=False)  # token in addition to the network
# Reverse proxies whose X-Forwarded-For / X-Real-IP is believed, for every per-client
# decision: JSON-RPC's networks and REST's anonymous throttle (exchange_site/proxies.py).
# The client is then the right-most forwarded address that is not a proxy. None by default.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
JSONRPC_ALLOWED_ORIGINS = env.list("JSONRPC_ALLOWED_ORIGINS", default=[])  # extra same-site origins
JSONRPC_MAX_BODY = env.int("JSONRPC_MAX_BODY", default=4 * 1024 * 1024)  # bytes; larger → 400
JSONRPC_BACKEND_TIMEOUT = env.float("JSONRPC_BACKEND_TIMEOUT", default=MATCHER_RPC_TIMEOUT)  # s; history/market data
JSONRPC_THREADS = env.int("JSONRPC_THREADS", default=8)  # threads for history (ORM) methods
# A batch's matcher calls share one deadline: MATCHER_RPC_TIMEOUT + this many seconds per call.
JSONRPC_BATCH_TIMEOUT_PER_CALL = env.float("JSONRPC_BATCH_TIMEOUT_PER_CALL", default=0.002)

# --- REST v1 and API keys ----------------------------------------------------------------
# Fernet keys that encrypt API secrets at rest (first encrypts, all decrypt). Required in
# production, so that rotating SECRET_KEY does not make every stored secret unreadable; in
# development the default is derived from SECRET_KEY.
if PRODUCTION:
    API_KEY_ENCRYPTION_KEY = env.list("API_KEY_ENCRYPTION_KEY")  # required in production: fails loudly when missing
else:
    API_KEY_ENCRYPTION_KEY = env.list(
        "API_KEY_ENCRYPTION_KEY",
        default=[base64.urlsafe_b64encode(hashlib.sha256(b"api-key-encryption:" + SECRET_KEY.encode()).digest()).decode()],
    )
for _key in API_KEY_ENCRYPTION_KEY or [""]:
    try:
        Fernet(_key)
    except (ValueError, TypeError):
        raise ImproperlyConfigured("API_KEY_ENCRYPTION_KEY: each key must be a Fernet key "
                                   "(32 url-safe base64-encoded bytes, e.g. from Fernet.generate_key())") from None
API_SIGNATURE_WINDOW_S = env.int("API_SIGNATURE_WINDOW_S", default=30)  # ± s around the server clock
API_REPLAY_CACHE = "api"  # the CACHES alias remembering used signatures (SET NX with a TTL)
# Fee rates of orders placed through REST v1 (the matcher takes them per order).
REST_TAKER_FEE_RATE = env.str("REST_TAKER_FEE_RATE", default="0.002")  # taker fee rate of REST orders
REST_MAKER_FEE_RATE = env.str("REST_MAKER_FEE_RATE", default="0.001")  # maker fee rate of REST orders

# Authentication is global (an X-API-KEY header or a session); permissions, throttles,
# parsers and the error handler are set on the REST v1 base views
# (apps.trading.rest.views.ApiView), so other DRF endpoints keep their own behaviour.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="120/min"),
        "user": env.str("API_THROTTLE_USER", default="1200/min"),
    },
}
# OpenAPI of REST v1 (drf-spectacular, /api/v1/schema).
SPECTACULAR_SETTINGS = {
    "TITLE": "Exchange platform REST v1",
    "DESCRIPTION": "Authenticated REST API for frontends. The ViaBTC JSON-RPC interface is at POST /.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # the docs pages load their assets from this site (drf-spectacular-sidecar), not a CDN
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},  # no calls to validator.swagger.io
    "ENUM_NAME_OVERRIDES": {"OrderSideEnum": ["sell", "buy"], "OrderTypeEnum": ["limit", "market"]},
}
