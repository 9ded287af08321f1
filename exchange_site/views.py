"""The site's own pages until the trading UI exists: a landing page at `/` and the list of
JSON-RPC methods. (`POST /` itself is the JSON-RPC endpoint, routed in exchange_site/asgi.py
ahead of Django; GET and HEAD `/` come here.)"""
from django.views.generic import TemplateView

from apps.trading.jsonrpc import HISTORY_METHOD_NAMES, MARKETDATA_METHOD_NAMES, MATCHER_METHODS


class LandingView(TemplateView):
    template_name = "site/landing.html"


class JsonRpcMethodsView(TemplateView):
    template_name = "site/jsonrpc.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            backends=[
                ("Matching engine (balances, orders, markets)", sorted(MATCHER_METHODS)),
                ("History", sorted(HISTORY_METHOD_NAMES)),
                ("Market data", sorted(MARKETDATA_METHOD_NAMES)),
            ],
            **kwargs,
        )
