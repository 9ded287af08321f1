"""Who the client is behind reverse proxies: one rule and one setting (``TRUSTED_PROXIES``)
for every per-address decision — JSON-RPC's trusted networks (apps/trading/jsonrpc.py) and
REST v1's anonymous throttle (apps/trading/rest/throttles.py).

``X-Forwarded-For`` / ``X-Real-IP`` are believed only when the direct peer is a trusted
proxy; the client is then the right-most forwarded address that is not a trusted proxy
(the left-most entries are whatever the client sent). From any other peer the headers are
not believed (anyone can send them). No proxy is trusted by default.
"""
from __future__ import annotations

import ipaddress


def parse_networks(values) -> tuple:
    nets = []
    for value in values or ():
        value = str(value).strip()
        if value:
            nets.append(ipaddress.ip_network(value, strict=False))
    return tuple(nets)


def in_networks(host: str | None, nets: tuple) -> bool:
    if not host or not nets:
        return False
    try:
        addr = ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        return False
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in net for net in nets if net.version == addr.version)


def forwarded_client(forwarded: str | None, real_ip: str | None, trusted: tuple) -> str | None:
    """The client named by the forwarding headers of a request whose peer is a trusted
    proxy: the right-most ``X-Forwarded-For`` address that is not a trusted proxy (all
    trusted: the left-most), else ``X-Real-IP``; None when neither names one."""
    if forwarded:
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return next((h for h in reversed(hops) if not in_networks(h, trusted)), hops[0])
    if real_ip and real_ip.strip():
        return real_ip.strip()
    return None


def client_address(peer: str | None, forwarded: str | None, real_ip: str | None, trusted: tuple) -> str | None:
    """The client's address for throttles and logs: the forwarded client when ``peer`` is a
    trusted proxy, else the peer itself (forwarding headers ignored)."""
    if (forwarded or real_ip) and in_networks(peer, trusted):
        return forwarded_client(forwarded, real_ip, trusted) or peer
    return peer


_cache: dict = {}


def trusted_proxies() -> tuple:
    """settings.TRUSTED_PROXIES parsed (re-parsed when the setting changes)."""
    from django.conf import settings

    values = settings.TRUSTED_PROXIES
    key = tuple(values)
    nets = _cache.get(key)
    if nets is None:
        _cache.clear()
        nets = _cache[key] = parse_networks(values)
    return nets
