"""Throttles of REST v1: per API key (or per user for a session) and per client IP for
anonymous requests. Counters live in the `api` cache (Redis); when it cannot be reached
the request is refused with 503 (GuardUnavailable), never served unthrottled.

The client IP is exchange_site.proxies.client_address: forwarding headers count only from
a peer in TRUSTED_PROXIES (DRF's own get_ident believes X-Forwarded-For from anyone when
NUM_PROXIES is unset: any header made a new anonymous client)."""
from django.core.cache import caches
from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from apps.accounts.authentication import GuardUnavailable
from apps.accounts.models import ApiKey
from exchange_site.proxies import client_address, trusted_proxies


class _LazyRate:
    """Read the rate and the cache at request time, so settings overrides apply."""

    @property
    def cache(self):
        return caches["api"]

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request):
        meta = request.META
        return client_address(meta.get("REMOTE_ADDR"), meta.get("HTTP_X_FORWARDED_FOR"),
                              meta.get("HTTP_X_REAL_IP"), trusted_proxies()) or ""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except RedisError as exc:
            raise GuardUnavailable() from exc


class AnonThrottle(_LazyRate, AnonRateThrottle):
    scope = "anon"


class UserThrottle(_LazyRate, UserRateThrottle):
    scope = "user"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            ident = f"key:{request.auth.access_id}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            return None  # anonymous: AnonThrottle counts it
        return self.cache_format % {"scope": self.scope, "ident": ident}
