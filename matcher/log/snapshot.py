"""Snapshots: a point-in-time copy of the engine state in the ``snapshot`` /
``snapshot_chunk`` tables.

Body = zlib(orjson(engine.dump_state())) split into chunks below max_allowed_packet;
``checksum`` = sha256 of the concatenated chunks, verified before use. A snapshot row is
written with ``complete = 0`` first and flipped to 1 in the last transaction, so a crash
half-way leaves an incomplete row that recovery ignores and retention deletes.

Snapshots are made away from the live engine (see ``snapshot_follower.py``): a follower engine
applies the committed operation log up to the requested id and dumps itself, so matching
never pauses for a snapshot.
"""
from __future__ import annotations

import gc
import hashlib
import logging
import time
import zlib

import orjson

from .db import Db, placeholder

logger = logging.getLogger("matcher.snapshot")

CHUNK = 1 << 20  # 1 MiB per row, well below MariaDB's default max_allowed_packet (16 MiB)

# columns written / read (apps/durability/models.py Snapshot, SnapshotChunk;
# tests/matcher/log/test_columns.py checks them against the models)
SNAPSHOT_COLUMNS = ("time_us", "end_oper_id", "end_order_id", "end_deal_id", "end_event_seq", "checksum", "size",
                    "complete", "created_at")  # + id (auto)
LIST_COLUMNS = ("id", "time_us", "end_oper_id", "end_event_seq", "checksum", "size")
CHUNK_COLUMNS = ("snapshot_id", "seq", "data")  # + id (auto)


class SnapshotError(Exception):
    pass


def encode_state(state: dict) -> tuple[bytes, str]:
    body = zlib.compress(orjson.dumps(state), 1)
    return body, hashlib.sha256(body).hexdigest()


def write_snapshot(db: Db, engine, time_us: int | None = None) -> dict:
    """Dump ``engine`` and store it as a complete snapshot; returns its metadata."""
    t0 = time.monotonic()
    state = engine.dump_state()
    t_dump = time.monotonic()
    body, checksum = encode_state(state)
    t_enc = time.monotonic()
    c = state["counters"]
    ph = placeholder(db.vendor)
    time_us = time_us if time_us is not None else time.time_ns() // 1000
    # created_at is NOT NULL (auto_now_add in the model)
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())

    def head(cur):
        cur.execute(
            f"INSERT INTO snapshot ({', '.join(SNAPSHOT_COLUMNS)}) VALUES ({','.join([ph] * len(SNAPSHOT_COLUMNS))})",
            (time_us, c["oper_seq"], c["order_seq"], c["deal_seq"], c["event_seq"], checksum,
             len(body), False, now))
        return cur.lastrowid

    sid = db.run(head)
    seq = 0
    for i in range(0, len(body), CHUNK * 8):
        part = body[i:i + CHUNK * 8]

        def chunks(cur, part=part, base=seq):
            rows = [(sid, base + j, part[k:k + CHUNK]) for j, k in enumerate(range(0, len(part), CHUNK))]
            cur.executemany(f"INSERT INTO snapshot_chunk ({', '.join(CHUNK_COLUMNS)}) VALUES ({ph},{ph},{ph})", rows)
            return len(rows)

        seq += db.run(chunks)
    db.run(lambda cur: cur.execute(f"UPDATE snapshot SET complete = {ph} WHERE id = {ph}", (True, sid)))
    t_end = time.monotonic()
    meta = {
        "id": sid, "end_oper_id": c["oper_seq"], "end_event_seq": c["event_seq"],
        "size": len(body), "chunks": seq, "checksum": checksum,
        "dump_s": round(t_dump - t0, 3), "encode_s": round(t_enc - t_dump, 3),
        "write_s": round(t_end - t_enc, 3),
    }
    logger.info("snapshot %s written: oper %s, %s bytes in %s chunks", sid, c["oper_seq"], len(body), seq)
    return meta


def list_snapshots(db: Db) -> list[dict]:
    """Complete snapshots, newest (highest end_oper_id) first."""
    rows = db.query(
        f"SELECT {', '.join(LIST_COLUMNS)} FROM snapshot WHERE complete = 1 ORDER BY end_oper_id DESC, id DESC")
    return [dict(zip(LIST_COLUMNS, r)) for r in rows]


def read_snapshot(db: Db, meta: dict) -> dict:
    """The state dict of a snapshot; SnapshotError when the checksum does not match."""
    ph = placeholder(db.vendor)
    rows = db.query(f"SELECT data FROM snapshot_chunk WHERE snapshot_id = {ph} ORDER BY seq", (meta["id"],))
    body = b"".join(bytes(r[0]) for r in rows)
    digest = hashlib.sha256(body).hexdigest()
    if digest != meta["checksum"]:
        raise SnapshotError(f"snapshot {meta['id']}: checksum mismatch (stored {meta['checksum']}, "
                            f"computed {digest}, {len(body)} of {meta['size']} bytes)")
    gc_was = gc.isenabled()
    gc.disable()  # millions of new containers, no cycles: full collections would only walk them
    try:
        return orjson.loads(zlib.decompress(body))
    except Exception as e:  # noqa: BLE001
        raise SnapshotError(f"snapshot {meta['id']}: unreadable body: {e}") from e
    finally:
        if gc_was:
            gc.enable()


def delete_snapshot(db: Db, sid: int) -> None:
    ph = placeholder(db.vendor)

    def rm(cur):
        cur.execute(f"DELETE FROM snapshot_chunk WHERE snapshot_id = {ph}", (sid,))
        cur.execute(f"DELETE FROM snapshot WHERE id = {ph}", (sid,))

    db.run(rm)


def apply_retention(db: Db, keep: int, sink_position: int | None = None, prune_batch: int = 20000) -> dict:
    """Keep the ``keep`` newest complete snapshots — plus the newest one the sinks still
    need (end_event_seq <= sink_position), so their events can be re-derived — delete the
    rest and incomplete leftovers older than the newest complete one, then delete
    operation-log rows at or behind the oldest retained snapshot."""
    snaps = list_snapshots(db)
    if not snaps:
        return {"deleted": [], "pruned_upto": 0}
    kept = snaps[:max(1, keep)]
    if sink_position is not None and not any(s["end_event_seq"] <= sink_position for s in kept):
        needed = next((s for s in snaps if s["end_event_seq"] <= sink_position), None)
        if needed is not None:
            kept.append(needed)
    kept_ids = {s["id"] for s in kept}
    deleted = [s["id"] for s in snaps if s["id"] not in kept_ids]
    newest = snaps[0]["id"]
    ph = placeholder(db.vendor)
    for (sid,) in db.query(f"SELECT id FROM snapshot WHERE complete = 0 AND id < {ph}", (newest,)):
        deleted.append(sid)
    for sid in deleted:
        delete_snapshot(db, sid)
    upto = min(s["end_oper_id"] for s in kept)
    if sink_position is not None and not any(s["end_event_seq"] <= sink_position for s in kept):
        upto = 0  # no snapshot behind the sinks: keep the whole log
    pruned = prune_log(db, upto, prune_batch) if upto else 0
    return {"deleted": deleted, "kept": sorted(kept_ids), "pruned_upto": upto, "pruned_rows": pruned}


def prune_log(db: Db, upto: int, batch: int = 20000) -> int:
    """Delete operation-log rows with id <= upto, in short transactions."""
    ph = placeholder(db.vendor)
    row = db.query("SELECT MIN(id) FROM operation_log")
    low = row[0][0]
    if low is None or low > upto:
        return 0
    total = 0
    start = int(low)
    while start <= upto:
        end = min(upto, start + batch - 1)

        def rm(cur, s=start, e=end):
            cur.execute(f"DELETE FROM operation_log WHERE id >= {ph} AND id <= {ph}", (s, e))
            return max(0, cur.rowcount)

        total += db.run(rm)
        start = end + 1
    return total
