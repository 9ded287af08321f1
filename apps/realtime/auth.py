"""server.auth and server.sign (websocket.md §4, spec README §6).

server.auth(token, source): with REALTIME_AUTH_URL set, the spec's request — `GET
<auth_url>` with `Authorization: <token>` verbatim, `Accept-Language: en_US`,
`Content-Type: application/json` — and reply `{"code": 0, "message": null, "data":
{"user_id": N}}`; code ≠ 0 → 11 with its message (2 if none); anything malformed, user_id
missing/0, transport failure → 2; no answer within REALTIME_BACKEND_TIMEOUT → 5.
Without an auth URL the token is a session key of this site (the `sessionid` cookie of a
logged-in user): an unknown, expired or anonymous session, or an inactive user → 11.

server.sign(access_id, authorisation, tonce): checked here with apps.accounts (HMAC-SHA256
of access_id + str(tonce) with the key's secret, tonce in ms within the window, never
reused by the key) → 11 with the reason; the replay store unreachable → 2 (`data.reason`),
never an accepted signature.
"""
from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request

from asgiref.sync import sync_to_async
from django.conf import settings

from apps.wire.errors import INTERNAL_ERROR, SERVICE_TIMEOUT, RpcError

from .protocol import AUTH_REFUSED

logger = logging.getLogger("apps.realtime")


def _fetch(url: str, token: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, method="GET", headers={
        "Authorization": token, "Accept-Language": "en_US", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URL
        return response.read(1 << 20)


def _user_from_reply(body: bytes) -> int:
    try:
        reply = json.loads(body)
    except ValueError:
        raise RpcError(INTERNAL_ERROR, data={"reason": "auth server reply is not JSON"}) from None
    if not isinstance(reply, dict) or "code" not in reply:
        raise RpcError(INTERNAL_ERROR, data={"reason": "auth server reply has no code"})
    if reply["code"] != 0:
        message = reply.get("message")
        if not isinstance(message, str) or not message:
            raise RpcError(INTERNAL_ERROR, data={"reason": "auth server refused without a message"})
        raise RpcError(AUTH_REFUSED, message)
    data = reply.get("data")
    user_id = data.get("user_id") if isinstance(data, dict) else None
    if type(user_id) is not int or not 0 < user_id < 2**32:
        raise RpcError(INTERNAL_ERROR, data={"reason": "auth server reply has no valid user_id"})
    return user_id


async def auth_url_user(url: str, token: str) -> int:
    timeout = settings.REALTIME_BACKEND_TIMEOUT
    try:
        body = await asyncio.wait_for(asyncio.to_thread(_fetch, url, token, timeout), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        raise RpcError(SERVICE_TIMEOUT) from None
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read(1 << 20)
        except Exception:  # noqa: BLE001
            raise RpcError(INTERNAL_ERROR, data={"reason": f"auth server answered HTTP {exc.code}"}) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise RpcError(SERVICE_TIMEOUT) from None
        raise RpcError(INTERNAL_ERROR, data={"reason": "auth server not reachable"}) from None
    except OSError:
        raise RpcError(INTERNAL_ERROR, data={"reason": "auth server not reachable"}) from None
    return _user_from_reply(body)


def _session_user(token: str) -> int:
    from django.contrib.auth import SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.base import SessionBase
    from importlib import import_module

    from apps.trading.matcher import engine_user_id

    store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore(session_key=token)
    uid = store.get(SESSION_KEY)
    if uid is None:
        raise RpcError(AUTH_REFUSED, "invalid token")
    user = get_user_model().objects.filter(pk=uid, is_active=True).first()
    if user is None:
        raise RpcError(AUTH_REFUSED, "invalid token")
    return engine_user_id(user)


async def token_user(token: str) -> int:
    url = settings.REALTIME_AUTH_URL
    if url:
        return await auth_url_user(url, token)
    return await sync_to_async(_session_user, thread_sensitive=False)(token)


def _sign_user(access_id: str, authorisation: str, tonce: int) -> int:
    from apps.accounts.services import ApiKeyError, ReplayStoreUnavailable, server_sign_verify
    from apps.trading.matcher import engine_user_id

    try:
        api_key = server_sign_verify(access_id=access_id, authorisation=authorisation, tonce=tonce)
    except ApiKeyError as exc:
        raise RpcError(AUTH_REFUSED, str(exc)) from None
    except ReplayStoreUnavailable:
        logger.error("server.sign: replay store unreachable, signature refused")
        raise RpcError(INTERNAL_ERROR, data={"reason": "replay store unavailable"}) from None
    return engine_user_id(api_key.user)


async def sign_user(access_id: str, authorisation: str, tonce: int) -> int:
    return await sync_to_async(_sign_user, thread_sensitive=False)(access_id, authorisation, tonce)
