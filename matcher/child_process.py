"""A supervised child process of the matcher: ``python -m <module>`` with the matcher's
database settings, talking JSON lines over its stdin/stdout.

The matcher runs three: the snapshot follower (``matcher.log.snapshot_child``), the
history follower (``matcher.sinks.history_child``) and the Kafka follower
(``matcher.sinks.kafka_child``). All are fresh interpreters, not
``fork()``s (unsafe beside librdkafka's and the database driver's threads), so each sets up
Django itself (``child_setup``) with the parent's connection settings (``child_env``: a
test database is followed too). A child exits at EOF of its stdin — when the matcher
closes it (``ChildProcess.stop``) or goes away, also after SIGKILL.

Parent side: ``ChildProcess`` (spawn, liveness, one request/reply, the reply stream,
end/stop) and ``restart_delay`` (the back-off between restarts). Child side:
``child_setup``, ``reply`` and ``ParentWatch``.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

import django
from django.conf import settings
from django.db import connections

PROJECT_DIR = Path(__file__).resolve().parent.parent

ENV_DB = "MATCHER_FOLLOWER_DB"  # the parent's settings of the followed database, JSON
ENV_ALIAS = "MATCHER_FOLLOWER_ALIAS"


# ----------------------------------------------------------------------------- parent side


def child_env(alias: str) -> dict:
    """Environment of a child: the parent's own plus its connection settings of ``alias``."""
    settings_dict = dict(connections[alias].settings_dict)
    return dict(os.environ, **{ENV_DB: json.dumps(settings_dict, default=str), ENV_ALIAS: alias})


class ChildProcess:
    """One ``python -m module`` child with pipes on its stdin and stdout (bytes)."""

    def __init__(self, module: str, alias: str = "default", env: dict | None = None):
        self.module = module
        self.alias = alias
        self.extra_env = env or {}  # more environment variables of the child
        self.proc: subprocess.Popen | None = None
        self._env: dict | None = None

    def spawn(self) -> None:
        """Start the process (a new one each call; the previous one must have ended)."""
        if self._env is None:
            self._env = dict(child_env(self.alias), **self.extra_env)
        self.proc = subprocess.Popen([sys.executable, "-m", self.module], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=self._env, cwd=str(PROJECT_DIR))

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def request(self, message: dict) -> dict:
        """Send one JSON line, read one back. RuntimeError (and the process stopped) when
        it died before answering."""
        proc = self.proc
        try:
            proc.stdin.write(json.dumps(message).encode() + b"\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except (BrokenPipeError, OSError) as e:
            self.stop()
            raise RuntimeError(f"{self.module} process died: {e}") from e
        if not line:
            self.stop()
            raise RuntimeError(f"{self.module} process died")
        return json.loads(line)

    def replies(self, proc: subprocess.Popen | None = None):
        """The JSON lines the process (default: the current one) writes, until it exits;
        lines that are not JSON are skipped."""
        for line in (proc or self.proc).stdout:
            try:
                yield json.loads(line)
            except ValueError:
                continue

    def wait(self, proc: subprocess.Popen | None = None) -> int:
        """Wait for the exit of ``proc`` (default: the current one) after its replies
        ended; returns the exit code."""
        proc = proc or self.proc
        rc = proc.wait()
        with suppress(Exception):
            proc.stdout.close()
        return rc

    def end(self, timeout: float = 10.0) -> None:
        """EOF on its stdin (the child ends its loop), then wait; killed after ``timeout``.
        A thread reading ``replies()`` sees their end."""
        proc = self.proc
        if proc is None:
            return
        with suppress(Exception):
            proc.stdin.close()
        try:
            proc.wait(timeout)
        except Exception:  # noqa: BLE001 - did not exit in time
            proc.kill()
            proc.wait(5)

    def stop(self, timeout: float = 10.0) -> None:
        """``end()``, then forget the process (for a child nobody else reads from)."""
        self.end(timeout)
        proc, self.proc = self.proc, None
        if proc is not None:
            with suppress(Exception):
                proc.stdout.close()


def restart_delay(previous: float, base: float, *, answered: bool, ran_s: float) -> float:
    """Seconds to wait before restarting a child that exited: ``base`` after a healthy run
    (it answered and lived more than 10 s), else doubling up to 30 s (a crash loop)."""
    return base if answered and ran_s > 10 else min(30.0, previous * 2)


# ----------------------------------------------------------------------------- child side


def child_setup() -> str:
    """In the child: Django set up with the parent's database settings. Returns the alias."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
    alias = os.environ.get(ENV_ALIAS, "default")
    settings.DATABASES[alias] = json.loads(os.environ[ENV_DB])
    django.setup()
    return alias


def reply(message: dict, out=None) -> None:
    """One JSON line to the parent."""
    out = out or sys.stdout
    out.write(json.dumps(message) + "\n")
    out.flush()


class ParentWatch:
    """Whether the parent went away (EOF on our stdin), without blocking the caller's loop:
    for a child that does not otherwise read its stdin."""

    def __init__(self, fd: int | None = None):
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.gone = False

    def __call__(self, timeout: float = 0.0) -> bool:
        """True once the parent is gone; waits up to ``timeout`` s for that."""
        if not self.gone:
            r, _, _ = select.select([self.fd], [], [], timeout)
            if r and not os.read(self.fd, 4096):
                self.gone = True
        return self.gone
