"""The web server `make run` uses (exchange_site.devrun.web_command: uvicorn) serves HTTP
and websockets of exchange_site.asgi: a websocket handshake and an echo through it, the
Origin rule enforced, and Django pages on the same port."""
import os
import shlex
import subprocess
import urllib.request
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from exchange_site import devrun
from tests.backing import free_port, wait_port
from tests.wsapp import ECHO_PATH

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="exchange_site.settings", PYTHONPATH=str(ROOT),
               DEBUG="false", LOG_LEVEL="WARNING")
    proc = subprocess.Popen(shlex.split(devrun.web_command(port, app="tests.wsapp:application")), cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_port("127.0.0.1", port, timeout=60)
    except Exception:
        proc.kill()
        raise RuntimeError(proc.stderr.read().decode()[-3000:])
    yield port
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_make_run_serves_with_uvicorn():
    assert " -m uvicorn " in devrun.web_command(8000) and "daphne" not in devrun.web_command(8000)
    assert dict(devrun.platform_programs(8000))["web"] == devrun.web_command(8000)


def test_websocket_handshake_and_echo_through_the_server(server):
    with connect(f"ws://127.0.0.1:{server}{ECHO_PATH}", open_timeout=20) as ws:  # no Origin: a ViaBTC client
        ws.send('{"method": "server.ping", "params": [], "id": 1}')
        assert ws.recv(timeout=20) == '{"method": "server.ping", "params": [], "id": 1}'
    with connect(f"ws://127.0.0.1:{server}{ECHO_PATH}", origin=f"http://127.0.0.1:{server}", open_timeout=20) as ws:
        ws.send("same site")
        assert ws.recv(timeout=20) == "same site"


def test_websocket_from_a_foreign_origin_is_refused_at_the_handshake(server):
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{server}{ECHO_PATH}", origin="https://evil.example", open_timeout=20)
    assert refused.value.response.status_code == 403


def test_http_pages_on_the_same_server(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server}/", timeout=20) as response:
        assert response.status == 200 and b'href="/admin/"' in response.read()
