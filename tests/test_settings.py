"""The settings package: every environment variable it reads is documented in exactly one
table of the one place README "Environment" points to, code reads ``settings.X`` (no
defaults at the call sites), and the production checks hold."""
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "exchange_site" / "settings"
# (document, heading of a section whose tables document variables)
DOC_SECTIONS = [
    ("README.md", "## Environment"),
    ("docs/api.md", "### Settings (environment)"),
    ("docs/durability.md", "## Settings"),
]
# documented in README "Environment" but read by the test harness, not by the settings
# documented but read outside the settings: the test services, and the per-process alert source
NOT_SETTINGS = {"TEST_DATABASE_URL", "TEST_REDIS_URL", "ALERT_PROCESS_NAME"}
CODE_DIRS = ["apps", "matcher", "exchange_site", "bench"]


def variables_read() -> dict[str, str]:
    """Every variable name passed to ``env``/``env.<cast>(...)`` in the settings package → its module."""
    found = {}
    for path in sorted(SETTINGS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            if isinstance(func, ast.Attribute):
                func = func.value
            if isinstance(func, ast.Name) and func.id == "env":
                arg = node.args[0]
                assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), (
                    f"{path.name}:{node.lineno}: read variables by a literal name")
                found.setdefault(arg.value, path.name)
    return found


def documented() -> list[tuple[str, str]]:
    """(variable, document) for each variable in the first cell of a table row of DOC_SECTIONS."""
    rows = []
    for doc, heading in DOC_SECTIONS:
        level = heading.split()[0]
        sections = 0
        inside = False
        for line in (ROOT / doc).read_text().splitlines():
            if line.startswith("#"):
                hashes = line.split()[0]
                if line.startswith(heading):
                    inside, sections = True, sections + 1
                elif len(hashes) <= len(level):
                    inside = False
                continue
            if inside and line.startswith("|") and not line.startswith("|---"):
                first_cell = line.split("|")[1]
                rows += [(name, doc) for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell)]
        assert sections, f"{doc} has no section {heading!r}"
    return rows


def test_settings_read_variables():
    names = variables_read()
    assert {"SECRET_KEY", "DATABASE_URL", "MATCHER_RPC_PORT", "JSONRPC_MAX_BODY", "SNAPSHOT_KEEP"} <= set(names)


def test_every_variable_is_documented_exactly_once():
    rows = documented()
    places: dict[str, list[str]] = {}
    for name, doc in rows:
        places.setdefault(name, []).append(doc)
    problems = []
    for name, module in variables_read().items():
        docs = places.get(name, [])
        if len(docs) != 1:
            problems.append(f"{name} (exchange_site/settings/{module}) is in {len(docs)} tables: {docs}")
    assert not problems, "\n".join(problems)


def test_every_documented_variable_is_read():
    read = set(variables_read())
    stale = {name for name, _ in documented()} - read - NOT_SETTINGS
    assert not stale, f"documented but not read by exchange_site/settings: {sorted(stale)}"


def test_readme_links_the_settings_sections():
    readme = (ROOT / "README.md").read_text()
    for doc, _ in DOC_SECTIONS[1:]:
        assert f"]({doc})" in readme


def test_settings_package_reads_the_environment_only_through_env():
    for path in SETTINGS.glob("*.py"):
        text = path.read_text()
        assert "os.environ" not in text and "getenv" not in text, path.name


def test_code_reads_settings_without_defaults():
    """``getattr(settings, "X", default)`` would declare a second default: read ``settings.X``."""
    found = []
    for top in CODE_DIRS:
        for path in (ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
                        and len(node.args) == 3 and isinstance(node.args[0], ast.Name)
                        and node.args[0].id == "settings"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found


PRODUCTION_VARIABLES = {"EXCHANGE_ENV", "SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "ALLOWED_HOSTS",
                        "API_KEY_ENCRYPTION_KEY", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
                        "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE",
                        "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER"}
STRONG_SECRET_KEY = "p8Zq-3vN_w7xR2mK9sT4yB6cH1jL5dF0gA8eU3iO7nW2qX9zV4bM6kJ1hG5tY0rE"
FERNET_KEY = "q2Yk1uH0b0ZQkqz6yqkR0j3VZ8m9dT3S3WZC4s0JX0A="
PRODUCTION = {"EXCHANGE_ENV": "production", "SECRET_KEY": STRONG_SECRET_KEY, "ALLOWED_HOSTS": "exchange.example",
              "API_KEY_ENCRYPTION_KEY": FERNET_KEY}


def _run(args, **env):
    environ = {k: v for k, v in os.environ.items() if k not in PRODUCTION_VARIABLES}
    environ.update(env)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environ, capture_output=True, text=True)


def _import_settings(**env):
    return _run(["-c", "import exchange_site.settings as s; print(s.DEBUG)"], **env)


@pytest.mark.parametrize("env, error", [
    ({"EXCHANGE_ENV": "production"}, "SECRET_KEY"),
    ({**PRODUCTION, "DEBUG": "1"}, "DEBUG must be off"),
    ({k: v for k, v in PRODUCTION.items() if k != "ALLOWED_HOSTS"}, "ALLOWED_HOSTS"),
    ({**PRODUCTION, "ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
    ({k: v for k, v in PRODUCTION.items() if k != "API_KEY_ENCRYPTION_KEY"}, "API_KEY_ENCRYPTION_KEY"),
    ({**PRODUCTION, "API_KEY_ENCRYPTION_KEY": "not-a-fernet-key"}, "API_KEY_ENCRYPTION_KEY"),
])
def test_production_refuses_unsafe_settings(env, error):
    out = _import_settings(**env)
    assert out.returncode != 0 and error in out.stderr, out.stderr


def test_production_and_development_defaults():
    assert _import_settings(**PRODUCTION).stdout.strip() == "False"
    assert _import_settings().stdout.strip() == "True"


def test_production_passes_check_deploy_clean():
    out = _run(["manage.py", "check", "--deploy", "--fail-level", "DEBUG"], **PRODUCTION)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "System check identified no issues (0 silenced)." in out.stdout, out.stdout + out.stderr


def test_proxy_ssl_header_is_opt_in():
    show = ["-c", "import exchange_site.settings as s; print(s.SECURE_PROXY_SSL_HEADER)"]
    assert _run(show, **PRODUCTION).stdout.strip() == "None"
    out = _run(show, **PRODUCTION, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto").stdout.strip()
    assert out == "('HTTP_X_FORWARDED_PROTO', 'https')"
