"""Celery tasks of market data (worker and beat run under `make run`; schedule in settings
CELERY_BEAT_SCHEDULE). Thin: the work is in services.py."""
from celery import shared_task

from . import services


@shared_task(name="marketdata.persist_klines", ignore_result=True)
def persist_klines():
    return services.persist_klines()


@shared_task(name="marketdata.prune_store", ignore_result=True)
def prune_store():
    return services.prune_store()


@shared_task(name="marketdata.rebuild_market")
def rebuild_market(market: str, start: int, end: int):
    """Operator-started: recompute `market` for [start, end] (UTC seconds) from the deal history."""
    return services.rebuild_market(market, start, end)
