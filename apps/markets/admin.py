from django.contrib import admin

from .models import Asset, Market


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "prec_save", "prec_show")

    def get_readonly_fields(self, request, obj=None):
        return ("name", "prec_save") if obj else ()


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "stock", "money", "stock_prec", "money_prec", "fee_prec", "min_amount", "listed")
    list_filter = ("listed",)

    def get_readonly_fields(self, request, obj=None):
        return ("name", "stock", "money", "stock_prec", "money_prec", "fee_prec") if obj else ()
