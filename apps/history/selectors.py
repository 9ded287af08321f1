"""History reads: the five readhistory queries (../shared/spec/readhistory.md §2).

Every list query is `... ORDER BY id DESC LIMIT offset, limit` over one unsharded table
(apps.history.models); reads go to the `history` alias when it is configured
(apps.history.routers). Records are the exact JSON-ready dicts of the spec: decimals as
plain-notation strings with trailing zeros stripped, times as floats, `detail` a parsed
JSON object (`{}` when the stored text is not one).

Keyset pagination (an extension): `before_id` keeps only rows whose history id is below
it; the returned `Page` carries `next_before_id`, the id of its last row when the page is
full (else None: nothing older). History ids are: balance history — the event seq; order
history — the order id; deal history — deal_id * 2 (ask row) / deal_id * 2 + 1 (bid row).

Arguments are expected validated (apps.history.rpc does it for JSON-RPC); a selector never
raises for an empty result.
"""
from __future__ import annotations

import orjson
from django.db import connections, router

from apps.wire.numbers import INT64_MAX, U64, plain

from .models import BalanceHistory, DealHistory, OrderHistory

__all__ = [
    "Page",
    "balance_history_list",
    "order_finished_list",
    "order_finished_get",
    "order_deal_list",
    "user_deal_list",
    "order_client_ids",
    "order_deal_owner",
    "user_deal_records",
    "business_filter",
]


class Page(list):
    """A list of records, plus the keyset cursor of the next (older) page."""

    __slots__ = ("next_before_id",)

    def __init__(self, records=(), next_before_id: int | None = None):
        super().__init__(records)
        self.next_before_id = next_before_id


def _detail(text) -> dict:
    try:
        value = orjson.loads(text)
    except (orjson.JSONDecodeError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def business_filter(business: str) -> list[str]:
    """`business` of balance.history: "" = all; else one label or a comma-separated list
    (labels never contain a comma, spec README §6). Empty items are ignored."""
    return [b for b in business.split(",") if b] if business else []


def _rows(qs, index_hint: str | None) -> list:
    """The rows of a values_list queryset; on MySQL/MariaDB with an index hint injected
    after the table name (the optimizer otherwise sometimes picks an index-merge
    intersection or a primary-key scan for `... ORDER BY id DESC LIMIT n`, seconds instead
    of milliseconds on a large history — docs/benchmarks.md "History reads")."""
    alias = qs.db
    conn = connections[alias]
    if not index_hint or conn.vendor != "mysql":
        return list(qs)
    sql, params = qs.query.get_compiler(using=alias).as_sql()
    table = conn.ops.quote_name(qs.model._meta.db_table)
    sql = sql.replace(f"FROM {table}", f"FROM {table} {index_hint}", 1)
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# Integer ranges: params reach 2^64-1 (docs/api.md "History"); every database answers them
# the same. No table holds 2^63 rows, so an offset from 2^63 finds nothing (SQLite's OFFSET,
# a signed 64-bit integer, could not even take it: that was code 2). An id SQLite cannot
# store (above 2^63-1: its INTEGER is signed) matches no row there, and every row is below it.
MAX_ROWS = INT64_MAX


def _int_max(model) -> int:
    """The largest id the database of ``model``'s reads stores and compares."""
    return INT64_MAX if connections[router.db_for_read(model)].vendor == "sqlite" else U64


def _page(qs, *, offset: int, limit: int, before_id: int | None, columns: tuple, build, index_hint=None):
    if offset > MAX_ROWS:
        return Page([], None)
    if before_id and before_id <= _int_max(qs.model):
        qs = qs.filter(id__lt=before_id)
    rows = _rows(qs.order_by("-id").values_list("id", *columns)[offset:offset + limit], index_hint)
    next_before_id = rows[-1][0] if rows and len(rows) == limit else None
    return Page([build(row) for row in rows], next_before_id)


# ---------------------------------------------------------------- balance.history

_BH_COLUMNS = ("time", "asset", "business", "change", "balance", "detail")


def _bh_record(row) -> dict:
    return {
        "time": row[1],
        "asset": row[2],
        "business": row[3],
        "change": plain(row[4]),
        "balance": plain(row[5]),
        "detail": _detail(row[6]),
    }


def balance_history_list(
    *,
    user_id: int,
    asset: str = "",
    business: str = "",
    start_time: int = 0,
    end_time: int = 0,
    offset: int = 0,
    limit: int = 100,
    before_id: int | None = None,
) -> Page:
    """A user's balance changes, newest first. `asset`/`business` "" = all; `business`
    may be a comma-separated list; `start_time` inclusive, `end_time` exclusive, 0 = no
    bound."""
    qs = BalanceHistory.objects.filter(user_id=user_id)
    if asset:
        qs = qs.filter(asset=asset)
    labels = business_filter(business)
    if len(labels) == 1:
        qs = qs.filter(business=labels[0])
    elif labels:
        qs = qs.filter(business__in=labels)
    if start_time:
        qs = qs.filter(time__gte=start_time)
    if end_time:
        qs = qs.filter(time__lt=end_time)
    return _page(qs, offset=offset, limit=limit, before_id=before_id, columns=_BH_COLUMNS, build=_bh_record,
                 index_hint=_bh_index_hint(asset, labels, start_time or end_time))


def _bh_index_hint(asset: str, labels: list, window: bool) -> str:
    """Which balance_history index serves a filter combination (models.BalanceHistory):
    an equality prefix followed by the id gives newest-first pages with no sort; a time
    window or a business list leaves the optimizer the choice between that and a range
    + sort (never an index-merge intersection)."""
    if asset:
        if window:
            return "USE INDEX (bh_user_asset, bh_user_time_asset)"
        if len(labels) == 1:
            return "FORCE INDEX (bh_user_asset_business)"
        if labels:
            return "USE INDEX (bh_user_asset, bh_user_asset_business)"
        return "FORCE INDEX (bh_user_asset)"
    if window:
        return "USE INDEX (bh_user, bh_user_time_asset)"
    if len(labels) == 1:
        return "FORCE INDEX (bh_user_business)"
    if labels:
        return "USE INDEX (bh_user, bh_user_business)"
    return "FORCE INDEX (bh_user)"


# ---------------------------------------------------------------- order.finished(_detail)

_OH_COLUMNS = (
    "create_time", "finish_time", "user_id", "market", "source", "t", "side", "price",
    "amount", "taker_fee", "maker_fee", "deal_stock", "deal_money", "deal_fee",
)


def _oh_record(row) -> dict:
    return {
        "id": row[0],
        "ctime": row[1],
        "ftime": row[2],
        "user": row[3],
        "market": row[4],
        "source": row[5],
        "type": row[6],
        "side": row[7],
        "price": plain(row[8]),
        "amount": plain(row[9]),
        "taker_fee": plain(row[10]),
        "maker_fee": plain(row[11]),
        "deal_stock": plain(row[12]),
        "deal_money": plain(row[13]),
        "deal_fee": plain(row[14]),
    }


def order_finished_list(
    *,
    user_id: int,
    market: str,
    start_time: int = 0,
    end_time: int = 0,
    offset: int = 0,
    limit: int = 100,
    side: int = 0,
    before_id: int | None = None,
) -> Page:
    """A user's finished orders in one market, newest (highest id) first. `side` 0 = both;
    the time bounds apply to the creation time (start inclusive, end exclusive, 0 = none)."""
    qs = OrderHistory.objects.filter(user_id=user_id, market=market)
    if side:
        qs = qs.filter(side=side)
    if start_time:
        qs = qs.filter(create_time__gte=start_time)
    if end_time:
        qs = qs.filter(create_time__lt=end_time)
    return _page(qs, offset=offset, limit=limit, before_id=before_id, columns=_OH_COLUMNS, build=_oh_record)


def order_finished_get(*, order_id: int) -> dict | None:
    """One finished order (same object as an order.finished record) or None."""
    if order_id > _int_max(OrderHistory):
        return None
    row = OrderHistory.objects.filter(id=order_id).values_list("id", *_OH_COLUMNS).first()
    return _oh_record(row) if row is not None else None


# ---------------------------------------------------------------- order.deals / market.user_deals

_OD_COLUMNS = ("time", "user_id", "deal_id", "role", "price", "amount", "deal", "fee", "deal_order_id")


def _od_record(row) -> dict:
    return {
        "time": row[1],
        "user": row[2],
        "id": row[3],
        "role": row[4],
        "price": plain(row[5]),
        "amount": plain(row[6]),
        "deal": plain(row[7]),
        "fee": plain(row[8]),
        "deal_order_id": row[9],
    }


def order_deal_list(*, order_id: int, offset: int = 0, limit: int = 100, before_id: int | None = None) -> Page:
    """The deals of one order (its own side of each), newest first."""
    if order_id > _int_max(DealHistory):
        return Page([], None)
    qs = DealHistory.objects.filter(order_id=order_id)
    return _page(qs, offset=offset, limit=limit, before_id=before_id, columns=_OD_COLUMNS, build=_od_record)


_UD_COLUMNS = (
    "time", "user_id", "deal_id", "side", "role", "price", "amount", "deal", "fee",
    "deal_order_id", "market",
)


def _ud_record(row) -> dict:
    return {
        "time": row[1],
        "user": row[2],
        "id": row[3],
        "side": row[4],
        "role": row[5],
        "price": plain(row[6]),
        "amount": plain(row[7]),
        "deal": plain(row[8]),
        "fee": plain(row[9]),
        "deal_order_id": row[10],
        "market": row[11],
    }


def user_deal_list(
    *, user_id: int, market: str, offset: int = 0, limit: int = 100, before_id: int | None = None
) -> Page:
    """A user's deals in one market (one record per own order side), newest first."""
    qs = DealHistory.objects.filter(user_id=user_id, market=market)
    return _page(qs, offset=offset, limit=limit, before_id=before_id, columns=_UD_COLUMNS, build=_ud_record)


# ---------------------------------------------------------------- reads of the access layer (REST v1)


def order_client_ids(*, order_ids) -> dict[int, str]:
    """order id → client_order_id of those finished orders that have one."""
    return dict(OrderHistory.objects.filter(id__in=list(order_ids)).exclude(client_order_id="")
                .values_list("id", "client_order_id"))


def order_deal_owner(*, order_id: int) -> dict | None:
    """``{"user_id", "market", "side"}`` of an order that has deals, else None."""
    if order_id > _int_max(DealHistory):
        return None
    return DealHistory.objects.filter(order_id=order_id).values("user_id", "market", "side").first()


def user_deal_records(*, user_id: int, market: str = "", offset: int = 0, limit: int = 100) -> list[dict]:
    """A user's deals (one record per own order side), newest first, in every market when
    `market` is "": ``{"id" (deal id), "time", "market", "order_id", "deal_order_id", "side",
    "role", "price", "amount", "deal", "fee"}``."""
    qs = DealHistory.objects.filter(user_id=user_id)
    if market:
        qs = qs.filter(market=market)
    rows = qs.order_by("-id").values(
        "deal_id", "time", "market", "order_id", "deal_order_id", "side", "role", "price", "amount", "deal", "fee",
    )[offset:offset + limit]
    records = []
    for r in rows:
        rec = {**r, "id": r["deal_id"]}
        for key in ("price", "amount", "deal", "fee"):
            rec[key] = plain(r[key])
        records.append(rec)
    return records
