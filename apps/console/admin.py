from django.contrib import admin

from .models import AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """Read-only for everyone, superusers included: rows come from
    apps.console.services.record only."""

    list_display = ("time", "actor_name", "action", "target", "reason")
    list_filter = ("action",)
    search_fields = ("actor_name", "action", "target", "reason")
    date_hierarchy = "time"
    readonly_fields = ("time", "actor", "actor_name", "action", "target", "details", "reason")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
