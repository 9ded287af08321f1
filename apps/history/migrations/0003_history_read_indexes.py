"""Indexes for the readhistory queries (docs/benchmarks.md "History reads"):
balance.history of a user (no filter) or of one asset, newest first, and an asset's time
window. InnoDB appends the primary key to every secondary index, so (user_id) alone
would order by id too; the id is spelled out to make the intent explicit."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("history", "0002_sink_progress"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="balancehistory",
            index=models.Index(fields=["user_id", "id"], name="bh_user"),
        ),
        migrations.AddIndex(
            model_name="balancehistory",
            index=models.Index(fields=["user_id", "asset", "id"], name="bh_user_asset"),
        ),
        migrations.AddIndex(
            model_name="balancehistory",
            index=models.Index(fields=["user_id", "asset", "time"], name="bh_user_asset_time"),
        ),
    ]
