"""Writes and checks of API keys (HackSoft style: keyword-only, typed)."""
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from .crypto import secret_decrypt, secret_encrypt, secret_reencrypt
from .models import SCOPES, ApiKey

LAST_USED_RESOLUTION_S = 60  # last_used is written at most once a minute per key


class ApiKeyError(Exception):
    """A request signed with an API key is not acceptable (the message says why)."""


class ReplayStoreUnavailable(Exception):
    """The replay store (the `API_REPLAY_CACHE` Redis) cannot be reached: no signature is
    accepted without replay protection (fail closed)."""


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    secret: str  # plain secret: shown once, never stored in clear


def _scopes_normalize(scopes) -> str:
    if isinstance(scopes, str):
        scopes = [s.strip() for s in scopes.split(",")]
    chosen = [s for s in SCOPES if s in set(scopes)]
    unknown = set(scopes) - set(SCOPES) - {""}
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(sorted(unknown))}; allowed: {', '.join(SCOPES)}")
    if not chosen:
        raise ValueError("at least one scope is required")
    return ",".join(chosen)


@transaction.atomic
def api_key_create(*, user, scopes=SCOPES, name: str = "") -> CreatedApiKey:
    secret = secrets.token_hex(32)
    api_key = ApiKey.objects.create(
        user=user,
        name=name,
        access_id=secrets.token_hex(16),
        secret_encrypted=secret_encrypt(secret),
        scopes=_scopes_normalize(scopes),
    )
    return CreatedApiKey(api_key=api_key, secret=secret)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if not api_key.revoked:
        api_key.revoked = True
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked", "revoked_at"])
    return api_key


def api_key_secrets_rotate() -> int:
    """Re-encrypt every stored secret with the first API_KEY_ENCRYPTION_KEY."""
    count = 0
    for api_key in ApiKey.objects.all().iterator():
        ApiKey.objects.filter(pk=api_key.pk).update(secret_encrypted=secret_reencrypt(api_key.secret_encrypted))
        count += 1
    return count


def signature_compute(*, secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_message(*, timestamp: str, method: str, path: str, body: bytes) -> bytes:
    """What a REST v1 request signs: timestamp + METHOD + path (with query) + body."""
    return timestamp.encode() + method.upper().encode() + path.encode() + body


def _window_s() -> int:
    return settings.API_SIGNATURE_WINDOW_S


def _replay_mark(key: str) -> bool:
    """True the first time `key` is seen within the window (Redis SET NX with a TTL)."""
    # A timestamp is accepted for `window` seconds either side of the clock, so its
    # signature must be remembered for up to 2 × window after its first use.
    try:
        return caches[settings.API_REPLAY_CACHE].add(key, 1, timeout=2 * _window_s() + 1)
    except RedisError as exc:
        raise ReplayStoreUnavailable(f"replay store unavailable: {exc}") from exc


def _active_key(access_id: str) -> ApiKey:
    api_key = ApiKey.objects.select_related("user").filter(access_id=access_id).first()
    if api_key is None:
        raise ApiKeyError("unknown API key")
    if api_key.revoked:
        raise ApiKeyError("API key revoked")
    if not api_key.user.is_active:
        raise ApiKeyError("user inactive")
    return api_key


def _check_time(value: str, *, name: str) -> None:
    if not value.isdigit() or len(value) > 16:
        raise ApiKeyError(f"{name} must be Unix time in milliseconds")
    if abs(int(value) - time.time() * 1000) > _window_s() * 1000:
        raise ApiKeyError(f"{name} outside the ±{_window_s()} s window")


def _touch(api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used is None or (now - api_key.last_used).total_seconds() >= LAST_USED_RESOLUTION_S:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used=now)
        api_key.last_used = now


def api_request_verify(*, access_id: str, timestamp: str, signature: str, method: str, path: str, body: bytes) -> ApiKey:
    """Check one signed REST v1 request; returns the key or raises ApiKeyError
    (ReplayStoreUnavailable when a good signature cannot be marked as used)."""
    if not (access_id and timestamp and signature):
        raise ApiKeyError("X-API-KEY, X-API-TIMESTAMP and X-API-SIGNATURE are all required")
    api_key = _active_key(access_id)
    _check_time(timestamp, name="X-API-TIMESTAMP")
    expected = signature_compute(
        secret=secret_decrypt(api_key.secret_encrypted),
        message=signed_message(timestamp=timestamp, method=method, path=path, body=body),
    )
    if not hmac.compare_digest(expected.encode(), signature.lower().encode("utf-8", "replace")):
        raise ApiKeyError("bad signature")
    if not _replay_mark(f"apisig:{api_key.access_id}:{expected}"):
        raise ApiKeyError("replayed request")
    _touch(api_key)
    return api_key


def server_sign_verify(*, access_id: str, authorisation: str, tonce) -> ApiKey:
    """The websocket `server.sign` check (spec README §6): lowercase hex HMAC-SHA256 with
    the API secret over `access_id + str(tonce)`, tonce in ms within the window, never
    reused by that key."""
    if isinstance(tonce, bool) or not isinstance(tonce, int) or tonce < 0:
        raise ApiKeyError("tonce must be an integer (ms)")
    api_key = _active_key(str(access_id))
    _check_time(str(tonce), name="tonce")
    expected = signature_compute(
        secret=secret_decrypt(api_key.secret_encrypted), message=(api_key.access_id + str(tonce)).encode()
    )
    if not isinstance(authorisation, str) or not hmac.compare_digest(
        expected.encode(), authorisation.encode("utf-8", "replace")
    ):
        raise ApiKeyError("bad signature")
    if not _replay_mark(f"apitonce:{api_key.access_id}:{tonce}"):
        raise ApiKeyError("tonce already used")
    _touch(api_key)
    return api_key
