from django.urls import path

from . import views

app_name = "rest_v1"

urlpatterns = [
    path("markets/", views.MarketListView.as_view(), name="markets"),
    path("assets/", views.AssetListView.as_view(), name="assets"),
    path("depth/", views.DepthView.as_view(), name="depth"),
    path("balances/", views.BalanceListView.as_view(), name="balances"),
    path("balances/history/", views.BalanceHistoryView.as_view(), name="balance-history"),
    path("orders/", views.OrderListView.as_view(), name="orders"),
    path("orders/finished/", views.FinishedOrderListView.as_view(), name="orders-finished"),
    path("orders/<str:order_id>/", views.OrderDetailView.as_view(), name="order"),
    path("orders/<str:order_id>/deals/", views.OrderDealListView.as_view(), name="order-deals"),
    path("my/deals/", views.UserDealListView.as_view(), name="my-deals"),
    path("staff/deposits/", views.DepositView.as_view(), name="staff-deposits"),
    path("staff/withdrawals/", views.WithdrawalView.as_view(), name="staff-withdrawals"),
]
