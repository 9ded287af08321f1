"""API keys of REST v1 users.

The secret is stored encrypted (Fernet, key from settings), never hashed: an HMAC
signature can only be checked with the secret itself (spec README §6 `server.sign`).
It is shown once, when the key is created.
"""
from django.conf import settings
from django.db import models

SCOPE_READ = "read"
SCOPE_TRADE = "trade"
SCOPES = (SCOPE_READ, SCOPE_TRADE)


class ApiKey(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=64, blank=True, default="")
    access_id = models.CharField(max_length=32, unique=True, help_text="Public key id, sent as X-API-KEY.")
    secret_encrypted = models.TextField(help_text="Fernet token of the secret.")
    scopes = models.CharField(max_length=64, default="read,trade", help_text="Comma list of read, trade.")
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.access_id} ({self.user})"

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)
