"""Closed klines, persisted from the Redis store by Celery (tasks.persist_klines): the
long-term copy of the 1 min / 1 h / 1 day base buckets (Redis keeps them for a retention
period only). Rows are upserted on (market, interval, time), so persisting twice changes
nothing; a rebuild rewrites them."""
from django.db import models

KLINE_INTERVALS = ((60, "1 min"), (3600, "1 hour"), (86400, "1 day"))


def _dec():
    return models.DecimalField(max_digits=65, decimal_places=30)


class Kline(models.Model):
    market = models.CharField(max_length=30)
    interval = models.PositiveIntegerField(choices=KLINE_INTERVALS)
    time = models.BigIntegerField()  # bucket start, UTC seconds
    open = _dec()
    close = _dec()
    high = _dec()
    low = _dec()
    volume = _dec()  # Σ amount (stock)
    deal = _dec()  # Σ price × amount (money)

    class Meta:
        db_table = "kline"
        constraints = [models.UniqueConstraint(fields=["market", "interval", "time"], name="kline_bucket")]

    def __str__(self):
        return f"{self.market} {self.interval}s @{self.time}"
