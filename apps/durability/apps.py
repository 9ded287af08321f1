from django.apps import AppConfig


class DurabilityConfig(AppConfig):
    name = "apps.durability"
    verbose_name = "Matcher durability"
