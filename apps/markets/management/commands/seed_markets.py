from django.core.management.base import BaseCommand

from apps.markets.services import demo_config_seed


class Command(BaseCommand):
    help = "Create the demo assets (BTC, ETH, USDT) and markets (BTCUSDT, ETHUSDT, ETHBTC). Safe to run twice."

    def handle(self, *args, **options):
        created = demo_config_seed()
        self.stdout.write(f"seed_markets: created {', '.join(created)}" if created else "seed_markets: nothing to do")
