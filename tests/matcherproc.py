"""``python -m matcher`` as a child process, for every test that needs the real matcher
(the JSON-RPC and REST end-to-end tests, the crash and outage tests).

    proc = MatcherProc(server_database_url(), kafka_broker.bootstrap, log_path=tmp_path / "matcher.log",
                       MATCHER_KAFKA_TOPIC_PREFIX="t1.")
    proc.start()           # returns once the RPC port accepts connections
    client = proc.client()
    proc.kill9(); proc.start()   # crash and restart on the same port
    proc.stop()            # SIGTERM, then SIGKILL after `timeout`

The child runs in its own session (a Ctrl-C of pytest does not reach it; stop() does),
with the test database, no snapshots (SNAPSHOT_INTERVAL=0) unless told, console logs to
one file, and Kafka off when no bootstrap address is given.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.backing import free_port, port_open

ROOT = Path(__file__).resolve().parents[1]


def database_url(alias: str = "default") -> str:
    """The Django database `alias` as a URL for the matcher's DATABASE_URL."""
    from django.db import connections

    s = connections[alias].settings_dict
    auth = s["USER"] or "root"
    if s.get("PASSWORD"):
        auth += ":" + s["PASSWORD"]
    return f"mysql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 3306}/{s['NAME']}"


def server_database_url(alias: str = "default") -> str:
    """database_url(), failing the test unless the database is a server (MySQL/MariaDB)
    that a second process can share."""
    import pytest
    from django.db import connections

    if connections[alias].settings_dict["ENGINE"] != "django.db.backends.mysql":
        pytest.fail("the matcher subprocess needs a server database (MySQL/MariaDB)")
    return database_url(alias)


class MatcherProc:
    """``python -m matcher`` as a child process (so it can be killed with SIGKILL)."""

    def __init__(self, database_url: str, kafka: str = "", port: int | None = None, *,
                 log_path: str | os.PathLike | None = None, **env):
        self.port = port or free_port()
        self.database_url = database_url
        self.kafka = kafka
        self.extra = {k: str(v) for k, v in env.items()}
        self.log_path = Path(log_path) if log_path is not None else None
        self.proc: subprocess.Popen | None = None

    def environment(self) -> dict:
        env = dict(os.environ, DATABASE_URL=self.database_url, MATCHER_RPC_PORT=str(self.port),
                   MATCHER_RPC_HOST="127.0.0.1", LOG_FORMAT="console", PYTHONUNBUFFERED="1")
        if self.kafka:
            env["KAFKA_BOOTSTRAP"] = self.kafka
        else:
            env["MATCHER_KAFKA"] = "false"
        env.setdefault("SNAPSHOT_INTERVAL", "0")
        # A busy CI box can stall MariaDB past the production 0.3 s history bound; tests
        # that are about back-pressure set their own bound.
        env.setdefault("MATCHER_HISTORY_LAG_LIMIT_S", "5")
        env.update(self.extra)
        return env

    def start(self, timeout: float = 60.0) -> "MatcherProc":
        """Start the matcher and wait until it listens; on an early exit or a timeout the
        child is stopped and RuntimeError carries the end of its log."""
        if self.log_path is None:
            with tempfile.NamedTemporaryFile(prefix="matcher-", suffix=".log", delete=False) as f:
                self.log_path = Path(f.name)
        with open(self.log_path, "ab") as log:  # a restart appends to the same log
            self.proc = subprocess.Popen([sys.executable, "-m", "matcher"], env=self.environment(), cwd=ROOT,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"matcher exited with {self.proc.returncode}: {self.output()[-3000:]}")
            if port_open("127.0.0.1", self.port, 0.2):
                return self
            time.sleep(0.05)
        self.kill9()
        raise RuntimeError("matcher did not listen in time: " + self.output()[-3000:])

    def output(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def kill9(self) -> None:
        """SIGKILL (a crash the test asked for)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, SIGKILL after `timeout` s. Any other end than a clean exit (0) or the
        SIGTERM (an earlier crash, a hang) prints the end of the log for the test report."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.returncode not in (0, -signal.SIGTERM):
            print(self.output()[-4000:])

    def client(self, timeout: float = 10.0):
        from apps.trading.client import MatcherClient

        return MatcherClient("127.0.0.1", self.port, timeout=timeout, pool_size=2, retry_interval=0.05)
