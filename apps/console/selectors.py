"""Reads of the operator console: live matcher state through apps.trading (selectors and
the matcher door), history through apps.trading.selectors (→ apps.history.selectors),
alert counts, and step 8's market-data store (docs/console.md "Status page")."""
from __future__ import annotations

import time

from django.db.models import Count

from apps.marketdata import selectors as marketdata
from apps.wire.errors import RpcError

# History rows are promised queryable within 1 s of the acknowledgement (docs/durability.md
# "Known limits"): older unwritten operations are shown as lagging.
HISTORY_LAG_BOUND_S = 1.0


# --- users ---------------------------------------------------------------------------------
def _safe(fn, *args, **kwargs):
    """(value, None) or (None, "error text") — a page shows what it can when the matcher is down."""
    try:
        return fn(*args, **kwargs), None
    except (RpcError, OSError) as exc:
        return None, str(exc) or exc.__class__.__name__


def user_account(user, *, finished_per_market: int = 20, pending_per_market: int = 100) -> dict:
    """A user's live balances, pending orders (order.pending per market) and recent finished
    orders (history), each with an error text instead when its source is unavailable."""
    from apps.markets import selectors as markets
    from apps.trading import selectors as trading

    balances, balances_error = _safe(trading.balance_list, user=user)
    pending, finished, errors = [], [], []
    for market in markets.market_list():
        page, err = _safe(trading.order_open_list, user=user, market=market, offset=0, limit=pending_per_market)
        if err:
            errors.append(f"{market.name}: {err}")
        else:
            pending.extend(page["records"])
        done = trading.order_finished_list(user=user, market=market, side=None, start_time=0, end_time=0, offset=0,
                                           limit=finished_per_market)
        finished.extend(done["records"])
    finished.sort(key=lambda o: o["mtime"], reverse=True)
    pending.sort(key=lambda o: o["ctime"], reverse=True)
    return {"balances": balances, "balances_error": balances_error, "pending": pending,
            "pending_error": "; ".join(errors), "finished": finished}


# --- status page ---------------------------------------------------------------------------
def _newest_snapshot() -> dict | None:
    """The newest complete snapshot row (read only; the matcher writes that table)."""
    from apps.durability.models import Snapshot

    row = Snapshot.objects.filter(complete=True).order_by("-end_oper_id").values(
        "id", "time_us", "end_oper_id").first()
    return row


def history_lagging(status: dict) -> bool:
    """The matcher's history follower is behind: refusing for it, unhealthy (dead or being
    restarted), or its oldest unwritten acknowledged operation is older than the 1 s bound."""
    if status.get("history_backlog") is None:
        return False  # history off (MATCHER_HISTORY=false): nothing to lag
    return bool(status.get("refusal") == "history writer lagging" or status.get("history_healthy") is False
                or (status.get("history_lag_age_s") or 0) >= HISTORY_LAG_BOUND_S)


def marketdata_status(kafka_position: int | None) -> dict | None:
    """The market-data consumer's positions from its Redis store: per partition the next
    offset and the event seq of the last applied deal; ``behind`` = the matcher's published
    event seq minus the newest applied one (an upper bound: not every event is a deal)."""
    try:
        offsets = marketdata.get_store().offsets()
    except Exception as exc:  # noqa: BLE001 - Redis down: show it, do not fail the page
        return {"error": str(exc) or exc.__class__.__name__, "partitions": []}
    parts = [{"partition": k, "next_offset": n, "seq": s} for k, (n, s) in sorted(offsets.items())]
    newest = max((s for _, s in offsets.values()), default=None)
    behind = None if kafka_position is None or newest is None else max(kafka_position - newest, 0)
    return {"error": None, "partitions": parts, "newest_seq": newest, "behind": behind}


def alert_counts() -> dict:
    from apps.alerts.models import Alert

    totals = dict(Alert.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {s: totals.get(s, 0) for s in Alert.Status.values}


def status_page(now: float | None = None) -> dict:
    """Everything on the status page, each part with its own error text when unavailable."""
    from apps.trading import matcher

    now = time.time() if now is None else now
    status, status_error = _safe(matcher.call, "matcher.status", [])
    assets, assets_error = _safe(matcher.call, "asset.summary", [])
    markets, markets_error = _safe(matcher.call, "market.summary", [])
    snapshot = _newest_snapshot()  # the matcher's last_snapshot (this run only) has no time
    snapshot_age = None if snapshot is None else max(now - snapshot["time_us"] / 1e6, 0.0)
    return {
        "up": status is not None,
        "status": status,
        "status_error": status_error,
        "history_lagging": history_lagging(status) if status else None,
        "history_lag_bound_s": HISTORY_LAG_BOUND_S,
        "snapshot": snapshot,
        "snapshot_age_s": None if snapshot_age is None else round(snapshot_age, 1),
        "marketdata": marketdata_status((status or {}).get("kafka_position")),
        "asset_summary": assets,
        "asset_summary_error": assets_error,
        "market_summary": markets,
        "market_summary_error": markets_error,
        "alerts": alert_counts(),
    }
