"""The CRITICAL → Redis handler never blocks or crashes the process that logs."""
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.alerts.handler import RedisAlertHandler
from tests.backing import PrivateRedis, free_port, wait_for

ROOT = Path(__file__).resolve().parents[3]




@pytest.fixture
def private_redis():
    server = PrivateRedis()
    yield server
    server.stop()


@pytest.fixture
def alert_logger():
    log = logging.getLogger("tests.alerts.handler")
    log.propagate = False
    handlers = []

    def attach(handler):
        handlers.append(handler)
        log.addHandler(handler)
        return log

    yield attach
    for h in handlers:
        log.removeHandler(h)
        h.close()
    log.propagate = True


def test_every_django_process_has_the_handler_on_its_root_logger():
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, RedisAlertHandler)]
    assert len(handlers) == 1 and handlers[0].level == logging.CRITICAL


def test_records_carry_process_host_pid_logger_message_and_time(alert_logger, redis_client):
    key = redis_client.test_prefix + "alerts"
    kw = redis_client.connection_pool.connection_kwargs
    handler = RedisAlertHandler(f"redis://{kw['host']}:{kw['port']}/{kw['db']}", key)
    log = alert_logger(handler)
    log.error("not an alert")
    log.critical("order book of %s broken", "BTCUSDT")
    try:
        raise ValueError("bad side")
    except ValueError:
        log.critical("invariant violated", exc_info=True)
    log.critical("%d", "not a number")  # a broken format string still alerts
    handler.flush()
    records = [json.loads(r) for r in redis_client.lrange(key, 0, -1)]
    assert [r["message"].splitlines()[0] for r in records] == [
        "order book of BTCUSDT broken", "invariant violated", "'%d' (unformattable: %d format: a real number is "
        "required, not str)"]
    first = records[0]
    assert first["source"] and first["host"] and first["pid"] == os.getpid()
    assert first["logger"] == "tests.alerts.handler" and first["level"] == "CRITICAL"
    assert first["location"].startswith("test_handler:") and first["time"].endswith("+00:00")
    assert "ValueError: bad side" in records[1]["message"]


def test_redis_down_does_not_block_a_process_logging_10000_critical_records():
    dead = free_port()
    script = (
        "import json, logging, django; django.setup()\n"
        "log = logging.getLogger('tests.flood')\n"
        "for i in range(10_000): log.critical('flood %d', i)\n"
        "h = next(h for h in logging.getLogger().handlers if type(h).__name__ == 'RedisAlertHandler')\n"
        "print(json.dumps({'dropped': h.dropped_total, 'pushed': h.pushed}), flush=True)\n"
    )
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="exchange_site.settings", LOG_LEVEL="CRITICAL",
               ALERT_REDIS_URL=f"redis://127.0.0.1:{dead}/0")
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)  # generous: completes, it does not hang on Redis
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = json.loads(proc.stdout)
    assert counts["pushed"] == 0 and counts["dropped"] >= 10_000 - 1000  # the rest is still queued


def test_a_blackholed_redis_does_not_block_either(alert_logger):
    # a listening socket that never answers: each push may wait only the socket timeout
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        handler = RedisAlertHandler(f"redis://127.0.0.1:{sock.getsockname()[1]}/0", "k", capacity=100,
                                    timeout=0.2, retry_interval=0.5)
        log = alert_logger(handler)
        for i in range(2000):
            log.critical("stuck %d", i)
        assert wait_for(lambda: handler.dropped_total == 2000)
        assert handler.pushed == 0
    finally:
        sock.close()


def test_drops_are_counted_and_reported_once_redis_is_back(alert_logger, private_redis):
    handler = RedisAlertHandler(f"redis://127.0.0.1:{private_redis.port}/0", "alerts", retry_interval=0.2)
    log = alert_logger(handler)
    for i in range(100):
        log.critical("while down %d", i)
    assert wait_for(lambda: handler.dropped == 100)

    private_redis.start()  # back: the report comes without waiting for another record
    client = private_redis.client()
    (report,) = [json.loads(r) for r in wait_for(lambda: client.lrange("alerts", 0, -1))]
    assert report["message"].startswith("100 alert record(s) of this process were dropped")
    assert report["level"] == "CRITICAL" and report["pid"] == os.getpid()
    assert handler.dropped == 0 and handler.dropped_total == 100
    log.critical("after")
    handler.flush()
    assert json.loads(client.lrange("alerts", -1, -1)[0])["message"] == "after"

    private_redis.stop()  # and once more: stopped, one record lost, started again
    log.critical("lost")
    assert wait_for(lambda: handler.dropped == 1)
    private_redis.start()
    client = private_redis.client()  # a fresh server (no persistence): an empty list
    (report,) = [json.loads(r) for r in wait_for(lambda: client.lrange("alerts", 0, -1))]
    assert report["message"].startswith("1 alert record(s) of this process were dropped")


def test_a_full_queue_drops_instead_of_waiting_and_reports_it(alert_logger, private_redis):
    private_redis.start()
    handler = RedisAlertHandler(f"redis://127.0.0.1:{private_redis.port}/0", "alerts", capacity=10)
    log = alert_logger(handler)
    for i in range(5000):
        log.critical("burst %d", i)
    handler.flush()
    assert wait_for(lambda: handler.pushed + handler.dropped_total == 5000)
    log.critical("one more")  # drops not yet reported go with the next push
    handler.flush()
    client = private_redis.client()
    messages = [json.loads(r)["message"] for r in client.lrange("alerts", 0, -1)]
    reported = sum(int(m.split()[0]) for m in messages if "were dropped" in m)
    assert reported == handler.dropped_total and handler.dropped == 0
    assert len([m for m in messages if m.startswith("burst")]) == 5000 - handler.dropped_total
    assert messages[-1] == "one more"


def test_the_list_is_trimmed_to_its_newest_records(alert_logger, private_redis):
    private_redis.start()
    handler = RedisAlertHandler(f"redis://127.0.0.1:{private_redis.port}/0", "alerts", max_len=5)
    log = alert_logger(handler)
    for i in range(20):
        log.critical("record %d", i)
        handler.flush()
    messages = [json.loads(r)["message"] for r in private_redis.client().lrange("alerts", 0, -1)]
    assert messages == [f"record {i}" for i in range(15, 20)]


def test_a_celery_worker_keeps_the_handler(redis_url):
    # Celery replaces the root logger's handlers unless told not to (settings)
    script = (
        "import logging, os\n"
        "from celery.signals import worker_ready\n"
        "from exchange_site.celery import app\n"
        "def show(**kw):\n"
        "    names = [type(h).__name__ for h in logging.getLogger().handlers]\n"
        "    os.write(1, ('HANDLERS ' + ','.join(names) + '\\n').encode()); os._exit(0)\n"
        "worker_ready.connect(show)\n"
        "app.worker_main(['worker', '-P', 'solo', '--without-heartbeat', '--without-mingle', '--without-gossip',"
        " '-l', 'WARNING'])\n"
    )
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="exchange_site.settings", CELERY_BROKER_URL=redis_url)
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("HANDLERS ")), None)
    assert line is not None, proc.stderr[-2000:]
    assert "RedisAlertHandler" in line.split()[1].split(",")
