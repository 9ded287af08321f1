"""Alerts (apps.alerts, apps.console; docs/alerts.md): CRITICAL records of every process
→ Redis list → `manage.py alert_worker` → Alert rows + mail to the operators."""
from exchange_site.logging import alert_handler

from .base import env
from .logging import LOGGING
from .stores import REDIS_URL

ALERTS_ENABLED = env.bool("ALERTS_ENABLED", default=True)  # off: the handler drops every record
ALERT_REDIS_URL = env.str("ALERT_REDIS_URL", default=REDIS_URL)
ALERT_REDIS_KEY = env.str("ALERT_REDIS_KEY", default="alert:message")  # the original alertcenter's list
ALERT_REDIS_MAX_LEN = env.int("ALERT_REDIS_MAX_LEN", default=10_000)  # list trimmed to the newest N (worker down)
ALERT_QUEUE_SIZE = env.int("ALERT_QUEUE_SIZE", default=1000)  # records buffered per process; more are dropped
ALERT_SOCKET_TIMEOUT = env.float("ALERT_SOCKET_TIMEOUT", default=0.5)  # s, connect and push
ALERT_GROUP_WINDOW_S = env.float("ALERT_GROUP_WINDOW_S", default=300.0)  # same message within → one row, one mail
ALERT_EMAILS = env.list("ALERT_EMAILS", default=[])  # recipients; empty → the addresses of ADMINS
ALERT_FROM_EMAIL = env.str("ALERT_FROM_EMAIL", default="exchange-alert@localhost")
ALERT_EMAIL_SUBJECT_PREFIX = env.str("ALERT_EMAIL_SUBJECT_PREFIX", default="[exchange alert] ")
ADMINS = [(a, a) for a in env.list("ADMINS", default=[])]  # addresses; Django's (name, address) pairs
# Mail: EMAIL_URL (smtp://user:pass@host:25, smtp+tls://…:587, smtp+ssl://…:465) in
# production; without it mails are printed by the console backend.
if env.str("EMAIL_URL", default=""):
    globals().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)  # s, SMTP connection

LOGGING["handlers"]["alerts"] = alert_handler(
    ALERT_REDIS_URL, ALERT_REDIS_KEY, enabled=ALERTS_ENABLED, capacity=ALERT_QUEUE_SIZE,
    timeout=ALERT_SOCKET_TIMEOUT, max_len=ALERT_REDIS_MAX_LEN)
LOGGING["root"]["handlers"].append("alerts")
