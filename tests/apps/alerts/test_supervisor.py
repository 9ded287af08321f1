"""A supervised process that dies raises an alert (supervisord event listener)."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.alerts.models import Alert
from apps.alerts.supervisor_listener import alert_for
from tests.apps.alerts.conftest import _url
from tests.backing import wait_for

ROOT = Path(__file__).resolve().parents[3]




def test_which_events_alert():
    exited = {"processname": "web", "groupname": "web", "from_state": "RUNNING", "expected": "0", "pid": "77"}
    assert alert_for("PROCESS_STATE_EXITED", {}, exited) == (
        "process web exited unexpectedly (pid 77, from state RUNNING); supervisord restarts it")
    assert alert_for("PROCESS_STATE_EXITED", {}, dict(exited, expected="1")) is None
    assert "backing off" in alert_for("PROCESS_STATE_BACKOFF", {}, {"processname": "matcher", "groupname": "matcher"})
    assert "FATAL" in alert_for("PROCESS_STATE_FATAL", {}, {"processname": "w", "groupname": "g"})
    assert alert_for("PROCESS_STATE_RUNNING", {}, exited) is None


@pytest.mark.django_db(transaction=True)
def test_a_process_that_dies_under_supervisord_raises_an_alert(alert_key, redis_client, tmp_path):
    conf = tmp_path / "supervisord.conf"
    conf.write_text("\n".join([
        "[supervisord]", "nodaemon=true", f"logfile={tmp_path / 'supervisord.log'}",
        f"pidfile={tmp_path / 'supervisord.pid'}", f"childlogdir={tmp_path}", "",
        "[program:crasher]",
        f"command={sys.executable} -c \"import time; time.sleep(0.3); raise SystemExit(3)\"",
        "autorestart=true", "startsecs=0", "startretries=1000", "",
        "[eventlistener:alert-on-exit]",
        f"command={sys.executable} -m apps.alerts.supervisor_listener",
        f"directory={ROOT}",
        "events=PROCESS_STATE_EXITED,PROCESS_STATE_BACKOFF,PROCESS_STATE_FATAL",
        "startsecs=0", "autorestart=true", f"stderr_logfile={tmp_path / 'listener.log'}", "",
    ]))
    env = dict(os.environ, ALERT_REDIS_URL=_url(redis_client), ALERT_REDIS_KEY=alert_key,
               DJANGO_SETTINGS_MODULE="exchange_site.settings")
    sup = subprocess.Popen([sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)], env=env, cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_for(lambda: redis_client.llen(alert_key) >= 2, 90), (
            (tmp_path / "listener.log").read_text() if (tmp_path / "listener.log").exists() else "no listener log")
    finally:
        sup.send_signal(signal.SIGTERM)
        sup.wait(60)
    record = json.loads(redis_client.lindex(alert_key, 0))
    assert record["source"] == "crasher" and record["logger"] == "apps.alerts.supervisor"
    assert record["message"].startswith("process crasher exited unexpectedly (pid ")
    call_command("alert_worker", "--drain")
    # every restart is the same alert (the pid is normalized away): one row, counted
    (alert,) = Alert.objects.filter(source="crasher")
    assert alert.count >= 2 and "exited unexpectedly" in alert.message
