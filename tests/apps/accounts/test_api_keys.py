"""API keys: secrets encrypted at rest (decryptable, never in clear), shown once, revocable;
the websocket server.sign check."""
import hashlib
import hmac
import io
import time

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from apps.accounts.crypto import secret_decrypt
from apps.accounts.models import ApiKey
from apps.accounts.services import (
    ApiKeyError,
    api_key_create,
    api_key_revoke,
    api_key_secrets_rotate,
    server_sign_verify,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return get_user_model().objects.create_user(username="carol")


def test_secret_is_stored_encrypted_not_in_clear(user):
    created = api_key_create(user=user)
    row = ApiKey.objects.get(pk=created.api_key.pk)
    assert created.secret not in row.secret_encrypted
    assert secret_decrypt(row.secret_encrypted) == created.secret
    assert len(row.access_id) == 32 and row.scopes == "read,trade"
    assert not hasattr(row, "secret")


def test_scopes_are_validated(user):
    assert api_key_create(user=user, scopes="trade,read").api_key.scopes == "read,trade"
    assert api_key_create(user=user, scopes=["read"]).api_key.scope_set == {"read"}
    with pytest.raises(ValueError):
        api_key_create(user=user, scopes="read,admin")
    with pytest.raises(ValueError):
        api_key_create(user=user, scopes="")


def test_key_rotation_keeps_secrets_readable(user, settings):
    created = api_key_create(user=user)
    old = list(settings.API_KEY_ENCRYPTION_KEY)
    settings.API_KEY_ENCRYPTION_KEY = [Fernet.generate_key().decode(), *old]
    assert api_key_secrets_rotate() == 1
    settings.API_KEY_ENCRYPTION_KEY = settings.API_KEY_ENCRYPTION_KEY[:1]  # old key dropped
    assert secret_decrypt(ApiKey.objects.get(pk=created.api_key.pk).secret_encrypted) == created.secret


def test_create_api_key_command_prints_the_secret_once(user):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "carol", "--scopes", "read", stdout=out, stderr=err)
    lines = dict(line.split(":", 1) for line in out.getvalue().strip().splitlines())
    key = ApiKey.objects.get(access_id=lines["access_id"].strip())
    assert secret_decrypt(key.secret_encrypted) == lines["secret"].strip()
    assert key.scopes == "read" and "not be shown again" in err.getvalue()
    with pytest.raises(CommandError):
        call_command("create_api_key", "nobody", stdout=io.StringIO())


def test_admin_add_shows_the_secret_once_and_revoke_action(admin_client, user):
    r = admin_client.post("/admin/accounts/apikey/add/", {"user": user.pk, "name": "bot", "scope_choices": ["read"]})
    assert r.status_code == 200
    key = ApiKey.objects.get(user=user)
    secret = secret_decrypt(key.secret_encrypted)
    assert secret in r.content.decode() and key.access_id in r.content.decode()
    assert key.scopes == "read" and key.name == "bot"
    page = admin_client.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()
    assert secret not in page and key.secret_encrypted not in page
    admin_client.post("/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    assert ApiKey.objects.get(pk=key.pk).revoked


def _sign(secret, access_id, tonce):
    return hmac.new(secret.encode(), (access_id + str(tonce)).encode(), hashlib.sha256).hexdigest()


def test_server_sign_verify(user):
    created = api_key_create(user=user)
    access_id = created.api_key.access_id
    tonce = int(time.time() * 1000)
    assert server_sign_verify(access_id=access_id, authorisation=_sign(created.secret, access_id, tonce),
                              tonce=tonce).user == user
    with pytest.raises(ApiKeyError, match="already used"):  # a tonce is never reused by a key
        server_sign_verify(access_id=access_id, authorisation=_sign(created.secret, access_id, tonce), tonce=tonce)
    with pytest.raises(ApiKeyError, match="bad signature"):
        server_sign_verify(access_id=access_id, authorisation="0" * 64, tonce=tonce + 1)
    old = tonce - 31_000
    with pytest.raises(ApiKeyError, match="window"):
        server_sign_verify(access_id=access_id, authorisation=_sign(created.secret, access_id, old), tonce=old)
    with pytest.raises(ApiKeyError):
        server_sign_verify(access_id=access_id, authorisation="x", tonce="123")
    api_key_revoke(api_key=created.api_key)
    with pytest.raises(ApiKeyError, match="revoked"):
        server_sign_verify(access_id=access_id, authorisation=_sign(created.secret, access_id, tonce + 2),
                           tonce=tonce + 2)
