"""Writes of the operator console."""
from __future__ import annotations

from typing import Any

from .models import AuditLog


def _target_label(target: Any) -> str:
    if target is None:
        return ""
    if isinstance(target, str):
        return target
    meta = getattr(target, "_meta", None)
    if meta is not None and getattr(target, "pk", None) is not None:
        return f"{meta.label_lower} {target.pk}"
    return str(target)


def record(actor, action: str, target: Any = None, details: dict | None = None, reason: str = "") -> AuditLog:
    """One audit row for one staff action. ``actor`` is the user who acted (None for the
    system), ``action`` a dotted name (``balance.deposit``, ``order.cancel``,
    ``alert.acknowledge``), ``target`` a model instance (stored as ``app.model pk``) or a
    string (``user 12``), ``details`` JSON-serializable (Decimals become strings)."""
    if not action:
        raise ValueError("an audit record needs an action")
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditLog.objects.create(
        actor=actor if authenticated else None,
        actor_name=actor.get_username() if authenticated else "system",
        action=action,
        target=_target_label(target)[:255],
        details=details or {},
        reason=reason or "",
    )
