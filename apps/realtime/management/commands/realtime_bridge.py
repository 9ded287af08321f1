"""`manage.py realtime_bridge`: the websocket pushes' one producer (apps.realtime.bridge)."""
import asyncio

from django.core.management.base import BaseCommand

from apps.realtime.bridge import Bridge


class Command(BaseCommand):
    help = "Push market data and the matcher's order/balance events to websocket clients (channel layer)."

    def handle(self, *args, **options):
        asyncio.run(Bridge().run())
