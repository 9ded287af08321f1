"""History reads may run against a replica: the `history` alias when configured."""
from django.conf import settings

HISTORY_MODELS = {"balancehistory", "orderhistory", "dealhistory"}


class HistoryRouter:
    def db_for_read(self, model, **hints):
        if model._meta.app_label == "history" and model._meta.model_name in HISTORY_MODELS:
            return "history" if "history" in settings.DATABASES else "default"
        return None

    def db_for_write(self, model, **hints):
        return "default"

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"
