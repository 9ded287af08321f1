"""History tables the matcher writes (schemas owned here; the matcher's history follower
writes them with bulk SQL, column lists in matcher/sinks/history.py, checked against these
models by tests/matcher/sinks/test_columns.py). The matcher's own durability tables
(operation log, snapshots, sink progress) live in apps/durability.

Unlike the original's `_0`…`_99` shards, each history kind is one table whose indexes
serve the same queries (../shared/spec/readhistory.md §2). Ids are deterministic — assigned
by the matcher core from its counters — so a replay after a crash re-inserts what may be
missing and doubles nothing (insert-ignore on the primary key). Decimal columns are
DECIMAL(50,20): every precision the configuration allows is kept exactly.
"""
from django.db import models


def amount_field():
    return models.DecimalField(max_digits=50, decimal_places=20)


class BalanceHistory(models.Model):
    """One row per balance change (deposit/withdraw/trade/fee)."""

    id = models.PositiveBigIntegerField(primary_key=True)  # the BalanceEvent's seq
    time = models.FloatField()
    user_id = models.PositiveIntegerField()
    asset = models.CharField(max_length=30)
    business = models.CharField(max_length=30)
    change = amount_field()
    balance = amount_field()  # the asset's total (available + freeze) right after the change
    detail = models.TextField()

    class Meta:
        db_table = "balance_history"
        indexes = [
            models.Index(fields=["user_id", "asset", "business", "id"], name="bh_user_asset_business"),
            models.Index(fields=["user_id", "business", "id"], name="bh_user_business"),
            # a time window, with or without an asset (the asset is filtered inside the index:
            # one index instead of (user, time) + (user, asset, time); docs/benchmarks.md
            # "History cost per order (step 11)")
            models.Index(fields=["user_id", "time", "asset"], name="bh_user_time_asset"),
            # history reads (docs/benchmarks.md "History reads"): newest-first pages of a
            # user and of a user's asset
            models.Index(fields=["user_id", "id"], name="bh_user"),
            models.Index(fields=["user_id", "asset", "id"], name="bh_user_asset"),
        ]


class OrderHistory(models.Model):
    """Finished orders (those that traded, and every market order); id = order id."""

    id = models.PositiveBigIntegerField(primary_key=True)
    create_time = models.FloatField()
    finish_time = models.FloatField()
    user_id = models.PositiveIntegerField()
    market = models.CharField(max_length=30)
    source = models.CharField(max_length=30)
    t = models.PositiveSmallIntegerField()  # order type: 1 limit, 2 market
    side = models.PositiveSmallIntegerField()  # 1 ask, 2 bid
    price = amount_field()
    amount = amount_field()
    taker_fee = amount_field()
    maker_fee = amount_field()
    deal_stock = amount_field()
    deal_money = amount_field()
    deal_fee = amount_field()
    client_order_id = models.CharField(max_length=36, blank=True, default="")

    class Meta:
        db_table = "order_history"
        indexes = [
            # newest first, the side (when asked) filtered inside the index: one index for both
            models.Index(fields=["user_id", "market", "id", "side"], name="oh_user_market_id_side"),
            models.Index(fields=["user_id", "market", "create_time"], name="oh_user_market_ctime"),
        ]


class DealHistory(models.Model):
    """One row per order per deal (two per deal). Serves both `order.deals` (by order id)
    and `market.user_deals` (by user and market) — the original's deal_history and
    user_deal_history hold the same rows under two shard keys."""

    id = models.PositiveBigIntegerField(primary_key=True)  # deal_id * 2 (ask row) / deal_id * 2 + 1 (bid row)
    time = models.FloatField()
    user_id = models.PositiveIntegerField()
    market = models.CharField(max_length=30)
    deal_id = models.PositiveBigIntegerField()
    order_id = models.PositiveBigIntegerField()
    deal_order_id = models.PositiveBigIntegerField()
    side = models.PositiveSmallIntegerField()  # this order's side
    role = models.PositiveSmallIntegerField()  # 1 maker, 2 taker
    price = amount_field()
    amount = amount_field()
    deal = amount_field()
    fee = amount_field()  # own fee, in the asset received
    deal_fee = amount_field()  # counterparty's fee

    class Meta:
        db_table = "deal_history"
        indexes = [
            models.Index(fields=["order_id", "id"], name="dh_order"),
            models.Index(fields=["user_id", "market", "id"], name="dh_user_market"),
            models.Index(fields=["user_id", "id"], name="dh_user"),  # REST: my deals, any market
            models.Index(fields=["market", "role", "id"], name="dh_market_role"),  # recent deals, tickers
        ]
