"""The ViaBTC websocket protocol's route: `/ws` and `/ws/` (spec README §6)."""
from django.urls import path

from .consumer import ViaBtcConsumer

websocket_urlpatterns = [
    path("ws", ViaBtcConsumer.as_asgi()),
    path("ws/", ViaBtcConsumer.as_asgi()),
]
