"""The raw SQL of matcher/log names the columns of apps/durability's models: a field added,
renamed or dropped in a model without the SQL (or the reverse) fails here."""
from apps.durability.models import OperationLog, SinkProgress, Snapshot, SnapshotChunk
from matcher.log import db, oplog, snapshot


def columns(model) -> set[str]:
    return {f.column for f in model._meta.concrete_fields}


def auto_pk(model) -> set[str]:
    pk = model._meta.pk
    return {pk.column} if pk.get_internal_type() == "BigAutoField" else set()


def test_operation_log_insert_and_reads_name_every_column():
    assert oplog.TABLE == OperationLog._meta.db_table
    assert len(set(oplog.COLUMNS)) == len(oplog.COLUMNS)
    assert set(oplog.COLUMNS) == columns(OperationLog)
    assert oplog.SELECT.startswith("SELECT id, ")  # the replay unpacks (id, time_us, method, params)


def test_snapshot_insert_writes_every_column_but_the_auto_id():
    assert Snapshot._meta.db_table == "snapshot" and SnapshotChunk._meta.db_table == "snapshot_chunk"
    assert set(snapshot.SNAPSHOT_COLUMNS) == columns(Snapshot) - auto_pk(Snapshot)
    assert set(snapshot.CHUNK_COLUMNS) == columns(SnapshotChunk) - auto_pk(SnapshotChunk)
    assert set(snapshot.LIST_COLUMNS) <= columns(Snapshot)
    assert len(set(snapshot.SNAPSHOT_COLUMNS)) == len(snapshot.SNAPSHOT_COLUMNS)


def test_sink_progress_columns():
    assert SinkProgress._meta.db_table == "sink_progress"
    assert set(db.PROGRESS_COLUMNS) == columns(SinkProgress)
