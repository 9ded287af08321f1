from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum

from . import services
from .models import Alert


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    """Alerts are written by the alert worker only; staff acknowledge and resolve them
    (needs alerts.change_alert: the operator role). Filters show their counts."""

    list_display = ("id", "status", "level", "source", "short_message", "count", "first_seen", "last_seen",
                    "acknowledged_by", "resolved_by", "mailed")
    list_display_links = ("id", "short_message")
    list_filter = ("status", "level", "source")
    search_fields = ("message", "last_message", "source", "host")
    date_hierarchy = "last_seen"
    show_facets = admin.ShowFacets.ALWAYS
    actions = ["acknowledge", "resolve"]
    readonly_fields = [f.name for f in Alert._meta.fields]
    list_select_related = ("acknowledged_by", "resolved_by")

    @admin.display(description="message")
    def short_message(self, obj):
        first = obj.message.splitlines()[0] if obj.message else ""
        return first[:120]

    @admin.display(boolean=True, description="mailed")
    def mailed(self, obj):
        return obj.mailed_at is not None

    def has_add_permission(self, request):
        return False

    def changelist_view(self, request, extra_context=None):
        # A user without the change permission gets 403 for an action, not a quiet
        # "no action selected".
        if request.method == "POST" and "action" in request.POST and not self.has_change_permission(request):
            raise PermissionDenied
        extra_context = extra_context or {}
        totals = dict(Alert.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        extra_context["alert_totals"] = totals
        extra_context["subtitle"] = " · ".join(f"{s}: {totals.get(s, 0)}" for s in Alert.Status.values)
        extra_context["alert_occurrences"] = Alert.objects.aggregate(n=Sum("count"))["n"] or 0
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and not self.has_change_permission(request):
            raise PermissionDenied
        return super().changeform_view(request, object_id, form_url, extra_context)

    @admin.action(description="Acknowledge selected alerts", permissions=["change"])
    def acknowledge(self, request, queryset):
        n = services.acknowledge(queryset, request.user)
        self.message_user(request, f"{n} alert(s) acknowledged.", messages.SUCCESS)

    @admin.action(description="Resolve selected alerts", permissions=["change"])
    def resolve(self, request, queryset):
        n = services.resolve(queryset, request.user)
        self.message_user(request, f"{n} alert(s) resolved.", messages.SUCCESS)
