"""History params across their documented ranges work on MySQL and SQLite alike
(offsets 2^63..2^64-1 were code 2 "internal error" on SQLite; ids past 2^63-1 too)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .ranges import check_ranges

ROOT = Path(__file__).resolve().parents[3]

SQLITE_SCRIPT = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tests.apps.history import conftest as fx
from apps.markets.services import demo_config_seed
demo_config_seed()
import copy
fx.BalanceHistory.objects.bulk_create([copy.copy(r) for r in fx.BALANCE_ROWS])
fx.OrderHistory.objects.bulk_create([copy.copy(r) for r in fx.ORDER_ROWS])
fx.DealHistory.objects.bulk_create([copy.copy(r) for r in fx.DEAL_ROWS])
from django.db import connection
assert connection.vendor == "sqlite"
from tests.apps.history.ranges import check_ranges
check_ranges()
print("ranges ok")
"""


@pytest.mark.django_db
def test_ranges_on_mysql(history):
    check_ranges()


def test_ranges_on_sqlite(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HISTORY_DATABASE_URL",)}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", DJANGO_SETTINGS_MODULE="exchange_site.settings",
               PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING", RUN_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", SQLITE_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "ranges ok" in proc.stdout, proc.stderr[-4000:]
