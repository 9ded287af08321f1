from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a user and print its access id and secret (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--scopes", default="read,trade", help="comma list of read, trade (default both)")
        parser.add_argument("--name", default="")

    def handle(self, *args, username, scopes, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        try:
            created = api_key_create(user=user, scopes=scopes, name=name)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"access_id: {created.api_key.access_id}\n")
        self.stdout.write(f"secret:    {created.secret}\n")
        self.stdout.write(f"scopes:    {created.api_key.scopes}\n")
        self.stderr.write("The secret is not stored in clear and will not be shown again.\n")
