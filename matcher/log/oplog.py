"""The operation log: every successful mutating command, in order, consecutive ids.

``OperationLogWriter`` is the group-commit writer. The event loop hands it entries
``(oper_id, time_us, method, params)`` right after the engine applied them; one commit is
in flight at a time, and everything queued meanwhile goes into the next one, so batches
grow with load. Each commit is one multi-row ``INSERT … ON DUPLICATE KEY UPDATE id=id``
in autocommit mode (one round trip). When it is done the highest committed id is reported
to ``on_commit`` on the event loop, which releases the replies.

On MySQL/MariaDB the event loop itself runs the commits while the connection is up: it
sends the statement (``send_query``) and reads the result when the socket is readable
(``add_reader``) — no thread hop and no wake-up of another thread per commit, which at one
connection costs more than the commit. A statement is kept under ``max_statement`` bytes
(several commits in a row for a big backlog, each reporting its prefix of ids), so sending
it never blocks the loop on a full socket buffer. Connecting, and every retry after a
database error, happen in the writer thread: the failed batch is retried forever (the
insert skips ids already present, so a commit whose outcome was lost is harmless) while
``healthy`` is False and the service refuses new mutating commands with code 3; after the
first success the event loop takes the connection back. On SQLite (``make run``'s
embedded default) every commit runs in the writer thread, one transaction a batch.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque

import orjson

from matcher.retry import retry_forever

from .db import Db, executemany_ignore, placeholder

logger = logging.getLogger("matcher.log")

# operation_log (apps/durability/models.py OperationLog; tests/matcher/log/test_columns.py)
TABLE = "operation_log"
COLUMNS = ("id", "time_us", "method", "params")
SELECT = f"SELECT {', '.join(COLUMNS)} FROM {TABLE}"

#: bytes of one INSERT the event loop sends (well below a socket's buffers: never blocks)
MAX_STATEMENT = 64 * 1024
_ROW_OVERHEAD = 48  # digits, quotes, commas of one row beside its params and method

_INSERT_HEAD = (f"INSERT INTO {TABLE} (" + ",".join(f"`{c}`" for c in COLUMNS) + ") VALUES ").encode()
_INSERT_TAIL = b" ON DUPLICATE KEY UPDATE `id`=`id`"
_dumps = orjson.dumps


def encode_params(params) -> str:
    return orjson.dumps(params).decode()


def insert_sql(escape, rows) -> bytes:
    """The MySQL statement inserting ``rows`` ``(id, time_us, method, params_json_bytes)``;
    ``escape`` is the connection's ``escape_string``."""
    return b"".join((_INSERT_HEAD,
                     b",".join([b"(%d,%d,'%s','%s')" % (oid, tu, escape(m.encode()), escape(p))
                                for oid, tu, m, p in rows]),
                     _INSERT_TAIL))


class _GiveUp(Exception):
    """Stopping, and the database did not answer within the stop timeout."""


class OperationLogWriter:
    def __init__(self, on_commit, *, loop: asyncio.AbstractEventLoop | None = None, alias: str = "default",
                 max_batch: int = 5000, max_statement: int = MAX_STATEMENT):
        """``on_commit(last_oper_id)`` is called on the event loop after each commit.
        ``loop``: the event loop that calls ``submit`` (default: the one running ``start``)."""
        self._on_commit = on_commit
        self._loop = loop
        self._alias = alias
        self._max_batch = max_batch
        self._max_statement = max_statement
        self._queue: deque = deque()  # (oper_id, time_us, method, params JSON bytes)
        self._db: Db | None = None
        self._mysql = False
        self._raw = None  # the connection the event loop commits on (None: the thread's turn)
        self._fd: int | None = None
        self._stale = False  # the thread must drop its connection before the next attempt
        self._inflight: list | None = None  # rows of the commit in flight (None: idle)
        self._starting = False  # a commit start is scheduled for the end of this loop iteration
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._stop_deadline = 0.0
        self._idle = threading.Event()
        self.healthy = True
        self.last_error: str | None = None
        self.committed_id = 0
        self.commits = 0
        self.entries = 0

    # -- event loop ----------------------------------------------------------------------
    def submit(self, oper_id: int, time_us: int, method: str, params) -> None:
        self._queue.append((oper_id, time_us, method, _dumps(params)))
        if self._inflight is None and not self._starting:
            # at the end of this loop iteration, not now: every command applied in this
            # iteration (all frames of one read, all connections read together) joins the
            # commit — no timer, but one commit for a burst instead of one for its first
            self._starting = True
            self._loop.call_soon(self._start)

    def _start(self) -> None:
        self._starting = False
        if self._inflight is None:
            self._next()

    def backlog(self) -> int:
        return len(self._queue) + len(self._inflight or ())

    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self._mysql = Db(self._alias).vendor == "mysql"
        self._db = Db(self._alias, autocommit=self._mysql)
        self._thread = threading.Thread(target=self._run, name="oplog-writer", daemon=True)
        self._thread.start()

    def _take(self) -> list:
        q = self._queue
        row = q.popleft()
        rows = [row]
        n = self._max_batch
        if not self._mysql:
            while q and len(rows) < n:
                rows.append(q.popleft())
            return rows
        size, limit = len(row[3]) + _ROW_OVERHEAD, self._max_statement
        while q and len(rows) < n:
            row = q[0]
            size += len(row[3]) + len(row[2]) + _ROW_OVERHEAD
            if size > limit:
                break
            rows.append(q.popleft())
        return rows

    def _next(self) -> None:
        """Start the next commit, if anything is queued."""
        if not self._queue:
            self._inflight = None
            if self._stopping:
                self._finish()
            return
        rows = self._inflight = self._take()
        raw = self._raw
        if raw is None:
            self._jobs.put(rows)
            return
        try:
            sql = insert_sql(raw.escape_string, rows)
            if len(sql) > self._max_statement + 4096:  # one huge entry: sending it could block
                self._release()
                self._jobs.put(rows)
                return
            raw.send_query(sql)
        except Exception as e:  # noqa: BLE001 - the database: the thread retries
            self._failed(e)

    def _readable(self) -> None:
        rows, raw = self._inflight, self._raw
        if raw is None:
            return
        if rows is None:  # nothing asked: the server closed the connection (or it broke)
            self._release()
            self._stale = True
            return
        try:
            raw.read_query_result()
        except Exception as e:  # noqa: BLE001
            self._failed(e)
            return
        self._committed(rows)

    def _committed(self, rows: list) -> None:
        last = rows[-1][0]
        self.healthy = True
        self.last_error = None
        self.committed_id = last
        self.commits += 1
        self.entries += len(rows)
        self._next()  # the next commit goes out before this one's replies
        self._on_commit(last)

    def _failed(self, e: Exception) -> None:
        logger.error("operation log commit of %s entries from id %s failed: %s; retrying",
                     len(self._inflight), self._inflight[0][0], e)
        self.healthy = False
        self.last_error = str(e)
        self._release()
        self._stale = True
        self._jobs.put(self._inflight)

    def _release(self) -> None:
        """The event loop stops using the connection (the thread's turn)."""
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            self._fd = None
        self._raw = None

    def _from_thread(self, rows: list) -> None:
        """The thread committed ``rows``; on MySQL the event loop takes the connection back."""
        if self._mysql and not self._stopping:
            raw = self._db.connection
            if raw is not None:
                self._raw = raw
                self._fd = raw.fileno()
                self._loop.add_reader(self._fd, self._readable)
        self._committed(rows)

    def _finish(self) -> None:
        self._release()
        self._idle.set()

    # -- any thread --------------------------------------------------------------------
    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued (while the database answers, up to ``timeout``), then stop.
        Called from a thread other than the event loop's, while the loop runs."""
        self._stop_deadline = time.monotonic() + timeout
        self._stopping = True
        loop = self._loop
        try:
            loop.call_soon_threadsafe(self._check_idle)
            self._idle.wait(timeout + 1)
            if not self._idle.is_set():
                loop.call_soon_threadsafe(self._release)
        except RuntimeError:  # the loop is closed
            pass
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout + 5)

    def _check_idle(self) -> None:
        if self._inflight is None:
            self._next()

    # -- writer thread -------------------------------------------------------------------
    def _run(self) -> None:
        db = self._db
        try:
            while True:
                rows = self._jobs.get()
                if rows is None:
                    return
                if self._stale:
                    self._stale = False
                    db.close()
                try:
                    self._write(db, rows)
                except _GiveUp:
                    logger.critical("operation log: giving up at shutdown; entries from id %s are "
                                    "not committed and were never acknowledged", rows[0][0])
                    self._idle.set()
                    continue
                try:
                    self._loop.call_soon_threadsafe(self._from_thread, rows)
                except RuntimeError:  # the loop is closed
                    return
        except Exception:  # noqa: BLE001
            logger.critical("operation-log writer died", exc_info=True)
            self.healthy = False
        finally:
            db.close()

    def _write(self, db: Db, rows: list) -> None:
        if self._mysql:
            def insert(cur):
                cur.execute(insert_sql(cur.connection.escape_string, rows))
        else:
            text = [(oid, tu, m, p.decode()) for oid, tu, m, p in rows]
            vendor = db.vendor

            def insert(cur):
                executemany_ignore(cur, vendor, TABLE, COLUMNS, text, chunk=2000)

        def failed(e, failures):
            self.healthy = False
            self.last_error = str(e)
            if self._stopping and time.monotonic() > self._stop_deadline:
                raise _GiveUp from e

        retry_forever(lambda: db.run(insert), what=f"operation log commit of {len(rows)} entries from id {rows[0][0]}",
                      log=logger, on_error=failed, reraise=(_GiveUp,))


def read_log_pages(db: Db, after_id: int, upto_id: int | None = None, page: int = 20000):
    """Yield lists of ``(id, time_us, method, params_json)`` with id > after_id (<= upto_id),
    in id order, ``page`` rows a list."""
    ph = placeholder(db.vendor)
    last = after_id
    while True:
        if upto_id is not None:
            rows = db.query(
                f"{SELECT} WHERE id > {ph} AND id <= {ph} "
                f"ORDER BY id LIMIT {page}", (last, upto_id))
        else:
            rows = db.query(
                f"{SELECT} WHERE id > {ph} ORDER BY id LIMIT {page}",
                (last,))
        if not rows:
            return
        yield rows
        last = rows[-1][0]
        if len(rows) < page:
            return


class _Failed:
    __slots__ = ("exc",)

    def __init__(self, exc):
        self.exc = exc


_END = object()


def read_log_pages_prefetched(db: Db, after_id: int, upto_id: int | None = None, page: int = 20000,
                              depth: int = 2):
    """``read_log_pages``, with the next pages fetched by a helper thread while the caller
    works on the current one (the server's query time and the driver's waits, which
    release the GIL, overlap the replay: ≈ 2 s of 1M operations). The helper uses ``db``
    alone until the generator is exhausted or closed — close it (``try/finally``) before
    using ``db`` again; closing stops and joins the helper."""
    import queue

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for rows in read_log_pages(db, after_id, upto_id, page):
                if not put(rows):
                    return
            put(_END)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            put(_Failed(e))

    t = threading.Thread(target=fetch, name="oplog-prefetch", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if type(item) is _Failed:
                raise item.exc
            yield item
    finally:
        stop.set()
        t.join()


def last_log_id(db: Db) -> int:
    row = db.query("SELECT MAX(id) FROM operation_log")
    return int(row[0][0] or 0)
