"""The operation log: every successful mutating command, in order, consecutive ids.

``OperationLogWriter`` is the group-commit writer: the event loop hands it entries
``(oper_id, time_us, method, params)`` right after the engine applied them; a dedicated
thread writes everything queued so far in one transaction (one multi-row insert), commits,
and reports the highest committed id back to the event loop, which then releases the
replies. While one commit runs the next batch accumulates, so batches grow with load
(up to ``max_batch``). On a database error the same batch is retried forever (the insert
skips ids already present, so a commit whose outcome was lost is harmless); meanwhile
``healthy`` is False and the service refuses new mutating commands with code 3.
"""
from __future__ import annotations

import logging
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


def encode_params(params) -> str:
    return orjson.dumps(params).decode()


class OperationLogWriter:
    def __init__(self, on_commit, *, alias: str = "default", max_batch: int = 5000,
                 linger: float = 0.0):
        """``on_commit(last_oper_id)`` is called from the writer thread after each commit
        (the service wraps it with ``loop.call_soon_threadsafe``)."""
        self._on_commit = on_commit
        self._alias = alias
        self._max_batch = max_batch
        self._linger = linger
        self._queue: deque = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.healthy = True
        self.last_error: str | None = None
        self.committed_id = 0
        self.commits = 0
        self.entries = 0

    # -- event-loop side ---------------------------------------------------------------
    def submit(self, oper_id: int, time_us: int, method: str, params) -> None:
        self._queue.append((oper_id, time_us, method, params))
        if not self._wake.is_set():
            self._wake.set()

    def backlog(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="oplog-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued (while the database answers, up to ``timeout``), then stop."""
        self._stopping = True
        self._stop_deadline = time.monotonic() + timeout
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout + 5)

    # -- writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        db = Db(self._alias)
        q = self._queue
        try:
            while True:
                if not q:
                    if self._stopping:
                        return
                    self._wake.wait(0.5)
                    self._wake.clear()
                    if self._linger and q:
                        time.sleep(self._linger)
                    continue
                batch = []
                n = self._max_batch
                while q and n:
                    batch.append(q.popleft())
                    n -= 1
                self._write(db, batch)
        except Exception:  # noqa: BLE001
            logger.critical("operation-log writer died", exc_info=True)
            self.healthy = False
        finally:
            db.close()

    def _write(self, db: Db, batch: list) -> None:
        rows = [(oid, tu, m, encode_params(p)) for oid, tu, m, p in batch]
        vendor = db.vendor

        def insert(cur):
            executemany_ignore(cur, vendor, TABLE, COLUMNS, rows, chunk=2000)

        def failed(e, failures):
            self.healthy = False
            self.last_error = str(e)
            if self._stopping and time.monotonic() > self._stop_deadline:
                logger.critical("operation log: giving up at shutdown; entries from id %s are "
                                "not committed and were never acknowledged", rows[0][0])
                raise SystemExit from e

        retry_forever(lambda: db.run(insert), what=f"operation log commit of {len(rows)} entries from id {rows[0][0]}",
                      log=logger, on_error=failed)
        self.healthy = True
        self.last_error = None
        self.committed_id = rows[-1][0]
        self.commits += 1
        self.entries += len(rows)
        self._on_commit(self.committed_id)


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
