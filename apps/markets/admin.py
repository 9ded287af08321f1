from django.contrib import admin, messages

from .models import Asset, Market, MatcherConfigStatus


class _ConfigAdmin(admin.ModelAdmin):
    """Shows what the matcher refused of the configuration (configuration sync,
    MatcherConfigStatus) on every page of assets and markets; refuses to delete what the
    matcher knows (delist a market instead)."""

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.known_to_matcher:
            return False
        return super().has_delete_permission(request, obj)

    def _show_refusals(self, request):
        for r in MatcherConfigStatus.current().refusals:
            error = r.get("error") or {}
            reason = (error.get("data") or {}).get("reason") or error.get("message")
            param = (error.get("data") or {}).get("param")
            messages.error(request, f"The matcher refuses {r.get('method')} {r.get('params')}: "
                                    f"{param + ' ' if param else ''}{reason}. Fix the row to match what the "
                                    "matcher accepts.")

    def changelist_view(self, request, extra_context=None):
        self._show_refusals(request)
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "GET":
            self._show_refusals(request)
        return super().changeform_view(request, object_id, form_url, extra_context)


@admin.register(Asset)
class AssetAdmin(_ConfigAdmin):
    list_display = ("id", "name", "prec_save", "prec_show")

    def get_readonly_fields(self, request, obj=None):
        return ("name", "prec_save") if obj else ()


@admin.register(Market)
class MarketAdmin(_ConfigAdmin):
    list_display = ("id", "name", "stock", "money", "stock_prec", "money_prec", "fee_prec", "min_amount", "listed")
    list_filter = ("listed",)

    def get_readonly_fields(self, request, obj=None):
        return ("name", "stock", "money", "stock_prec", "money_prec", "fee_prec") if obj else ()


@admin.register(MatcherConfigStatus)
class MatcherConfigStatusAdmin(admin.ModelAdmin):
    """Read-only: written by the matcher's configuration sync."""

    list_display = ("__str__", "updated")
    readonly_fields = ("assets", "markets", "refusals", "updated")
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
