"""The operator console in the Django admin (docs/console.md): the read-only audit log, a
page per user account (engine user id, live balances, pending and finished orders, staff
deposits/withdrawals and cancels) and the status page (matcher, history, Kafka, market
data, snapshots, alerts; make snapshot, rebuild klines).

Thin: reads in selectors.py, writes in services.py. Every action is a POST that checks its
permission first (403 otherwise: a viewer changes nothing) and writes one audit row."""
from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from apps.wire.errors import RpcError

from . import selectors, services
from .forms import BalanceChangeForm, CancelOrderForm, RebuildKlinesForm, SnapshotForm
from .models import AuditLog, EngineUser, MatcherStatus


class _ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _post_with(request, perm: str):
    """An action: the permission (403 before anything is read or changed, whatever the
    method), then POST only."""
    if not request.user.has_perm(perm):
        raise PermissionDenied
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    return None


def _rpc_message(exc: RpcError) -> str:
    reason = (exc.data or {}).get("reason") if isinstance(exc.data, dict) else None
    return f"the matcher refused: {exc.message} (code {exc.code}{', ' + reason if reason else ''})"


def _form_errors(form) -> str:
    return "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())


@admin.register(AuditLog)
class AuditLogAdmin(_ReadOnly, admin.ModelAdmin):
    """Read-only for everyone, superusers included: rows come from
    apps.console.services.record only."""

    list_display = ("time", "actor_name", "action", "target", "reason")
    list_filter = ("action",)
    search_fields = ("actor_name", "action", "target", "reason")
    date_hierarchy = "time"
    readonly_fields = ("time", "actor", "actor_name", "action", "target", "details", "reason", "once_key")


@admin.register(EngineUser)
class EngineUserAdmin(_ReadOnly, admin.ModelAdmin):
    """User accounts as the matcher knows them (engine user id = auth user pk)."""

    list_display = ("id", "username", "engine_user_id", "email", "is_staff", "is_active", "date_joined")
    list_display_links = ("id", "username")
    search_fields = ("=id", "username", "email")
    list_filter = ("is_staff", "is_active")
    ordering = ("id",)

    @admin.display(description="engine user id", ordering="id")
    def engine_user_id(self, obj):
        return obj.pk

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/balance/", wrap(self.balance_view), name="console_engineuser_balance"),
            path("<int:object_id>/cancel/", wrap(self.cancel_view), name="console_engineuser_cancel"),
            *super().get_urls(),
        ]

    def _page_url(self, user) -> str:
        return reverse("admin:console_engineuser_change", args=[user.pk])

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method != "GET":
            raise PermissionDenied
        user = get_object_or_404(EngineUser, pk=object_id)
        if not self.has_view_permission(request, user):
            raise PermissionDenied
        return self._account_page(request, user)

    def _account_page(self, request, user, balance_form=None, status=200):
        can_deposit = request.user.has_perm("console.staff_deposit")
        can_withdraw = request.user.has_perm("console.staff_withdraw")
        if balance_form is None and (can_deposit or can_withdraw):
            kinds = [k for k in BalanceChangeForm.KINDS
                     if (k[0] == "deposit" and can_deposit) or (k[0] == "withdraw" and can_withdraw)]
            balance_form = BalanceChangeForm(initial={"token": services.new_once_token(), "kind": kinds[0][0]})
            balance_form.fields["kind"].choices = kinds
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"User account {user.get_username()} (engine user id {user.pk})",
            "subject": user,
            "account": selectors.user_account(user),
            "balance_form": balance_form,
            "can_cancel": request.user.has_perm("console.cancel_order"),
            "audit": AuditLog.objects.filter(target=f"user {user.pk}")[:20],
            "audit_orders": AuditLog.objects.filter(action="order.cancel", details__user_id=user.pk)[:20],
        }
        return TemplateResponse(request, "admin/console/engineuser/account.html", context, status=status)

    def balance_view(self, request, object_id):
        perm = "console.staff_withdraw" if request.POST.get("kind") == "withdraw" else "console.staff_deposit"
        refused = _post_with(request, perm)
        if refused:
            return refused
        user = get_object_or_404(EngineUser, pk=object_id)
        form = BalanceChangeForm(request.POST)
        if not form.is_valid():
            return self._account_page(request, user, balance_form=form, status=400)
        d = form.cleaned_data
        try:
            row, applied = services.staff_balance_change(
                actor=request.user, user=user, asset=d["asset"], amount=d["amount"],
                withdraw=d["kind"] == "withdraw", reason=d["reason"], token=d["token"])
        except RpcError as exc:
            self.message_user(request, _rpc_message(exc), messages.ERROR)
            return self._account_page(request, user, balance_form=form, status=409)
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return self._account_page(request, user, balance_form=form, status=400)
        if applied:
            self.message_user(request, f"{row.action}: {d['amount']} {d['asset'].name} applied.", messages.SUCCESS)
        else:
            self.message_user(request, f"This form was already submitted ({row.action} by {row.actor_name} at "
                                       f"{row.time:%Y-%m-%d %H:%M:%S}); nothing changed.", messages.WARNING)
        return HttpResponseRedirect(self._page_url(user))

    def cancel_view(self, request, object_id):
        refused = _post_with(request, "console.cancel_order")
        if refused:
            return refused
        user = get_object_or_404(EngineUser, pk=object_id)
        form = CancelOrderForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "cancel: " + _form_errors(form), messages.ERROR)
            return HttpResponseRedirect(self._page_url(user))
        d = form.cleaned_data
        try:
            services.staff_order_cancel(actor=request.user, user=user, market=d["market"], order_id=d["order_id"],
                                        reason=d["reason"])
        except RpcError as exc:
            text = "order not pending (filled or cancelled already)" if exc.code == 10 else _rpc_message(exc)
            self.message_user(request, f"order {d['order_id']}: {text}", messages.ERROR)
        else:
            self.message_user(request, f"order {d['order_id']} cancelled.", messages.SUCCESS)
        return HttpResponseRedirect(self._page_url(user))


@admin.register(MatcherStatus)
class MatcherStatusAdmin(_ReadOnly, admin.ModelAdmin):
    """The status page (this model has no rows: its changelist is the page)."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("snapshot/", wrap(self.snapshot_view), name="console_matcherstatus_snapshot"),
            path("rebuild-klines/", wrap(self.rebuild_view), name="console_matcherstatus_rebuild"),
            path("", wrap(self.changelist_view), name="console_matcherstatus_changelist"),
        ]

    def _page_url(self) -> str:
        return reverse("admin:console_matcherstatus_changelist")

    def changelist_view(self, request, extra_context=None):
        if request.method != "GET":
            raise PermissionDenied
        if not self.has_view_permission(request):
            raise PermissionDenied
        return self._page(request)

    def _page(self, request, rebuild_form=None, status=200):
        can_rebuild = request.user.has_perm("console.rebuild_klines")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Status",
            "page": selectors.status_page(),
            "alerts_url": reverse("admin:alerts_alert_changelist"),
            "can_snapshot": request.user.has_perm("console.make_snapshot"),
            "snapshot_form": SnapshotForm(),
            "can_rebuild": can_rebuild,
            "rebuild_form": rebuild_form or (RebuildKlinesForm() if can_rebuild else None),
        }
        return TemplateResponse(request, "admin/console/matcherstatus/status.html", context, status=status)

    def snapshot_view(self, request):
        refused = _post_with(request, "console.make_snapshot")
        if refused:
            return refused
        form = SnapshotForm(request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        try:
            _, meta = services.make_snapshot(actor=request.user, reason=reason)
        except RpcError as exc:
            self.message_user(request, "snapshot: " + _rpc_message(exc), messages.ERROR)
        except OSError as exc:
            self.message_user(request, f"snapshot: matcher unreachable ({exc})", messages.ERROR)
        else:
            self.message_user(request, f"snapshot {meta.get('id')} made at operation {meta.get('end_oper_id')}.",
                              messages.SUCCESS)
        return HttpResponseRedirect(self._page_url())

    def rebuild_view(self, request):
        refused = _post_with(request, "console.rebuild_klines")
        if refused:
            return refused
        form = RebuildKlinesForm(request.POST)
        if not form.is_valid():
            return self._page(request, rebuild_form=form, status=400)
        d = form.cleaned_data
        try:
            services.rebuild_klines(actor=request.user, market=d["market"], start=d["start_ts"], end=d["end_ts"],
                                    reason=d["reason"])
        except ValueError as exc:
            self.message_user(request, f"rebuild: {exc}", messages.ERROR)
        else:
            self.message_user(request, f"rebuild of {d['market'].name} [{d['start_ts']}, {d['end_ts']}] queued.",
                              messages.SUCCESS)
        return HttpResponseRedirect(self._page_url())
