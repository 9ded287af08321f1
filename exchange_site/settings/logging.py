"""Logging: one line per record, for every process (web, matcher, workers)."""
from .base import env

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")  # root logger level
LOG_FORMAT = env.str("LOG_FORMAT", default="json")  # json | console
# stderr, one line per record (exchange_site.logging.one_line_formatter).
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
