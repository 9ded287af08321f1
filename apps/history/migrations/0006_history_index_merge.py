"""Fewer history indexes, same read plans (docs/benchmarks.md "History cost per order
(step 11)"): every secondary index costs MariaDB CPU on each of the ~5 rows an order writes.

- balance_history: (user_id, time) and (user_id, asset, time) become one (user_id, time,
  asset): a time window is a range on (user, time) either way, the asset compared inside
  the index (index condition pushdown) before any row is read.
- order_history: (user_id, market, id) and (user_id, market, side, id) become one
  (user_id, market, id, side): newest-first pages with no sort, the side compared inside
  the index.

The new indexes are built before the old ones are dropped (reads keep an index throughout).
"""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("history", "0005_durability_tables_to_apps_durability"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="balancehistory",
            index=models.Index(fields=["user_id", "time", "asset"], name="bh_user_time_asset"),
        ),
        migrations.AddIndex(
            model_name="orderhistory",
            index=models.Index(fields=["user_id", "market", "id", "side"], name="oh_user_market_id_side"),
        ),
        migrations.RemoveIndex(model_name="balancehistory", name="bh_user_time"),
        migrations.RemoveIndex(model_name="balancehistory", name="bh_user_asset_time"),
        migrations.RemoveIndex(model_name="orderhistory", name="oh_user_market"),
        migrations.RemoveIndex(model_name="orderhistory", name="oh_user_market_side"),
    ]
