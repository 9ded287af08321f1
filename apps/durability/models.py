"""The matcher's durability tables: the operation log, snapshots and the outputs' progress
(docs/durability.md). Schemas owned here; the matcher reads and writes them with raw SQL
(matcher/log/*, matcher/sinks/history.py), column lists checked against these models by
tests/matcher/log/test_columns.py. No ORM code writes them.

Until step 6 these models lived in apps.history; the tables kept their names (db_table)
and the move was state-only (migrations durability 0001 and history 0005).
"""
from django.db import models


class OperationLog(models.Model):
    """Every successful mutating command, in order, with consecutive ids. Replayed at start
    after the newest snapshot; pruned behind the snapshots."""

    id = models.PositiveBigIntegerField(primary_key=True)  # oper_id, consecutive
    time_us = models.BigIntegerField()  # accepted time, µs
    method = models.CharField(max_length=32)
    params = models.TextField()  # normalised params, JSON

    class Meta:
        db_table = "operation_log"


class Snapshot(models.Model):
    """A point-in-time copy of the matcher state: valid only once `complete`."""

    id = models.BigAutoField(primary_key=True)
    time_us = models.BigIntegerField()
    end_oper_id = models.PositiveBigIntegerField()
    end_order_id = models.PositiveBigIntegerField()
    end_deal_id = models.PositiveBigIntegerField()
    end_event_seq = models.PositiveBigIntegerField(default=0)
    checksum = models.CharField(max_length=64)  # sha256 of the concatenated chunks
    size = models.PositiveBigIntegerField(default=0)
    complete = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "snapshot"
        indexes = [models.Index(fields=["complete", "end_oper_id"], name="snapshot_complete")]


class SnapshotChunk(models.Model):
    """The snapshot body, compressed and split to stay under max_allowed_packet."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        db_table = "snapshot_chunk"
        constraints = [models.UniqueConstraint(fields=["snapshot", "seq"], name="snapshot_chunk_seq")]


class SinkProgress(models.Model):
    """How far a matcher output (history writer, Kafka publisher) is known to be done: every
    event with seq <= `position` is written/delivered. After a crash the matcher re-emits the
    events of the replayed log tail after the smallest position (matcher/log/recovery.py)."""

    name = models.CharField(max_length=32, primary_key=True)  # "history" | "kafka"
    position = models.PositiveBigIntegerField(default=0)  # last event seq done

    class Meta:
        db_table = "sink_progress"
