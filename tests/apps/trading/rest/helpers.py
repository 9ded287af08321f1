"""Test helpers of REST v1: request signing and an in-process matcher stand-in."""
import hashlib
import hmac
import json
import time

from django.test import Client

from apps.markets.models import Asset, Market


def sign(secret: str, timestamp: str, method: str, path: str, body: bytes = b"") -> str:
    message = timestamp.encode() + method.encode() + path.encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class SignedClient:
    """Signs every request with an API key, the way a bot would."""

    def __init__(self, access_id: str, secret: str):
        self.access_id = access_id
        self.secret = secret
        self.client = Client()

    def headers(self, method: str, path: str, body: bytes = b"", *, timestamp: int | None = None,
                signature: str | None = None) -> dict:
        ts = str(int(time.time() * 1000) if timestamp is None else timestamp)
        return {
            "HTTP_X_API_KEY": self.access_id,
            "HTTP_X_API_TIMESTAMP": ts,
            "HTTP_X_API_SIGNATURE": signature or sign(self.secret, ts, method, path, body),
        }

    def get(self, path: str, **kw):
        return self.client.get(path, **self.headers("GET", path, **kw))

    def delete(self, path: str, **kw):
        return self.client.delete(path, **self.headers("DELETE", path, **kw))

    def post(self, path: str, data, **kw):
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        return self.client.post(path, body, content_type="application/json", **self.headers("POST", path, body, **kw))


class EngineClient:
    """Stands in for the matcher in unit tests: the real matcher core, in process, fed the
    database configuration. Same interface as apps.trading.client.SyncMatcherClient."""

    def __init__(self):
        from matcher.core import Engine

        self.engine = Engine()
        self.t = int(time.time() * 1_000_000)
        self.calls = []
        for a in Asset.objects.order_by("id"):
            self._ok("asset.put", [a.name, a.prec_save, a.prec_show])
        for m in Market.objects.select_related("stock", "money").order_by("id"):
            self._ok("market.put", [m.name, m.stock.name, m.money.name, m.stock_prec, m.money_prec, m.fee_prec,
                                    format(m.min_amount.normalize(), "f"), m.listed])

    def _ok(self, method, params):
        out = self.engine.execute(method, params, self.t)
        assert out.error is None, (method, params, out.error)
        return out.result

    def request(self, method, params, *, timeout=None):
        self.t += 1
        self.calls.append((method, params))
        out = self.engine.execute(method, json.loads(json.dumps(params)), self.t)
        if out.error is not None:
            code, message, data = out.error
            error = {"code": code, "message": message}
            if data is not None:
                error["data"] = data
            return {"error": error, "result": None}
        return {"error": None, "result": out.result}

    def call(self, method, params, *, timeout=None):
        from apps.trading.client import _error_from_reply

        reply = self.request(method, params, timeout=timeout)
        if reply["error"] is not None:
            raise _error_from_reply(reply["error"])
        return reply["result"]

    def mutating_calls(self):
        reads = {"balance.query", "order.pending", "order.pending_detail", "order.depth", "order.book"}
        return [c for c in self.calls if c[0] not in reads]

    def close(self):
        pass
