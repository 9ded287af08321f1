"""Writes of the alert center: records from Redis become Alert rows and mails; staff
acknowledge / resolve them (docs/alerts.md)."""
from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from apps.console.services import record as audit

from .models import Alert

logger = logging.getLogger(__name__)

_NUMBER = re.compile(r"0x[0-9a-fA-F]+|\b[0-9a-fA-F]{8,}\b|\d+(?:\.\d+)?")
_SPACE = re.compile(r"\s+")


def normalize(message: str) -> str:
    """The message with numbers, hex ids and runs of white space made uniform, so that
    "lag 5123 rows" and "lag 5200 rows" count as the same alert."""
    return _SPACE.sub(" ", _NUMBER.sub("#", message)).strip()[:4000]


def fingerprint(source: str, message: str) -> str:
    return hashlib.sha256(f"{source}\n{normalize(message)}".encode()).hexdigest()


def parse_record(raw: bytes | str) -> dict:
    """A record from the Redis list: the JSON object of apps.alerts.handler, or a plain
    text line in the original alertcenter's form ``<source>: <message>``."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("message"), str):
        source, sep, message = raw.partition(": ")
        if not sep or not source or len(source) > 100:
            source, message = "unknown", raw
        data = {"source": source, "message": message}
    return data


def _seen_at(value, now: datetime) -> datetime:
    try:
        seen = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        seen = None
    if seen is None or seen.tzinfo is None:
        return now
    return min(seen, now)  # a clock ahead must not keep a group open


def ingest(data: dict, now: datetime | None = None) -> tuple[Alert, bool]:
    """Count the record on the open alert with the same source and normalized message
    seen within ALERT_GROUP_WINDOW_S, or open a new one. Returns (alert, created)."""
    now = now or timezone.now()
    source = str(data.get("source") or "unknown")[:100]
    message = str(data.get("message") or "")
    seen = _seen_at(data.get("time"), now)
    fp = fingerprint(source, message)
    window = timedelta(seconds=settings.ALERT_GROUP_WINDOW_S)
    fields = {
        "host": str(data.get("host") or "")[:255],
        "pid": data.get("pid") if isinstance(data.get("pid"), int) else None,
    }
    with transaction.atomic():
        alert = (Alert.objects.select_for_update()
                 .filter(fingerprint=fp, last_seen__gte=seen - window)
                 .exclude(status=Alert.Status.RESOLVED)
                 .order_by("-last_seen").first())
        if alert is not None:
            alert.count += 1
            alert.last_seen = max(alert.last_seen, seen)
            alert.last_message = message
            for k, v in fields.items():
                setattr(alert, k, v)
            alert.save(update_fields=["count", "last_seen", "last_message", *fields])
            return alert, False
        alert = Alert.objects.create(
            source=source, fingerprint=fp, level=str(data.get("level") or "CRITICAL")[:16],
            logger=str(data.get("logger") or "")[:200], location=str(data.get("location") or "")[:300],
            message=message, last_message=message, first_seen=seen, last_seen=seen, **fields)
        return alert, True


def recipients() -> list[str]:
    return list(settings.ALERT_EMAILS) or [email for _, email in settings.ADMINS]


def notify(alert: Alert) -> bool:
    """Mail the operators about a new alert; True when a mail went out."""
    to = recipients()
    if not to:
        logger.warning("alert %s not mailed: no ALERT_EMAILS / ADMINS configured", alert.pk)
        return False
    first_line = alert.message.splitlines()[0] if alert.message else ""
    subject = f"{settings.ALERT_EMAIL_SUBJECT_PREFIX}{alert.source}: {first_line}"[:200]
    body = "\n".join([
        alert.message,
        "",
        f"source:   {alert.source} (host {alert.host}, pid {alert.pid})",
        f"logger:   {alert.logger} {alert.location}",
        f"level:    {alert.level}",
        f"seen:     {alert.first_seen.isoformat()}",
        f"alert:    #{alert.pk} — repeats within {settings.ALERT_GROUP_WINDOW_S:g} s are counted on it, not mailed",
    ])
    try:
        send_mail(subject, body, settings.ALERT_FROM_EMAIL, to)
    except Exception as e:  # noqa: BLE001 - SMTP down: the row stays, unmailed
        logger.error("alert %s could not be mailed: %s", alert.pk, e)
        return False
    Alert.objects.filter(pk=alert.pk).update(mailed_at=timezone.now())
    alert.mailed_at = timezone.now()
    return True


def handle(raw: bytes | str) -> tuple[Alert, bool]:
    """One record from the list: store it, mail when it opened a new alert."""
    alert, created = ingest(parse_record(raw))
    if created:
        notify(alert)
    return alert, created


def acknowledge(alerts, user) -> int:
    """Mark open alerts acknowledged by ``user``; one audit row per alert changed."""
    now = timezone.now()
    n = 0
    with transaction.atomic():
        for alert in alerts.select_for_update().filter(status=Alert.Status.OPEN).order_by("pk"):
            alert.status = Alert.Status.ACKNOWLEDGED
            alert.acknowledged_by, alert.acknowledged_at = user, now
            alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at"])
            audit(user, "alert.acknowledge", alert, {"source": alert.source, "count": alert.count})
            n += 1
    return n


def resolve(alerts, user) -> int:
    """Mark alerts resolved by ``user`` (a later occurrence opens a new alert)."""
    now = timezone.now()
    n = 0
    with transaction.atomic():
        for alert in alerts.select_for_update().exclude(status=Alert.Status.RESOLVED).order_by("pk"):
            if alert.acknowledged_at is None:
                alert.acknowledged_by, alert.acknowledged_at = user, now
            alert.status = Alert.Status.RESOLVED
            alert.resolved_by, alert.resolved_at = user, now
            alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at", "resolved_by", "resolved_at"])
            audit(user, "alert.resolve", alert, {"source": alert.source, "count": alert.count})
            n += 1
    return n
