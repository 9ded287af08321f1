"""ASGI entry point: HTTP (Django) and websocket (Channels) in one application."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_http = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

websocket_routes = []  # the ViaBTC websocket protocol (/ws) is added by the realtime step

application = ProtocolTypeRouter(
    {
        "http": django_http,
        "websocket": URLRouter(websocket_routes),
    }
)
