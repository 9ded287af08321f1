"""OperationLog, Snapshot, SnapshotChunk and SinkProgress now belong to apps.durability
(durability 0001 added them to its state): removed from history's state only. The tables
stay (DeleteModel would drop them; here no database operation runs)."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("history", "0004_deal_history_user_market_indexes"),
        ("durability", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="SnapshotChunk"),
                migrations.DeleteModel(name="Snapshot"),
                migrations.DeleteModel(name="OperationLog"),
                migrations.DeleteModel(name="SinkProgress"),
            ],
            database_operations=[],
        ),
    ]
