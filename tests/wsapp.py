"""exchange_site.asgi with a test-only websocket route `/test/echo` (an echo consumer) behind the
real websocket stack (BrowserOriginValidator, URLRouter): for tests that open websockets
through the real web server before the ViaBTC websocket protocol exists."""
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path

from exchange_site import asgi


class Echo(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data, bytes_data=bytes_data)


ECHO_PATH = "/test/echo"
if not any(str(route.pattern) == ECHO_PATH[1:] for route in asgi.websocket_routes):
    asgi.websocket_routes.append(path(ECHO_PATH[1:], Echo.as_asgi()))  # URLRouter keeps this list

application = asgi.application
