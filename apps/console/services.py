"""Writes of the operator console: the audit record, and the staff actions — each goes
through the same services the APIs use (apps.trading.services, the matcher's admin
methods through apps.trading.matcher, step 8's Celery task) and writes exactly one audit
row. Nothing here writes matcher-owned state directly (docs/console.md)."""
from __future__ import annotations

import hashlib
import re
import secrets
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from .models import AuditLog

ADMIN_BUSINESS = "admin"  # balance.update business of staff deposits and withdrawals
ONCE_TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
REPEAT_UPDATE = 10  # balance.update's "repeat update" (the business id was applied already)


def _target_label(target: Any) -> str:
    if target is None:
        return ""
    if isinstance(target, str):
        return target
    meta = getattr(target, "_meta", None)
    if meta is not None and getattr(target, "pk", None) is not None:
        return f"{meta.label_lower} {target.pk}"
    return str(target)


def record(actor, action: str, target: Any = None, details: dict | None = None, reason: str = "",
           once_key: str | None = None) -> AuditLog:
    """One audit row for one staff action. ``actor`` is the user who acted (None for the
    system), ``action`` a dotted name (``balance.deposit``, ``order.cancel``,
    ``alert.acknowledge``), ``target`` a model instance (stored as ``app.model pk``) or a
    string (``user 12``), ``details`` JSON-serializable (Decimals become strings).
    ``once_key`` (a form's one-time token): at most one row per key — a second record with
    the same key writes nothing and returns the existing row."""
    if not action:
        raise ValueError("an audit record needs an action")
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    fields = dict(
        actor=actor if authenticated else None,
        actor_name=actor.get_username() if authenticated else "system",
        action=action,
        target=_target_label(target)[:255],
        details=details or {},
        reason=reason or "",
        once_key=once_key,
    )
    return _create(fields)[0]


def _create(fields: dict) -> tuple[AuditLog, bool]:
    if fields.get("once_key") is None:
        return AuditLog.objects.create(**fields), True
    try:
        with transaction.atomic():
            return AuditLog.objects.create(**fields), True
    except IntegrityError:
        existing = AuditLog.objects.filter(once_key=fields["once_key"]).first()
        if existing is None:
            raise
        return existing, False


# --- staff balance changes -----------------------------------------------------------------
def new_once_token() -> str:
    """The one-time token of a rendered staff form (hidden field)."""
    return secrets.token_hex(16)


def business_id_of(token: str) -> int:
    """The balance.update business_id of a form token: the same form submitted again gives
    the same id, so the matcher answers "repeat update" and applies nothing (< 2**56)."""
    return int.from_bytes(hashlib.sha256(token.encode()).digest()[:7], "big")


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a reason is required")
    return reason


def staff_balance_change(*, actor, user, asset, amount: Decimal, withdraw: bool, reason: str,
                         token: str) -> tuple[AuditLog, bool]:
    """A staff deposit (credit) or withdrawal (debit) of ``user``'s ``asset`` through
    apps.trading.services.balance_adjust (``balance.update``, business ``admin``, business
    id from the form's one-time ``token``) and its audit row. Returns (audit row, applied
    now); a form submitted again returns the first submission's row and False. RpcError
    (e.g. 11 balance not enough) when the matcher refuses: no row."""
    from apps.trading import services as trading
    from apps.trading.matcher import engine_user_id
    from apps.wire.errors import RpcError

    reason = _require_reason(reason)
    if not ONCE_TOKEN_RE.match(token or ""):
        raise ValueError("missing or malformed form token")
    if amount <= 0:
        raise ValueError("the amount must be positive")
    done = AuditLog.objects.filter(once_key=token).first()
    if done is not None:
        return done, False
    uid = engine_user_id(user)
    business_id = business_id_of(token)
    action = "balance.withdraw" if withdraw else "balance.deposit"
    details = {"user_id": uid, "asset": asset.name, "amount": amount, "business": ADMIN_BUSINESS,
               "business_id": business_id}
    applied = True
    try:
        trading.balance_adjust(staff_user=actor, user_id=uid, asset=asset, amount=amount, business_id=business_id,
                               withdraw=withdraw, business=ADMIN_BUSINESS, detail={"reason": reason[:200]})
    except RpcError as exc:
        if exc.code != REPEAT_UPDATE:
            raise
        # Applied by an earlier submission of this form whose audit row is not there
        # (a concurrent submission writing it now, or a crash in between): one row either way.
        applied = False
    row, created = _create(dict(actor=actor, actor_name=actor.get_username(), action=action, target=f"user {uid}",
                                details=details, reason=reason, once_key=token))
    return row, applied and created


# --- orders --------------------------------------------------------------------------------
def staff_order_cancel(*, actor, user, market, order_id: int, reason: str) -> AuditLog:
    """Cancel one of ``user``'s pending orders (apps.trading.services.order_cancel, the REST
    API's cancel) and record it. RpcError 10 when it is not pending (any more): no row."""
    from apps.trading import services as trading
    from apps.trading.matcher import engine_user_id

    reason = _require_reason(reason)
    order = trading.order_cancel(user=user, order_id=order_id, market=market)
    return record(actor, "order.cancel", f"order {order_id}",
                  {"user_id": engine_user_id(user), "market": market.name, "order": order}, reason)


# --- matcher and market data ---------------------------------------------------------------
def make_snapshot(*, actor, reason: str = "") -> tuple[AuditLog, dict]:
    """The matcher's ``snapshot.make`` admin method (a snapshot at the last committed
    operation, made by its snapshot follower) and its audit row."""
    from apps.trading import matcher

    meta = matcher.call("snapshot.make", [])
    return record(actor, "matcher.snapshot", "matcher", {"snapshot": meta}, (reason or "").strip()), meta


def rebuild_klines(*, actor, market, start: int, end: int, reason: str = "") -> AuditLog:
    """Queue step 8's ``marketdata.rebuild_market`` Celery task for ``market`` over
    [start, end] (UTC seconds) and record it."""
    from apps.marketdata import tasks

    if not 0 <= start <= end:
        raise ValueError("the range must have 0 <= start <= end")
    result = tasks.rebuild_market.delay(market.name, start, end)
    return record(actor, "marketdata.rebuild", f"market {market.name}",
                  {"market": market.name, "start": start, "end": end, "task_id": getattr(result, "id", None)},
                  (reason or "").strip())
