"""The matcher's durability tables, moved here from apps.history (state only).

The tables already exist (created by history 0001 and 0002, on a fresh database as on an
existing one), so this migration only adds the models to this app's state; history 0005
then removes them from history's state. No table is created, renamed or dropped: the data
stays where it is.
"""
import django.db.models.deletion
from django.db import migrations, models

MODELS = [
    migrations.CreateModel(
        name="OperationLog",
        fields=[
            ("id", models.PositiveBigIntegerField(primary_key=True, serialize=False)),
            ("time_us", models.BigIntegerField()),
            ("method", models.CharField(max_length=32)),
            ("params", models.TextField()),
        ],
        options={"db_table": "operation_log"},
    ),
    migrations.CreateModel(
        name="Snapshot",
        fields=[
            ("id", models.BigAutoField(primary_key=True, serialize=False)),
            ("time_us", models.BigIntegerField()),
            ("end_oper_id", models.PositiveBigIntegerField()),
            ("end_order_id", models.PositiveBigIntegerField()),
            ("end_deal_id", models.PositiveBigIntegerField()),
            ("end_event_seq", models.PositiveBigIntegerField(default=0)),
            ("checksum", models.CharField(max_length=64)),
            ("size", models.PositiveBigIntegerField(default=0)),
            ("complete", models.BooleanField(default=False)),
            ("created_at", models.DateTimeField(auto_now_add=True)),
        ],
        options={
            "db_table": "snapshot",
            "indexes": [models.Index(fields=["complete", "end_oper_id"], name="snapshot_complete")],
        },
    ),
    migrations.CreateModel(
        name="SnapshotChunk",
        fields=[
            ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ("seq", models.PositiveIntegerField()),
            ("data", models.BinaryField()),
            ("snapshot", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="chunks",
                                           to="durability.snapshot")),
        ],
        options={
            "db_table": "snapshot_chunk",
            "constraints": [models.UniqueConstraint(fields=("snapshot", "seq"), name="snapshot_chunk_seq")],
        },
    ),
    migrations.CreateModel(
        name="SinkProgress",
        fields=[
            ("name", models.CharField(max_length=32, primary_key=True, serialize=False)),
            ("position", models.PositiveBigIntegerField(default=0)),
        ],
        options={"db_table": "sink_progress"},
    ),
]


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        # the tables exist from here on (history 0001: operation_log, snapshot,
        # snapshot_chunk; 0002: sink_progress)
        ("history", "0004_deal_history_user_market_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=MODELS, database_operations=[]),
    ]
