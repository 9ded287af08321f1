"""Retry-forever with exponential back-off: the matcher's processes retry a database
operation until it succeeds (the operation log writer, the history follower) — a write
is never dropped, the process waits for the database to come back."""
from __future__ import annotations

import logging
import time

logger = logging.getLogger("matcher.retry")

#: a failure is logged the first time and then every this many attempts
LOG_EVERY = 20


def backoff_delay(failures: int, *, first: float = 0.1, maximum: float = 1.0) -> float:
    """Seconds to wait after the `failures`-th failure in a row: `first`, doubling, at most
    `maximum` (0.1, 0.2, 0.4, 0.8, 1.0, 1.0, …)."""
    return min(maximum, first * 2 ** min(failures - 1, 16))


def retry_forever(fn, *, what: str, log: logging.Logger = logger, on_error=None, reraise: tuple = ()):
    """Call ``fn()`` until it returns; return its result.

    Each failure (any ``Exception`` not in ``reraise``) is counted, logged (the first and
    every LOG_EVERY-th), then passed to ``on_error(exc, failures)`` — which may raise to
    give up (e.g. at shutdown) — and followed by a back-off sleep (``backoff_delay``).
    A success after failures is logged once."""
    failures = 0
    while True:
        try:
            result = fn()
        except reraise:
            raise
        except Exception as e:  # noqa: BLE001 - the database: retry
            failures += 1
            if failures == 1 or failures % LOG_EVERY == 0:
                log.error("%s failed (attempt %s): %s", what, failures, e)
            if on_error is not None:
                on_error(e, failures)
            time.sleep(backoff_delay(failures))
            continue
        if failures:
            log.warning("%s succeeded after %s failed attempts", what, failures)
        return result
