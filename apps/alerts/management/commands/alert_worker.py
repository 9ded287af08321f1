"""``manage.py alert_worker`` — records from the Redis list ALERT_REDIS_KEY become Alert
rows and mails (docs/alerts.md). Runs until SIGTERM/SIGINT; ``--drain`` stops once the
list is empty (tests, cron)."""
from __future__ import annotations

import logging
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

logger = logging.getLogger("apps.alerts.worker")


class Command(BaseCommand):
    help = "Turn alert records from Redis into Alert rows and mail the operators."

    def add_arguments(self, parser):
        parser.add_argument("--drain", action="store_true", help="exit once the list is empty")
        parser.add_argument("--poll", type=float, default=5.0, help="seconds of each blocking pop")

    def handle(self, *args, drain=False, poll=5.0, **options):
        import redis

        from apps.alerts.services import handle as handle_record

        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
        key = settings.ALERT_REDIS_KEY
        client = redis.Redis.from_url(settings.ALERT_REDIS_URL, socket_timeout=poll + 5, socket_connect_timeout=5)
        if not drain:
            logger.info("alert worker: waiting on %s (%s)", key, settings.ALERT_REDIS_URL)
        handled = 0
        redis_down = False
        while not stop.is_set():
            try:
                got = client.lpop(key) if drain else client.blpop([key], timeout=poll)
            except redis.RedisError as e:
                if not redis_down:
                    logger.error("alert worker: Redis unreachable (%s); retrying", e)
                    redis_down = True
                if drain:
                    raise
                stop.wait(1.0)
                continue
            if redis_down:
                logger.info("alert worker: Redis reachable again")
                redis_down = False
            if got is None:
                if drain:
                    break
                continue
            raw = got if drain else got[1]
            close_old_connections()
            try:
                handle_record(raw)
                handled += 1
            except Exception:  # noqa: BLE001 - database down: put it back, try again later
                logger.exception("alert worker: could not store a record; it goes back to the list")
                try:
                    client.lpush(key, raw)
                except redis.RedisError:
                    logger.error("alert worker: record lost: %r", raw[:500])
                if drain:
                    raise
                close_old_connections()
                time.sleep(1.0)
        if drain:
            self.stdout.write(f"{handled} record(s) handled")
