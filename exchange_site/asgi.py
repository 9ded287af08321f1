"""ASGI entry point: HTTP (Django) and websocket (Channels) in one application.

`POST /` — the ViaBTC JSON-RPC endpoint, the order hot path — is answered by the lean
ASGI app apps.trading.jsonrpc ahead of Django's stack (no middleware or DRF per
request); every other HTTP request (GET / included: the web UI) goes to Django. In front
of both, exchange_site.guard.SiteGuard validates Host for HTTP and websockets (DNS
rebinding) and refuses oversized requests to Django before they are read.
"""
import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_http = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.trading.jsonrpc import app as jsonrpc_app  # noqa: E402
from exchange_site.guard import SiteGuard, is_jsonrpc  # noqa: E402
from exchange_site.origins import BrowserOriginValidator  # noqa: E402

from apps.realtime.routing import websocket_urlpatterns  # noqa: E402

websocket_routes = list(websocket_urlpatterns)  # the ViaBTC websocket protocol at /ws and /ws/

channels_application = ProtocolTypeRouter(
    {
        "http": django_http,
        "websocket": BrowserOriginValidator(URLRouter(websocket_routes)),
    }
)


async def route(scope, receive, send):
    kind = scope["type"]
    if kind == "http":
        # `/` is the JSON-RPC endpoint for every method but GET/HEAD (the web UI's page):
        # it answers non-POST with 400, as the original does.
        if is_jsonrpc(scope):
            return await jsonrpc_app(scope, receive, send)
    elif kind == "lifespan":
        return await _lifespan(receive, send)
    return await channels_application(scope, receive, send)


#: the served application: every HTTP request and websocket handshake passes SiteGuard
#: first (Host validated as Django does, body and query size limits; exchange_site/guard.py)
application = SiteGuard(route)


async def _lifespan(receive, send):
    """Servers that speak lifespan (uvicorn) get a clean start and shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # what is loaded by now (Django, the URL conf, settings) lives as long as the
            # process: out of the garbage collector's full passes, which then stay short
            gc.collect()
            gc.freeze()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            from apps.trading.client import get_client

            try:
                await get_client().close()
            except Exception:  # noqa: BLE001 - shutting down anyway
                pass
            await send({"type": "lifespan.shutdown.complete"})
            return
