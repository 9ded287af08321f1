"""REST v1 market data, included under /api/v1/ ahead of apps.trading.rest.urls (the
`deals/` and `tickers/` paths of the interim REST code answer from here now)."""
from django.urls import path

from . import views

app_name = "marketdata_v1"

urlpatterns = [
    path("tickers/", views.TickerListView.as_view(), name="tickers"),
    path("status/", views.MarketStatusView.as_view(), name="status"),
    path("klines/", views.KlineView.as_view(), name="klines"),
    path("deals/", views.MarketDealListView.as_view(), name="deals"),
]
