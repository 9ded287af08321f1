"""`make run`'s runner: embedded services, supervised processes, restart, clean stop; one
instance per checkout, DEBUG off, static files and the docs' assets served, .run private.

One instance is started for the module (startup is the slow part); the last test stops it."""
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.backing import free_port, port_open, wait_for

BASE_DIR = Path(__file__).resolve().parent.parent


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except Exception:
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


class Instance:
    """A `make run` (python -m exchange_site.devrun) on a private RUN_DIR and a free port."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items()
                    if k not in {"DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP", "DEBUG", "STATIC_ROOT"}}
        self.env.update(RUN_DIR=str(run_dir), PORT=str(self.port))
        self.site = f"http://127.0.0.1:{self.port}"
        self.log = run_dir.parent / f"{run_dir.name}.out"  # a file: a pipe nobody reads would block it
        with self.log.open("w") as log:
            self.runner = subprocess.Popen(
                [sys.executable, "-m", "exchange_site.devrun"], cwd=BASE_DIR, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.output = None

    def stop(self) -> str:
        if self.output is None:
            self.runner.send_signal(signal.SIGINT)  # what Ctrl-C sends to supervisord
            try:
                self.runner.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.runner.pid, signal.SIGKILL)
                self.runner.wait()
            self.output = self.log.read_text()
        return self.output


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    running = Instance(tmp_path_factory.mktemp("devrun"))
    try:
        assert wait_for(lambda: http_status(f"{running.site}/admin/login/") == 200, 120), "site never came up"
        yield running
    finally:
        running.stop()


def fetch(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


@pytest.mark.slow
def test_a_second_make_run_in_the_same_checkout_says_so_and_touches_nothing(instance):
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in instance.run_dir.iterdir()
              if p.is_file() and p.suffix in {".conf", ".lock", ".pid"} or p.name == "admin-password"}
    assert instance.run_dir / "supervisord.conf" in before
    names = devrun_files(instance.run_dir)
    other_port = free_port()
    second = subprocess.run(
        [sys.executable, "-m", "exchange_site.devrun"], cwd=BASE_DIR, env={**instance.env, "PORT": str(other_port)},
        capture_output=True, text=True, timeout=60,
    )
    assert second.returncode != 0
    said = (second.stdout + second.stderr).strip()
    assert len(said.splitlines()) == 1, said
    assert "already running" in said and f"kill {instance.runner.pid}" in said and instance.site in said
    assert "site" not in second.stdout  # no banner
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before} == before
    assert devrun_files(instance.run_dir) == names
    assert not port_open("127.0.0.1", other_port)
    assert http_status(f"{instance.site}/admin/login/") == 200  # the first one still serves


def devrun_files(run_dir) -> list[str]:
    """What is in .run, leaving out what the running instance's own processes write while
    it runs (Celery beat's schedule shelve)."""
    return sorted(p.name for p in run_dir.iterdir() if not p.name.startswith("celerybeat-schedule"))


@pytest.mark.slow
def test_debug_off_landing_page_and_static_files_served(instance):
    status, headers, body = fetch(f"{instance.site}/")
    assert status == 200 and b'href="/admin/"' in body and b'href="/api/docs/"' in body
    status, headers, body = fetch(f"{instance.site}/no-such-page/")
    assert status == 404 and b"URLconf" not in body and b"DEBUG" not in body  # no DEBUG page
    for host in ("localhost", "127.0.0.1", "[::1]"):  # the dev hosts, on any port, still allowed
        request = urllib.request.Request(f"{instance.site}/", headers={"Host": f"{host}:{instance.port}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, host
    status, headers, body = fetch(f"{instance.site}/static/admin/css/base.css")  # a styled admin
    assert status == 200 and headers["content-type"].startswith("text/css") and b"body" in body


@pytest.mark.slow
@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_api_docs_assets_are_served_by_the_platform(instance, page):
    status, _, body = fetch(instance.site + page)
    assert status == 200 and b"https://" not in body and b"http://" not in body
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', body.decode())
    assert any(a.endswith(".js") for a in assets)
    for asset in assets:
        status, _, content = fetch(instance.site + asset)
        assert status == 200 and content, asset


@pytest.mark.slow
def test_run_dir_is_private(instance):
    run_dir = instance.run_dir
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((run_dir / "admin-password").stat().st_mode) == 0o600
    assert (run_dir / "db.sqlite3").exists() and (run_dir / "redis").is_dir()
    # everything but the collected static files (public by nature; Django's collectstatic
    # applies FILE_UPLOAD_PERMISSIONS 0o644) is the owner's only — and all of it is inside
    # the 0o700 directory
    readable = [str(p) for p in run_dir.rglob("*")
                if stat.S_IMODE(p.lstat().st_mode) & 0o077 and (run_dir / "static") not in p.parents]
    assert not readable, readable


@pytest.mark.slow
def test_devrun_serves_admin_restarts_crashed_process_and_stops_cleanly(instance):
    tmp_path, port = instance.run_dir, instance.port
    login = f"http://127.0.0.1:{port}/admin/login/"
    try:
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

        # the crash raised an alert: event listener → Redis → alert worker → Alert row
        def web_alert():
            with sqlite3.connect(tmp_path / "db.sqlite3") as db:
                return db.execute("SELECT message FROM alerts_alert WHERE source = 'web'").fetchone()

        alert = wait_for(web_alert, 60)
        assert alert and alert[0].startswith("process web exited unexpectedly"), alert
    finally:
        output = instance.stop()
    assert "admin" in output and f"http://127.0.0.1:{port}/api/docs/" in output
    assert instance.runner.returncode == 0
    assert wait_for(lambda: not port_open("127.0.0.1", port), 10)
    assert wait_for(lambda: not processes_mentioning(str(tmp_path)), 10), "processes left behind"
