"""The snapshot follower's process (``python -m matcher.log.snapshot_child``), started and
stopped by ``matcher.log.snapshot_follower.SnapshotFollower``.

It keeps an engine of its own. Asked for a snapshot at operation id N (one JSON line
``{"upto": N, "keep": K, "sink_position": P}`` on stdin), it applies the committed
operation log up to N to its engine, dumps it, writes the snapshot, applies retention and
prunes the log, then answers ``{"ok": meta}`` or ``{"error": "…"}``. The engine is kept
between snapshots, so each one replays only the log written since the previous one. It
exits at EOF of its stdin (the matcher went away).

``make_snapshot`` is also the offline ``python -m matcher snapshot``.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextlib import suppress

from matcher.child_process import child_setup, reply

from .db import Db
from .recovery import load_base, replay
from .snapshot import apply_retention, write_snapshot

logger = logging.getLogger("matcher.snapshot")


def make_snapshot(db, engine, upto: int, keep: int, sink_position: int | None):
    """Bring ``engine`` (or a fresh base when None/ahead) to ``upto``, write a snapshot and
    apply retention. Returns (engine, meta)."""
    t0 = time.monotonic()
    if engine is None or engine.oper_seq > upto:
        engine, _ = load_base(db, max_oper_id=upto)
    n = replay(db, engine, upto)
    t1 = time.monotonic()
    meta = write_snapshot(db, engine)
    meta["replayed"] = n
    meta["replay_s"] = round(t1 - t0, 3)
    meta["retention"] = apply_retention(db, keep, sink_position)
    meta["total_s"] = round(time.monotonic() - t0, 3)
    return engine, meta


def main() -> int:
    """JSON lines in (stdin), JSON lines out (stdout), one snapshot each."""
    alias = child_setup()
    with suppress(OSError):
        os.nice(10)  # the live engine has priority
    db = Db(alias)
    engine = None
    for line in sys.stdin:
        req = json.loads(line)
        try:
            engine, meta = make_snapshot(db, engine, req["upto"], req["keep"], req.get("sink_position"))
            answer = {"ok": meta}
        except Exception as e:  # noqa: BLE001 - reported to the matcher, which logs and retries later
            logger.error("snapshot at operation %s failed", req.get("upto"), exc_info=True)
            engine = None
            db.close()
            answer = {"error": f"{type(e).__name__}: {e}"}
        reply(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
