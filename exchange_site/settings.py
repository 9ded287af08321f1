"""One settings module for every process. All configuration comes from environment
variables (see README "Environment"); defaults are safe for a local checkout."""
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
RUN_DIR = Path(env.str("RUN_DIR", default=str(BASE_DIR / ".run")))  # state of the embedded dev services

EXCHANGE_ENV = env.str("EXCHANGE_ENV", default="development")  # development | production
PRODUCTION = EXCHANGE_ENV == "production"

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise environ.ImproperlyConfigured("DEBUG must be off when EXCHANGE_ENV=production")
if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")  # required: fails loudly when missing
else:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-secret-key-change-me-0123456789")

PORT = env.int("PORT", default=8000)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "apps.markets",
    "apps.accounts",
    "apps.trading",
    "apps.history",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "exchange_site.urls"
ASGI_APPLICATION = "exchange_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- databases -------------------------------------------------------------------------
# DATABASE_URL: mysql://user:pass@host:3306/name in production and tests; the embedded
# default is a SQLite file in WAL mode.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{RUN_DIR / 'db.sqlite3'}"),
}
# History reads may go to a replica (apps.history.routers); defaults to the main database.
if env.str("HISTORY_DATABASE_URL", default=""):
    DATABASES["history"] = env.db_url("HISTORY_DATABASE_URL")
    DATABASES["history"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["apps.history.routers.HistoryRouter"]


def _tune_database(db):
    if db["ENGINE"] == "django.db.backends.mysql":
        db.setdefault("OPTIONS", {}).update(
            {"charset": "utf8mb4", "init_command": "SET sql_mode='STRICT_TRANS_TABLES', time_zone='+00:00'"}
        )
        db.setdefault("TEST", {}).update({"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"})
    elif db["ENGINE"] == "django.db.backends.sqlite3":
        db.setdefault("OPTIONS", {}).update(
            {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "transaction_mode": "IMMEDIATE"}
        )


for _db in DATABASES.values():
    _tune_database(_db)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- services --------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
KAFKA_BOOTSTRAP = env.str("KAFKA_BOOTSTRAP", default="127.0.0.1:9092")
# The matcher's RPC address (loopback by default; it trusts whoever can connect).
MATCHER_RPC_HOST = env.str("MATCHER_RPC_HOST", default="127.0.0.1")
MATCHER_RPC_PORT = env.int("MATCHER_RPC_PORT", default=7316)

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 has a 5 s socket timeout that kills idle websocket receives.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}], "capacity": 1500, "expiry": 10},
    }
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TIMEZONE = "UTC"

# --- APIs ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Exchange platform REST v1",
    "DESCRIPTION": "Authenticated REST API for frontends. The ViaBTC JSON-RPC interface is at POST /.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- logging: one line per record, for every process (web, matcher, workers) -----------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")  # json | console
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "()": "exchange_site.logging.one_line_formatter",
            "fmt": LOG_FORMAT,
        },
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "structured"},
    },
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "daphne": {"level": "WARNING"},
    },
}

# === REST v1 and API keys (apps.accounts, apps.trading.rest) — owner: REST v1 =========
import base64 as _base64  # noqa: E402
import hashlib as _hashlib  # noqa: E402

# Fernet keys that encrypt API secrets at rest (first encrypts, all decrypt). The default
# is derived from SECRET_KEY; set it explicitly in production so that rotating
# SECRET_KEY does not make every stored secret unreadable.
API_KEY_ENCRYPTION_KEY = env.list(
    "API_KEY_ENCRYPTION_KEY",
    default=[_base64.urlsafe_b64encode(_hashlib.sha256(b"api-key-encryption:" + SECRET_KEY.encode()).digest()).decode()],
)
API_SIGNATURE_WINDOW_S = env.int("API_SIGNATURE_WINDOW_S", default=30)  # ± around the server clock
API_REPLAY_CACHE = "api"  # the CACHES alias remembering used signatures (SET NX with a TTL)
# Fee rates of orders placed through REST v1 (the matcher takes them per order).
REST_TAKER_FEE_RATE = env.str("REST_TAKER_FEE_RATE", default="0.002")
REST_MAKER_FEE_RATE = env.str("REST_MAKER_FEE_RATE", default="0.001")

CACHES = globals().get("CACHES") or {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CACHES["api"] = {
    "BACKEND": "django.core.cache.backends.redis.RedisCache",
    "LOCATION": env.str("API_CACHE_URL", default=REDIS_URL),
    "KEY_PREFIX": "api",
}
# Authentication is global (an X-API-KEY header or a session); permissions, throttles,
# parsers and the error handler are set on the REST v1 base views
# (apps.trading.rest.views.ApiView), so other DRF endpoints keep their own behaviour.
REST_FRAMEWORK.update(
    {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "apps.accounts.authentication.ApiKeyAuthentication",
            "rest_framework.authentication.SessionAuthentication",
        ],
        "DEFAULT_THROTTLE_RATES": {
            "anon": env.str("API_THROTTLE_ANON", default="120/min"),
            "user": env.str("API_THROTTLE_USER", default="1200/min"),
        },
    }
)
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {"OrderSideEnum": ["sell", "buy"], "OrderTypeEnum": ["limit", "market"]}
)
# === end REST v1 ======================================================================

# === Access layer: matcher client and ViaBTC JSON-RPC at POST / (apps.trading) — owner: access layer
# Seconds the access layer waits for a matcher reply (the original accesshttp: 1.0 s);
# on expiry the caller gets code 5 "service timeout" (the command may still apply).
MATCHER_RPC_TIMEOUT = env.float("MATCHER_RPC_TIMEOUT", default=1.0)
MATCHER_RPC_POOL_SIZE = env.int("MATCHER_RPC_POOL_SIZE", default=2)  # connections per event loop
# Who may call POST /: callers from these networks, and/or callers presenting the service
# token (`Authorization: Bearer <token>` or `X-Service-Token: <token>`). With
# JSONRPC_REQUIRE_TOKEN both are needed. Browser cross-site requests are always refused.
JSONRPC_ALLOWED_NETWORKS = env.list("JSONRPC_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
JSONRPC_SERVICE_TOKEN = env.str("JSONRPC_SERVICE_TOKEN", default="")
JSONRPC_REQUIRE_TOKEN = env.bool("JSONRPC_REQUIRE_TOKEN", default=False)
# Reverse proxies whose X-Forwarded-For / X-Real-IP is believed (the caller is then the
# right-most forwarded address that is not a proxy).
JSONRPC_TRUSTED_PROXIES = env.list("JSONRPC_TRUSTED_PROXIES", default=["127.0.0.0/8", "::1/128"])
JSONRPC_ALLOWED_ORIGINS = env.list("JSONRPC_ALLOWED_ORIGINS", default=[])  # extra same-site origins
JSONRPC_MAX_BODY = env.int("JSONRPC_MAX_BODY", default=4 * 1024 * 1024)  # bytes; larger → 400
JSONRPC_BACKEND_TIMEOUT = env.float("JSONRPC_BACKEND_TIMEOUT", default=MATCHER_RPC_TIMEOUT)  # history/market data
JSONRPC_THREADS = env.int("JSONRPC_THREADS", default=8)  # threads for history (ORM) methods
# A batch's matcher calls share one deadline: MATCHER_RPC_TIMEOUT + this many seconds per call.
JSONRPC_BATCH_TIMEOUT_PER_CALL = env.float("JSONRPC_BATCH_TIMEOUT_PER_CALL", default=0.002)
# === end access layer ===================================================================

# --- matcher durability (matcher/log, matcher/sinks; docs/durability.md) ----------------
SNAPSHOT_INTERVAL = env.float("SNAPSHOT_INTERVAL", default=3600.0)  # s between snapshots; 0 = only on demand
SNAPSHOT_KEEP = env.int("SNAPSHOT_KEEP", default=3)  # snapshots retained; the log is pruned behind the oldest
MATCHER_KAFKA = env.bool("MATCHER_KAFKA", default=True)  # publish deals/orders/balances to KAFKA_BOOTSTRAP
MATCHER_HISTORY = env.bool("MATCHER_HISTORY", default=True)  # write balance/order/deal history rows
# back-pressure: mutating commands get code 3 while a backlog is at or over its limit
MATCHER_LOG_BACKLOG_LIMIT = env.int("MATCHER_LOG_BACKLOG_LIMIT", default=50_000)  # uncommitted log entries
MATCHER_HISTORY_LAG_LIMIT = env.int("MATCHER_HISTORY_LAG_LIMIT", default=5_000)  # committed operations without history rows yet
# s since the oldest acknowledged operation without history rows yet was acknowledged (0 = off);
# keeps history queryable within 1 s of the acknowledgement (spec README §6)
MATCHER_HISTORY_LAG_LIMIT_S = env.float("MATCHER_HISTORY_LAG_LIMIT_S", default=0.3)
MATCHER_HISTORY_BATCH = env.int("MATCHER_HISTORY_BATCH", default=1_000)  # operations per history transaction at most
MATCHER_KAFKA_BACKLOG_LIMIT = env.int("MATCHER_KAFKA_BACKLOG_LIMIT", default=500_000)  # undelivered events
MATCHER_CONFIG_SYNC_INTERVAL = env.float("MATCHER_CONFIG_SYNC_INTERVAL", default=5.0)  # Asset/Market → matcher
FEE_ACCOUNT_USER_ID = env.int("FEE_ACCOUNT_USER_ID", default=None)  # fees credited to this user (0 = none)
MATCHER_KAFKA_TOPIC_PREFIX = env.str("MATCHER_KAFKA_TOPIC_PREFIX", default="")  # tests: isolated topics

# --- market data (apps.marketdata; docs/marketdata.md) ----------------------------------
MARKETDATA_REDIS_URL = env.str("MARKETDATA_REDIS_URL", default=REDIS_URL)  # the store (klines, status, deals)
MARKETDATA_KEY_PREFIX = env.str("MARKETDATA_KEY_PREFIX", default="md:")  # every store key starts with it
MARKETDATA_DEALS_TOPIC = env.str("MARKETDATA_DEALS_TOPIC", default=MATCHER_KAFKA_TOPIC_PREFIX + "deals")
MARKETDATA_BATCH = env.int("MARKETDATA_BATCH", default=20_000)  # messages applied per Redis transaction at most
MARKETDATA_DEALS_KEEP = env.int("MARKETDATA_DEALS_KEEP", default=10_000)  # recent deals per market (market.deals)
MARKETDATA_DEDUPE_WINDOW = env.int("MARKETDATA_DEDUPE_WINDOW", default=100_000)  # deal ids remembered per market
MARKETDATA_LOG_CHECK_INTERVAL = env.float("MARKETDATA_LOG_CHECK_INTERVAL", default=10.0)  # s between broker-log checks
# retention of the base klines in Redis, seconds (marketprice.md §5); day buckets are kept forever
MARKETDATA_KEEP_1S = env.int("MARKETDATA_KEEP_1S", default=7 * 86400)
MARKETDATA_KEEP_1M = env.int("MARKETDATA_KEEP_1M", default=365 * 86400)
MARKETDATA_KEEP_1H = env.int("MARKETDATA_KEEP_1H", default=10 * 365 * 86400)
MARKETDATA_KEEP_1D = None
MARKETDATA_PERSIST_INTERVAL = env.float("MARKETDATA_PERSIST_INTERVAL", default=60.0)  # s: closed klines → Kline table
MARKETDATA_PRUNE_INTERVAL = env.float("MARKETDATA_PRUNE_INTERVAL", default=3600.0)  # s: Redis pruned per retention
INSTALLED_APPS += ["apps.marketdata"]
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "marketdata-persist-klines": {"task": "marketdata.persist_klines", "schedule": MARKETDATA_PERSIST_INTERVAL},
    "marketdata-prune-store": {"task": "marketdata.prune_store", "schedule": MARKETDATA_PRUNE_INTERVAL},
}
