"""Encryption of API secrets at rest (Fernet; keys from settings.API_KEY_ENCRYPTION_KEY).

`API_KEY_ENCRYPTION_KEY` is a list: the first key encrypts, every key decrypts, so a key
can be rotated by prepending a new one (then re-encrypting with `api_key_secrets_rotate`).
"""
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    keys = settings.API_KEY_ENCRYPTION_KEY
    if isinstance(keys, str):
        keys = [keys]
    return MultiFernet([Fernet(k) for k in keys])


def _reset(*, setting, **kwargs):
    if setting == "API_KEY_ENCRYPTION_KEY":
        _fernet.cache_clear()


setting_changed.connect(_reset)


def secret_encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def secret_reencrypt(token: str) -> str:
    return _fernet().rotate(token.encode()).decode()
