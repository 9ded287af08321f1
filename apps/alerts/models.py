"""Alerts: CRITICAL log records and supervisor events, grouped (docs/alerts.md)."""
from django.conf import settings
from django.db import models


class Alert(models.Model):
    """One alert: the same message from the same source within ALERT_GROUP_WINDOW_S of
    the previous occurrence is counted on the same row (``count``, ``last_seen``)."""

    class Status(models.TextChoices):
        OPEN = "open", "open"
        ACKNOWLEDGED = "acknowledged", "acknowledged"
        RESOLVED = "resolved", "resolved"

    source = models.CharField(max_length=100, db_index=True, help_text="process name, e.g. matcher")
    fingerprint = models.CharField(max_length=64, help_text="hash of source and normalized message")
    level = models.CharField(max_length=16, default="CRITICAL", db_index=True)
    logger = models.CharField(max_length=200, blank=True)
    location = models.CharField(max_length=300, blank=True, help_text="module:line(function) of the first record")
    message = models.TextField(help_text="message of the first occurrence")
    last_message = models.TextField(blank=True, help_text="message of the latest occurrence")
    host = models.CharField(max_length=255, blank=True, help_text="host of the latest occurrence")
    pid = models.IntegerField(null=True, blank=True, help_text="process id of the latest occurrence")
    count = models.PositiveIntegerField(default=1)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    mailed_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen"]
        indexes = [models.Index(fields=["fingerprint", "-last_seen"], name="alert_fingerprint_seen")]

    def __str__(self):
        first_line = self.message.splitlines()[0] if self.message else ""
        return f"{self.source}: {first_line[:120]}"
