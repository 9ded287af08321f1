"""Django core: environment, secrets, hosts, apps, middleware, templates, static files, i18n."""
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent  # the repository root
env = environ.Env()  # reads every variable of the settings package

RUN_DIR = Path(env.str("RUN_DIR", default=str(BASE_DIR / ".run")))  # state of the embedded dev services

EXCHANGE_ENV = env.str("EXCHANGE_ENV", default="development")  # development | production
PRODUCTION = EXCHANGE_ENV == "production"  # production: SECRET_KEY required, DEBUG refused

DEBUG = env.bool("DEBUG", default=not PRODUCTION)  # on in development, must be off in production
if PRODUCTION and DEBUG:
    raise environ.ImproperlyConfigured("DEBUG must be off when EXCHANGE_ENV=production")
if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")  # required in production: fails loudly when missing
else:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-secret-key-change-me-0123456789")

PORT = env.int("PORT", default=8000)  # the site's port (uvicorn under `make run`)
if PRODUCTION:
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")  # required in production: fails loudly when missing
    if not ALLOWED_HOSTS:
        raise environ.ImproperlyConfigured("ALLOWED_HOSTS must name the site's hosts when EXCHANGE_ENV=production")
else:
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])  # origins allowed to post forms (TLS proxy)

# HTTPS (`manage.py check --deploy` passes with the production defaults). Behind a
# TLS-terminating proxy, opt in to trusting its scheme header: SECURE_PROXY_SSL_HEADER names
# the header (e.g. X-Forwarded-Proto) that the proxy sets to "https" (and strips from clients).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)  # http → https (Django paths)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if PRODUCTION else 0)  # 0: no HSTS
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)  # HSTS for subdomains
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)  # allow browsers' preload lists
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PRODUCTION)  # session cookie over https only
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=PRODUCTION)  # CSRF cookie over https only
_proxy_ssl_header = env.str("SECURE_PROXY_SSL_HEADER", default="")  # empty: the proxy's header is not trusted
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.strip().upper().replace("-", "_"), "https") if _proxy_ssl_header.strip() else None
)

# Django apps; steps 8-10 add apps.marketdata, apps.realtime, apps.alerts (or their names).
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
    "drf_spectacular_sidecar",  # Swagger UI / Redoc assets served locally (no CDN)
    "channels",
    "apps.markets",
    "apps.accounts",
    "apps.trading",
    "apps.history",
    "apps.durability",
    "apps.marketdata",
    "apps.realtime",
    "apps.alerts",
    "apps.console",
]

# Django middleware of the site (JSON-RPC at POST / is an ASGI app in front of it).
MIDDLEWARE = [
    "exchange_site.errors.ApiErrorMiddleware",  # JSON errors under /api/, no DEBUG pages for refusals
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files, also with DEBUG off
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# DEBUG pages: no traceback for a refused request (SuspiciousOperation) or an API path.
DEFAULT_EXCEPTION_REPORTER = "exchange_site.errors.SafeExceptionReporter"

ROOT_URLCONF = "exchange_site.urls"  # the site's URLs
ASGI_APPLICATION = "exchange_site.asgi.application"  # HTTP (JSON-RPC, Django) and websockets

# Django templates: the project's templates/ plus each app's.
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

# Django's password checks for user accounts.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"  # default language of the site
TIME_ZONE = "UTC"  # every process runs in UTC
USE_I18N = True  # Django translation machinery on
USE_TZ = True  # aware datetimes everywhere

STATIC_URL = "static/"  # URL prefix of static files
STATICFILES_DIRS = [BASE_DIR / "static"]  # the project's own static files
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))  # collectstatic; make run: .run/static
