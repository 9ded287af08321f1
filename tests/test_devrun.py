"""`make run`'s runner: embedded services, supervised processes, restart, clean stop."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.services import free_port, port_open

BASE_DIR = Path(__file__).resolve().parent.parent


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except Exception:
        return None


def wait_for(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return None


def rpc(url: str, method: str, params: list):
    request = urllib.request.Request(url, data=json.dumps({"method": method, "params": params, "id": 1}).encode())
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return json.loads(response.read())
    except Exception:
        return None


def supervised_pid(run_dir: Path, name: str) -> int | None:
    out = subprocess.run(
        [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(run_dir / "supervisord.conf"), "pid", name],
        capture_output=True, text=True,
    ).stdout.strip()
    return int(out) if out.isdigit() and int(out) > 0 else None


def processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="ignore") or \
                        text in (entry / "environ").read_bytes().decode(errors="ignore"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


@pytest.mark.slow
def test_devrun_serves_admin_restarts_crashed_process_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP"}}
    env.update(RUN_DIR=str(tmp_path), PORT=str(port))
    runner = subprocess.Popen(
        [sys.executable, "-m", "exchange_site.devrun"], cwd=BASE_DIR, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    login = f"http://127.0.0.1:{port}/admin/login/"
    try:
        assert wait_for(lambda: http_status(login) == 200, 90), "site never came up"
        assert (tmp_path / "db.sqlite3").exists()  # embedded default: SQLite
        import sqlite3

        assert sqlite3.connect(tmp_path / "db.sqlite3").execute("PRAGMA journal_mode").fetchone() == ("wal",)

        # the matcher runs too and got the seeded configuration
        site = f"http://127.0.0.1:{port}/"
        listed = wait_for(lambda: (r := rpc(site, "market.list", [])) and len(r["result"] or []) == 3 and r, 60)
        assert listed, "matcher did not answer market.list with the demo markets"
        assert [m["name"] for m in listed["result"]] == ["BTCUSDT", "ETHUSDT", "ETHBTC"]
        assert rpc(site, "balance.update", [1, "USDT", "deposit", 1, "10", {}])["result"] == {"status": "success"}
        assert rpc(site, "balance.query", [1, "USDT"])["result"] == {"USDT": {"available": "10", "freeze": "0"}}

        # a fill reaches market data through Kafka and the supervised consumer
        assert rpc(site, "balance.update", [2, "BTC", "deposit", 2, "1", {}])["result"] == {"status": "success"}
        assert rpc(site, "order.put_limit", [2, "BTCUSDT", 1, "0.001", "8000", "0.002", "0.001", ""])["error"] is None
        assert rpc(site, "order.put_limit", [1, "BTCUSDT", 2, "0.001", "8000", "0.002", "0.001", ""])["error"] is None
        deals = wait_for(lambda: (r := rpc(site, "market.deals", ["BTCUSDT", 10, 0])) and r["result"], 60)
        assert deals and deals[0]["price"] == "8000" and deals[0]["type"] == "buy"
        assert all(supervised_pid(tmp_path, name) for name in ("marketdata", "celery-worker", "celery-beat"))

        web_pid = supervised_pid(tmp_path, "web")
        os.kill(web_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        new_pid = wait_for(lambda: (p := supervised_pid(tmp_path, "web")) and p != web_pid and p, 10)
        restarted_after = time.monotonic() - killed_at
        assert new_pid, "crashed web process was not restarted"
        print(f"web restarted {restarted_after:.2f}s after kill -9")
        assert wait_for(lambda: http_status(login) == 200, 30)
    finally:
        runner.send_signal(signal.SIGINT)  # what Ctrl-C sends to supervisord
        output = runner.communicate(timeout=30)[0]
    assert "admin" in output and f"http://127.0.0.1:{port}/api/docs/" in output
    assert runner.returncode == 0
    assert wait_for(lambda: not port_open("127.0.0.1", port), 10)
    assert wait_for(lambda: not processes_mentioning(str(tmp_path)), 10), "processes left behind"
