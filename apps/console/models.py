"""The operator console's own state: the audit trail of staff actions, and the
permissions of the staff actions themselves (docs/alerts.md "Roles and audit")."""
from django.conf import settings
from django.contrib.auth.models import User
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class AuditLog(models.Model):
    """One staff action: who did what to which target, when and why. Written only by
    ``apps.console.services.record``; read-only in the admin."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_name = models.CharField(max_length=150, help_text="username at the time (kept if the user is deleted)")
    time = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=64, db_index=True, help_text="e.g. balance.deposit, order.cancel")
    target = models.CharField(max_length=255, blank=True, db_index=True, help_text="e.g. user 12, alert 7")
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    reason = models.TextField(blank=True)
    once_key = models.CharField(
        max_length=64, null=True, blank=True, unique=True, editable=False,
        help_text="the one-time token of the form that made this action (a form submitted twice: one row)")

    class Meta:
        ordering = ["-time", "-id"]
        default_permissions = ("view",)

    def __str__(self):
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.target}"


class EngineUser(User):
    """No table (proxy of auth.User): the console's page per user — engine user id, live
    balances, pending and finished orders, staff deposits/withdrawals and cancels."""

    class Meta:
        proxy = True
        default_permissions = ("view",)
        verbose_name = "user account"
        verbose_name_plural = "user accounts"

    @property
    def engine_user_id(self) -> int:
        from apps.trading.matcher import engine_user_id

        return engine_user_id(self)


class MatcherStatus(models.Model):
    """No table: the console's status page (admin changelist of this model)."""

    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "status"
        verbose_name_plural = "status"


class StaffAction(models.Model):
    """No table: carries the permissions of the console's staff actions, which the
    console checks (``user.has_perm("console.staff_deposit")``)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("staff_deposit", "Can make a staff deposit (balance.update)"),
            ("staff_withdraw", "Can make a staff withdrawal (balance.update)"),
            ("cancel_order", "Can cancel a user's order"),
            ("make_snapshot", "Can make a matcher snapshot now"),
            ("rebuild_klines", "Can rebuild klines for a range now"),
        ]
