"""Blocking database access for the matcher's writer threads and processes.

Each ``Db`` owns a private connection made from Django's settings
(``connections.create_connection``) and talks to the DB-API connection underneath: no ORM,
no debug cursor wrapper, explicit transactions. Works on MySQL/MariaDB (production, tests, benchmarks) and SQLite
(``make run``'s embedded default).
"""
from __future__ import annotations

import logging
from contextlib import suppress

from django.db import connections

logger = logging.getLogger("matcher.db")


class Db:
    """A private database handle (not Django's thread-local connection, so ORM code in the
    same thread never inherits its transaction mode). ``run(fn)`` executes ``fn(cursor)``
    in one transaction and commits; any error rolls back, drops the connection (the next
    call reconnects) and is re-raised. One thread at a time.

    ``autocommit=True``: each statement ``fn`` executes commits on its own and ``run`` sends
    no COMMIT (one round trip less; for a single statement that is atomic by itself)."""

    def __init__(self, alias: str = "default", *, autocommit: bool = False):
        self.alias = alias
        self.autocommit = autocommit
        self._wrapper = None
        self._raw = None

    @property
    def vendor(self) -> str:
        return connections[self.alias].vendor

    def _connect(self):
        if self._raw is None:
            if self._wrapper is None:
                self._wrapper = connections.create_connection(self.alias)
            w = self._wrapper
            w.ensure_connection()
            if w.get_autocommit() != self.autocommit:
                w.set_autocommit(self.autocommit)
            self._raw = w.connection
        return self._raw

    def run(self, fn):
        raw = self._connect()
        try:
            cur = raw.cursor()
            try:
                result = fn(cur)
            finally:
                with suppress(Exception):
                    cur.close()
            if not self.autocommit:
                raw.commit()
            return result
        except BaseException:
            self.close()
            raise

    def query(self, sql: str, params=()):
        """All rows of one read (in its own short transaction)."""

        def q(cur):
            cur.execute(sql, params)
            return cur.fetchall()

        return self.run(q)

    @property
    def connection(self):
        """The open DB-API connection (None: not connected, or dropped after an error)."""
        return self._raw

    def close(self) -> None:
        raw, self._raw = self._raw, None
        w, self._wrapper = self._wrapper, None
        if raw is not None:
            with suppress(Exception):
                raw.rollback()
        if w is not None:
            with suppress(Exception):
                w.close()
            if w.connection is not None:
                with suppress(Exception):
                    w.connection.close()
                w.connection = None


def placeholder(vendor: str) -> str:
    return "?" if vendor == "sqlite" else "%s"


def insert_ignore(vendor: str, table: str, columns: tuple[str, ...], rows: int) -> str:
    """A multi-row INSERT that skips rows whose primary key exists (and only those: on
    MySQL ``ON DUPLICATE KEY UPDATE id=id`` rather than ``INSERT IGNORE``, which would also
    turn data errors into warnings)."""
    ph = placeholder(vendor)
    one = "(" + ",".join([ph] * len(columns)) + ")"
    cols = ",".join(f"`{c}`" if vendor == "mysql" else f'"{c}"' for c in columns)
    values = ",".join([one] * rows)
    pk = columns[0]
    if vendor == "mysql":
        return f"INSERT INTO {table} ({cols}) VALUES {values} ON DUPLICATE KEY UPDATE `{pk}`=`{pk}`"
    return f"INSERT INTO {table} ({cols}) VALUES {values} ON CONFLICT DO NOTHING"


def _mysql_literal_rows(cur, rows: list) -> str:
    """VALUES list for MySQL built directly (mysqlclient's per-argument ``literal()`` costs
    ~3 µs a value — the main cost of the history writer). ints/floats as numbers, every
    str quoted and escaped by the C ``escape_string``, None as NULL, bytes/bool otherwise."""
    esc = cur.connection.escape_string
    out = []
    append = out.append
    for row in rows:
        parts = []
        for v in row:
            t = type(v)
            if t is str:
                parts.append("'" + esc(v.encode()).decode() + "'")
            elif t is int:
                parts.append(str(v))
            elif t is float:
                parts.append(repr(v))
            elif v is None:
                parts.append("NULL")
            elif t is bool:
                parts.append("1" if v else "0")
            else:
                parts.append("'" + esc(str(v).encode()).decode() + "'")
        append("(" + ",".join(parts) + ")")
    return ",".join(out)


def executemany_ignore(cur, vendor: str, table: str, columns: tuple[str, ...], rows: list,
                       chunk: int = 1000) -> None:
    """Insert ``rows`` (tuples) with insert-ignore semantics in multi-row statements."""
    n = len(columns)
    if vendor == "mysql":
        cols = ",".join(f"`{c}`" for c in columns)
        pk = columns[0]
        for i in range(0, len(rows), chunk):
            values = _mysql_literal_rows(cur, rows[i:i + chunk])
            cur.execute(f"INSERT INTO {table} ({cols}) VALUES {values} ON DUPLICATE KEY UPDATE `{pk}`=`{pk}`")
        return
    if vendor == "sqlite":
        chunk = max(1, min(chunk, 32766 // n))
    for i in range(0, len(rows), chunk):
        part = rows[i:i + chunk]
        flat = [v for row in part for v in row]
        cur.execute(insert_ignore(vendor, table, columns, len(part)), flat)


# sink_progress (apps/durability/models.py SinkProgress; tests/matcher/log/test_columns.py)
PROGRESS_COLUMNS = ("name", "position")


def set_progress_sql(vendor: str) -> str:
    ph = placeholder(vendor)
    if vendor == "mysql":
        return (f"INSERT INTO sink_progress ({', '.join(PROGRESS_COLUMNS)}) VALUES ({ph},{ph}) "
                "ON DUPLICATE KEY UPDATE position = GREATEST(position, VALUES(position))")
    return (f"INSERT INTO sink_progress ({', '.join(PROGRESS_COLUMNS)}) VALUES ({ph},{ph}) "
            "ON CONFLICT(name) DO UPDATE SET position = MAX(position, excluded.position)")


def read_progress(db: Db) -> dict[str, int]:
    return {name: int(pos) for name, pos in db.query(f"SELECT {', '.join(PROGRESS_COLUMNS)} FROM sink_progress")}
