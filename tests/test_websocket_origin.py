"""The websocket route accepts clients without an Origin (ViaBTC clients) and checks a
present one (browsers) — spec README §6."""
import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator

from exchange_site import asgi
from exchange_site.origins import BrowserOriginValidator


class Accept(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()


async def _connects(app, headers) -> bool:
    communicator = WebsocketCommunicator(app, "/ws", headers=headers)
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


@pytest.mark.parametrize(("headers", "accepted"), [
    ([], True),  # a non-browser client: no Origin header
    ([(b"origin", b"http://127.0.0.1:8000")], True),  # the site's own host
    ([(b"origin", b"https://app.example.com")], True),  # a trusted origin
    ([(b"origin", b"https://evil.example")], False),
    ([(b"origin", b"null")], False),
])
async def test_origin_rules(settings, headers, accepted):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com"]
    assert await _connects(BrowserOriginValidator(Accept.as_asgi()), headers) is accepted


def test_the_websocket_route_is_guarded_by_it():
    assert isinstance(asgi.channels_application.application_mapping["websocket"], BrowserOriginValidator)
