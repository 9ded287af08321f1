from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from exchange_site.views import JsonRpcMethodsView, LandingView

urlpatterns = [
    path("", LandingView.as_view(), name="landing"),  # GET/HEAD only: POST / is JSON-RPC (asgi.py)
    path("docs/jsonrpc/", JsonRpcMethodsView.as_view(), name="jsonrpc-methods"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("apps.marketdata.urls")),  # before trading: serves deals/ and tickers/
    path("api/v1/", include("apps.trading.rest.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema", template_name="site/redoc.html"), name="redoc"),
]
