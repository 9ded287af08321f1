"""Databases: the main one, the optional history replica, the router, per-engine tuning."""
from .base import RUN_DIR, env

# DATABASE_URL: mysql://user:pass@host:3306/name in production and tests; the embedded
# default is a SQLite file in WAL mode.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{RUN_DIR / 'db.sqlite3'}"),
}
# History reads may go to a replica (apps.history.routers); unset: the main database.
if env.str("HISTORY_DATABASE_URL", default=""):
    DATABASES["history"] = env.db_url("HISTORY_DATABASE_URL")
    DATABASES["history"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["apps.history.routers.HistoryRouter"]  # history reads → "history" if configured


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

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"  # primary keys of new models
