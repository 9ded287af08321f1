"""``manage.py raise_alert SOURCE MESSAGE`` — raise an alert from outside a process that
logs, e.g. systemd's OnFailure= unit for a service that died (docs/alerts.md). Goes the
same path as any alert: a CRITICAL record through the Redis handler of settings.LOGGING."""
import logging

from django.core.management.base import BaseCommand

logger = logging.getLogger("apps.alerts.external")


class Command(BaseCommand):
    help = "Raise an alert (a CRITICAL record with SOURCE as the alert's source)."

    def add_arguments(self, parser):
        parser.add_argument("source", help="the process or unit the alert is about, e.g. matcher")
        parser.add_argument("message")

    def handle(self, source, message, **options):
        logger.critical(message, extra={"alert_source": source})
        for handler in logging.getLogger().handlers:
            handler.flush()  # the alert handler waits (briefly) until the record is in Redis
