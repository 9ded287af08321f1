"""The logging handler that turns CRITICAL records into alerts (docs/alerts.md).

Installed in every process through ``settings.LOGGING`` (exchange_site/logging.py), so
whatever configures Django logging — the web server, the matcher and its follower
processes, the market-data consumer, the websocket bridge, Celery, management commands —
pushes its CRITICAL records to the Redis list ``ALERT_REDIS_KEY``; the alert worker
(``manage.py alert_worker``) turns them into ``Alert`` rows and mails.

The process that logs never waits for Redis: ``emit`` formats the record and puts it in a
bounded in-memory queue (a full queue drops the record), a background thread pushes the
queue to Redis with short socket timeouts. While Redis is unreachable records are
dropped and counted; once it answers again a record says how many were lost. At exit
the queue gets a short grace period to drain (a CRITICAL line is often the last thing a
process writes before it exits).

This module must not import Django models: it is loaded while logging is configured,
before the apps are ready.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import socket
import sys
import threading
import time
from datetime import datetime, timezone

MAX_MESSAGE = 10240  # bytes of message text kept (the original alertcenter's max_pkg_size)


def process_name() -> str:
    """A name for this process: ALERT_PROCESS_NAME if set, else what was started —
    ``python -m matcher`` → ``matcher``, ``manage.py alert_worker`` → ``manage.py alert_worker``."""
    name = os.environ.get("ALERT_PROCESS_NAME")
    if name:
        return name
    argv = list(getattr(sys, "orig_argv", None) or sys.argv)
    if "-m" in argv[1:]:
        i = argv.index("-m", 1)
        if i + 1 < len(argv):
            return argv[i + 1]
    if "-c" in argv[1:]:
        return os.path.basename(argv[0]) + " -c"
    script = sys.argv[0] if sys.argv and sys.argv[0] else (argv[0] if argv else "python")
    name = os.path.basename(script)
    if name == "manage.py" and len(sys.argv) > 1:
        name += " " + sys.argv[1]
    return name or "python"


def alert_payload(record: logging.LogRecord, source: str, host: str, message: str | None = None) -> dict:
    """The JSON object pushed to Redis for one record."""
    if message is None:
        try:
            message = record.getMessage()
        except Exception as e:  # noqa: BLE001 - a bad format string must not lose the alert
            message = f"{record.msg!r} (unformattable: {e})"
        if record.exc_info and record.exc_info[0] is not None:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        elif record.exc_text:
            message += "\n" + record.exc_text
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "…"
    return {
        "source": getattr(record, "alert_source", None) or source,
        "host": host,
        "pid": record.process,
        "logger": record.name,
        "level": record.levelname,
        "message": message,
        "location": f"{record.module}:{record.lineno}({record.funcName})",
        "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
    }


class RedisAlertHandler(logging.Handler):
    """Pushes records (CRITICAL by default) to a Redis list; never blocks the caller.

    ``capacity`` bounds the in-memory queue, ``max_len`` the Redis list; ``timeout`` is the socket connect/read
    timeout of each push; after a failed push, records are dropped (counted) without
    trying Redis for ``retry_interval`` seconds; ``exit_grace`` is how long the process
    waits at exit for the queue to drain.
    """

    def __init__(self, redis_url: str = "redis://127.0.0.1:6379/0", key: str = "alert:message",
                 level: int | str = logging.CRITICAL, capacity: int = 1000, timeout: float = 0.5,
                 retry_interval: float = 2.0, exit_grace: float = 2.0, enabled: bool = True,
                 max_len: int = 10_000):
        super().__init__(level)
        self.redis_url = redis_url
        self.key = key
        self.capacity = capacity
        self.timeout = timeout
        self.retry_interval = retry_interval
        self.exit_grace = exit_grace
        self.enabled = enabled
        self.max_len = max_len
        self.dropped = 0  # records lost since the last report (queue full or Redis down)
        self.dropped_total = 0
        self.pushed = 0
        self._counter_lock = threading.Lock()
        self._pid = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._redis = None
        self._failed_at: float | None = None
        self._source: str | None = None
        self._host: str | None = None
        self._closed = False

    # --- caller side (must never block or raise) --------------------------------------
    def emit(self, record: logging.LogRecord) -> None:
        if not self.enabled or self._closed:
            return
        try:
            self._ensure_started()
            payload = alert_payload(record, self._source, self._host)
            self._queue.put_nowait(payload)
        except queue.Full:
            self._count_drop()
        except Exception:  # noqa: BLE001 - logging must not crash the process that logs
            self._count_drop()

    def _count_drop(self, n: int = 1) -> None:
        with self._counter_lock:
            self.dropped += n
            self.dropped_total += n

    def _ensure_started(self) -> None:
        pid = os.getpid()
        if self._pid == pid and self._thread is not None:
            return
        with self._start_lock:
            if self._pid == pid and self._thread is not None:
                return
            # first record of this process, or first after a fork: the parent's thread
            # and connection do not exist here
            self._pid = pid
            self._queue = queue.Queue(self.capacity)
            self._redis = None
            self._source = process_name()
            self._host = socket.gethostname()
            with self._counter_lock:
                self.dropped = 0
            self._thread = threading.Thread(target=self._run, name="alert-handler", daemon=True)
            self._thread.start()
            atexit.register(self.flush)

    # --- background thread ------------------------------------------------------------
    def _client(self):
        if self._redis is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            self._redis = redis.Redis.from_url(
                self.redis_url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0), retry_on_timeout=False, health_check_interval=0)
        return self._redis

    def _push(self, payloads: list[dict]) -> bool:
        """RPUSH the payloads (and first a report of earlier drops); False if Redis failed."""
        with self._counter_lock:
            lost = self.dropped
        items = []
        if lost:
            items.append(self._dropped_report(lost))
        items.extend(payloads)
        if not items:
            return True
        try:
            pipe = self._client().pipeline(transaction=False)
            pipe.rpush(self.key, *(json.dumps(p, default=str) for p in items))
            if self.max_len:
                pipe.ltrim(self.key, -self.max_len, -1)  # no worker: keep the newest only
            pipe.execute()
        except Exception:  # noqa: BLE001 - Redis down, timeout, bad URL: drop and count
            self._redis = None
            self._failed_at = time.monotonic()
            self._count_drop(len(payloads))
            return False
        with self._counter_lock:
            self.dropped -= lost
        self.pushed += len(payloads)
        self._failed_at = None
        return True

    def _dropped_report(self, lost: int) -> dict:
        record = logging.LogRecord("apps.alerts", logging.CRITICAL, __file__, 0, "", None, None, "_dropped_report")
        message = (f"{lost} alert record(s) of this process were dropped "
                   f"(Redis unreachable or alert queue full)")
        return alert_payload(record, self._source, self._host, message)

    def _run(self) -> None:
        q = self._queue
        while True:
            try:
                first = q.get(timeout=self.retry_interval)
            except queue.Empty:
                # nothing new: still report earlier drops once Redis answers again
                if self.dropped:
                    self._push([])
                continue
            batch = [first]
            while len(batch) < 100:
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
            if self._failed_at is not None and time.monotonic() - self._failed_at < self.retry_interval:
                self._count_drop(len(batch))  # Redis was down a moment ago: do not wait on it again
            else:
                self._push(batch)
            for _ in batch:
                q.task_done()

    # --- lifecycle --------------------------------------------------------------------
    def flush(self) -> None:
        """Wait (at most ``exit_grace`` s) for the queued records to be pushed."""
        q = self._queue
        if q is None or self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
            return
        deadline = time.monotonic() + self.exit_grace
        while q.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self.flush()
        self._closed = True
        super().close()
