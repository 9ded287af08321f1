"""A fresh MySQL database for a benchmark: DATABASE_URL names it; it is dropped, re-created
and migrated (and seeded with the demo configuration when asked)."""
import os
import subprocess
import sys
from urllib.parse import urlparse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fresh_database(example_name: str, seed: bool = False) -> None:
    u = urlparse(os.environ.get("DATABASE_URL", ""))
    if u.scheme != "mysql":
        sys.exit(f"set DATABASE_URL=mysql://root@127.0.0.1:3306/{example_name} (it is dropped and re-created)")
    import MySQLdb

    conn = MySQLdb.connect(host=u.hostname or "127.0.0.1", port=u.port or 3306, user=u.username or "root",
                           passwd=u.password or "")
    name = u.path.lstrip("/")
    conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    conn.close()
    subprocess.run([sys.executable, "manage.py", "migrate", "--skip-checks", "-v0"], cwd=ROOT, check=True)
    if seed:
        subprocess.run([sys.executable, "manage.py", "seed_markets"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
