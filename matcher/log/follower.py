"""Snapshots without stopping the matcher: a follower engine in a child process.

The child (a fresh ``python -m matcher.log.follower`` process — ``fork()`` is unsafe
beside librdkafka's and the database driver's threads) keeps its own engine. Asked for a snapshot at
operation id N (the highest *committed* id), it applies the committed operation log up
to N to its engine, dumps it, writes the snapshot, applies retention and prunes the log.
The state is therefore exactly the state after operation N — a point-in-time copy — and
the live engine never pauses: the cost is CPU in another process (run at lower priority).
The follower keeps its engine between snapshots, so each snapshot replays only the log
written since the previous one. It exits when the matcher goes away (EOF on its stdin).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import suppress

logger = logging.getLogger("matcher.snapshot")


def make_snapshot(db, engine, upto: int, keep: int, sink_position: int | None):
    """Bring ``engine`` (or a fresh base when None/ahead) to ``upto``, write a snapshot and
    apply retention. Returns (engine, meta)."""
    from .recovery import load_base, replay
    from .snapshot import apply_retention, write_snapshot

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


def child_setup() -> str:
    """In a follower process: Django set up with the parent's database settings (passed
    by ``child_env``, so a test database is followed too). Returns the alias."""
    import json

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
    alias = os.environ.get("MATCHER_FOLLOWER_ALIAS", "default")
    from django.conf import settings

    settings.DATABASES[alias] = json.loads(os.environ["MATCHER_FOLLOWER_DB"])
    import django

    django.setup()
    return alias


def child_env(alias: str) -> dict:
    """Environment of a follower process started by the matcher (see ``child_setup``)."""
    import json

    from django.db import connections

    settings_dict = dict(connections[alias].settings_dict)
    return dict(os.environ, MATCHER_FOLLOWER_DB=json.dumps(settings_dict, default=str),
                MATCHER_FOLLOWER_ALIAS=alias)


def _child_main() -> int:
    """Entry of the follower process: JSON lines in (stdin), JSON lines out (stdout)."""
    import json
    import sys

    alias = child_setup()
    from .db import Db

    with suppress(OSError):
        os.nice(10)
    out = sys.stdout
    db = Db(alias)
    engine = None
    for line in sys.stdin:
        req = json.loads(line)
        try:
            engine, meta = make_snapshot(db, engine, req["upto"], req["keep"], req.get("sink_position"))
            reply = {"ok": meta}
        except Exception as e:  # noqa: BLE001
            logger.error("snapshot at operation %s failed", req.get("upto"), exc_info=True)
            engine = None
            db.close()
            reply = {"error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


class SnapshotFollower:
    def __init__(self, alias: str = "default"):
        self.alias = alias
        self._proc = None
        self._lock = threading.Lock()

    def _ensure(self):
        if self._proc is not None and self._proc.poll() is None:
            return
        import subprocess
        import sys

        env = child_env(self.alias)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "matcher.log.follower"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=env, cwd=str(project_dir()), text=True, bufsize=1)

    def make(self, upto: int, keep: int, sink_position: int | None = None) -> dict:
        """Blocking: a snapshot of the state after operation ``upto`` (must be committed)."""
        import json

        with self._lock:
            self._ensure()
            try:
                self._proc.stdin.write(json.dumps({"upto": upto, "keep": keep, "sink_position": sink_position}) + "\n")
                self._proc.stdin.flush()
                line = self._proc.stdout.readline()
            except (BrokenPipeError, OSError) as e:
                self.close()
                raise RuntimeError(f"snapshot process died: {e}") from e
            if not line:
                self.close()
                raise RuntimeError("snapshot process died")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["ok"]

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with suppress(Exception):
            proc.stdin.close()
        try:
            proc.wait(10)
        except Exception:  # noqa: BLE001
            proc.kill()
            proc.wait(5)
        with suppress(Exception):
            proc.stdout.close()


def project_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent.parent


if __name__ == "__main__":
    import sys

    sys.exit(_child_main())
