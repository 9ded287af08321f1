"""Origin check of the websocket route (spec README §6).

Non-browser ViaBTC clients open the websocket with no `Origin` header: they are accepted.
A browser always sends one; it must be one of the site's hosts (`ALLOWED_HOSTS`, as
Channels' AllowedHostsOriginValidator) or a configured trusted origin
(`CSRF_TRUSTED_ORIGINS`). Channels' own validator cannot be used as is: it refuses a
missing Origin.
"""
from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    def __init__(self, application):
        hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not hosts:
            hosts = ["localhost", "127.0.0.1", "[::1]"]
        super().__init__(application, hosts + list(settings.CSRF_TRUSTED_ORIGINS))

    def valid_origin(self, parsed_origin):
        return parsed_origin is None or self.validate_origin(parsed_origin)
