from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "apps.console"
    verbose_name = "Operator console"

    def ready(self):
        from django.db.models.signals import post_migrate

        from .roles import sync_roles

        post_migrate.connect(sync_roles, dispatch_uid="apps.console.sync_roles")
