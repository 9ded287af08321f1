"""CRITICAL records → Redis → `manage.py alert_worker` → Alert rows and mails."""
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection

from apps.alerts.handler import RedisAlertHandler
from apps.alerts.models import Alert
from tests.apps.alerts.conftest import _url
from tests.matcherproc import MatcherProc, server_database_url
from tests.backing import wait_for


def drain():
    call_command("alert_worker", "--drain")




def start_matcher_with_a_gap_in_its_log(redis_client, alert_key, tmp_path, **env):
    """The operation log starts at operation 2: the matcher refuses to start with a
    CRITICAL line, and exits."""
    with connection.cursor() as cur:
        cur.execute("INSERT INTO operation_log (id, time_us, method, params) VALUES (2, 1, 'order.cancel', %s)",
                    ['[1, "BTCUSDT", 1]'])
    proc = MatcherProc(server_database_url(), log_path=tmp_path / "matcher.log",
                       ALERT_REDIS_URL=_url(redis_client), ALERT_REDIS_KEY=alert_key, **env)
    with pytest.raises(RuntimeError, match="exited with 1"):
        proc.start()
    assert "the log starts at operation 2" in proc.output()
    return proc


@pytest.mark.django_db(transaction=True)
def test_critical_log_in_the_matcher_process_becomes_one_alert_and_one_mail(alert_key, redis_client, tmp_path):
    start_matcher_with_a_gap_in_its_log(redis_client, alert_key, tmp_path, MATCHER_HISTORY="false")
    # the record was pushed before the process exited
    assert redis_client.llen(alert_key) == 1
    drain()
    (alert,) = Alert.objects.all()
    assert alert.source == "matcher" and alert.level == "CRITICAL" and alert.logger == "matcher"
    assert alert.message.startswith("matcher recovery failed, not starting: no usable starting point")
    assert alert.count == 1 and alert.status == Alert.Status.OPEN and alert.pid and alert.host
    assert alert.mailed_at is not None
    (sent,) = mail.outbox
    assert sent.to == ["ops@example.com"]
    assert "matcher" in sent.subject and "the log starts at operation 2" in sent.body
    assert redis_client.llen(alert_key) == 0
    # the worker ran again: nothing new
    drain()
    assert Alert.objects.count() == 1 and len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_the_matchers_child_processes_alert_too(alert_key, redis_client):
    # the history follower, started as the matcher starts it, fails its recovery
    import subprocess
    import sys

    from matcher.child_process import PROJECT_DIR, child_env

    with connection.cursor() as cur:
        cur.execute("INSERT INTO operation_log (id, time_us, method, params) VALUES (2, 1, 'order.cancel', %s)",
                    ['[1, "BTCUSDT", 1]'])
    env = dict(child_env("default"), ALERT_REDIS_URL=_url(redis_client), ALERT_REDIS_KEY=alert_key)
    child = subprocess.run([sys.executable, "-m", "matcher.sinks.history_child"], stdin=subprocess.PIPE,
                           capture_output=True, env=env, cwd=str(PROJECT_DIR), timeout=120)
    assert child.returncode == 2, child.stderr[-2000:]
    drain()
    (alert,) = Alert.objects.all()
    assert alert.source == "matcher.sinks.history_child" and alert.logger == "matcher.history"
    assert alert.message.startswith("history follower stopped: no usable starting point")
    assert len(mail.outbox) == 1


def push(redis_client, key, message, source="md-consumer", when=None, **extra):
    when = when or datetime.now(timezone.utc)
    record = {"source": source, "host": "h1", "pid": 42, "logger": "apps.marketdata", "level": "CRITICAL",
              "message": message, "location": "consumer:10(run)", "time": when.isoformat(), **extra}
    redis_client.rpush(key, json.dumps(record))


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_the_same_alert_is_one_row_with_its_count_and_one_mail(alert_key, redis_client):
    handler = RedisAlertHandler(_url(redis_client), alert_key, capacity=1000)
    log = logging.getLogger("tests.alerts.burst")
    log.addHandler(handler)
    try:
        for i in range(50):
            log.critical("kafka delivery failed for partition %d: broker down", i % 3)
        log.critical("a different problem")
        handler.flush()
    finally:
        log.removeHandler(handler)
    assert wait_for(lambda: redis_client.llen(alert_key) == 51)
    drain()
    burst, other = sorted(Alert.objects.all(), key=lambda a: -a.count)
    assert burst.count == 50 and other.count == 1
    assert burst.message == "kafka delivery failed for partition 0: broker down"
    assert burst.last_message == "kafka delivery failed for partition 1: broker down"
    assert burst.first_seen <= burst.last_seen
    assert len(mail.outbox) == 2  # one per row, not per repeat
    # the same message again, later: still the same row while within the window …
    push(redis_client, alert_key, "kafka delivery failed for partition 2: broker down",
         source=burst.source)
    drain()
    burst.refresh_from_db()
    assert burst.count == 51 and len(mail.outbox) == 2


@pytest.mark.django_db(transaction=True)
def test_the_window_source_and_resolution_separate_alerts(alert_key, redis_client, settings):
    now = datetime.now(timezone.utc)
    push(redis_client, alert_key, "history lag 5000 rows", when=now - timedelta(seconds=900))
    push(redis_client, alert_key, "history lag 5100 rows", when=now - timedelta(seconds=800))  # within 300 s
    push(redis_client, alert_key, "history lag 5200 rows", when=now)  # 800 s later: a new alert
    push(redis_client, alert_key, "history lag 5200 rows", source="matcher", when=now)  # other source
    drain()
    rows = list(Alert.objects.order_by("id").values_list("source", "count"))
    assert rows == [("md-consumer", 2), ("md-consumer", 1), ("matcher", 1)]
    assert len(mail.outbox) == 3
    # a resolved alert is closed: the next occurrence opens a new one
    Alert.objects.filter(source="matcher").update(status=Alert.Status.RESOLVED)
    push(redis_client, alert_key, "history lag 5300 rows", source="matcher")
    drain()
    assert Alert.objects.filter(source="matcher").count() == 2 and len(mail.outbox) == 4


@pytest.mark.django_db(transaction=True)
def test_plain_text_records_of_the_original_format_and_garbage_are_kept(alert_key, redis_client):
    redis_client.rpush(alert_key, "matchengine: [fatal]me_history.c:83(on_job): exec sql fail: 2006 gone away")
    redis_client.rpush(alert_key, b"\xff\xfe not json")
    drain()
    first, second = Alert.objects.order_by("id")
    assert first.source == "matchengine" and first.message.startswith("[fatal]me_history.c:83")
    assert second.source == "unknown" and "not json" in second.message


@pytest.mark.django_db(transaction=True)
def test_a_failing_mail_server_keeps_the_alert_unmailed(alert_key, redis_client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    push(redis_client, alert_key, "disk full")
    drain()
    (alert,) = Alert.objects.all()
    assert alert.mailed_at is None and alert.message == "disk full"


@pytest.mark.django_db(transaction=True)
def test_the_worker_process_waits_on_the_list_and_stops_on_sigterm(alert_key, redis_client, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from tests.matcherproc import ROOT

    env = dict(os.environ, DATABASE_URL=server_database_url(), ALERT_REDIS_URL=_url(redis_client),
               ALERT_REDIS_KEY=alert_key, ALERT_EMAILS="ops@example.com", LOG_FORMAT="console")
    out = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen([sys.executable, "manage.py", "alert_worker", "--poll", "1"], cwd=ROOT, env=env,
                              stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        push(redis_client, alert_key, "order book invariant broken", source="matcher")
        alert = wait_for(lambda: Alert.objects.filter(source="matcher").first(), 60)
        assert alert is not None, (tmp_path / "worker.log").read_text()
        assert wait_for(lambda: Alert.objects.filter(pk=alert.pk, mailed_at__isnull=False).exists())
        log = (tmp_path / "worker.log").read_text()
        assert "Subject: [exchange alert] matcher: order book invariant broken" in log  # console backend
    finally:
        worker.send_signal(signal.SIGTERM)
        rc = worker.wait(60)
        out.close()
    assert rc == 0


@pytest.mark.django_db(transaction=True)
def test_raise_alert_command_for_units_that_died(alert_key, redis_client, settings):
    import os
    import subprocess
    import sys

    from tests.matcherproc import ROOT

    env = dict(os.environ, ALERT_REDIS_URL=_url(redis_client), ALERT_REDIS_KEY=alert_key, LOG_LEVEL="CRITICAL")
    subprocess.run([sys.executable, "manage.py", "raise_alert", "exchange-matcher.service",
                    "unit exchange-matcher.service failed"], cwd=ROOT, env=env, check=True, timeout=120)
    drain()
    (alert,) = Alert.objects.all()
    assert alert.source == "exchange-matcher.service" and alert.message == "unit exchange-matcher.service failed"
    assert len(mail.outbox) == 1
