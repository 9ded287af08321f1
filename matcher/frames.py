"""The matcher's frame protocol (docs/matcher-core.md "The edges"): in both directions,
frames of a 4-byte big-endian unsigned length followed by that many bytes of JSON
(orjson). Encoded and decoded here only, for the matcher's RPC server (matcher/server.py)
and its client in the access layer (apps/trading/client.py).

Authentication (only when the matcher has a shared secret, MATCHER_RPC_SECRET;
docs/operations.md): the server's first frame is ``{"auth": "hmac-sha256", "nonce": <hex>}``;
the client's first frame must be ``{"auth": <hex HMAC-SHA256(secret, nonce bytes)>}``; the
server answers ``{"auth": "ok"}`` and serves requests, or closes the connection having
executed nothing. Without a secret there is no handshake.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import socket
import struct

import orjson

HEADER = struct.Struct(">I")
HEADER_SIZE = HEADER.size
#: largest request frame the server accepts (bytes of JSON)
MAX_REQUEST_FRAME = 4 * 1024 * 1024
#: largest reply frame the client accepts
MAX_REPLY_FRAME = 64 * 1024 * 1024

pack_header = HEADER.pack
_unpack_header = HEADER.unpack_from
_dumps = orjson.dumps


def encode_frame(obj) -> bytes:
    """One frame: the header and the JSON of ``obj``."""
    body = _dumps(obj)
    return pack_header(len(body)) + body


def set_nodelay(transport) -> None:
    """Turn off Nagle's algorithm on a connection of this protocol (small frames, pipelined:
    a frame must go out at once)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass


class FrameReader:
    """Incremental decoder of one byte stream."""

    __slots__ = ("buf", "min_size", "max_size")

    def __init__(self, max_size: int, *, min_size: int = 0):
        self.buf = bytearray()
        self.min_size = min_size
        self.max_size = max_size

    def feed(self, data: bytes) -> tuple[list[bytes], int | None]:
        """Add received bytes. Returns the bodies of the frames now complete, in stream
        order, and the length outside ``min_size .. max_size`` that stopped decoding (None
        when there is none). After a bad length the stream cannot be trusted: what is
        buffered is dropped, and the caller should close the connection."""
        buf = self.buf
        buf += data
        pos, end = 0, len(buf)
        bodies = []
        min_size, max_size = self.min_size, self.max_size
        while end - pos >= HEADER_SIZE:
            (size,) = _unpack_header(buf, pos)
            if size < min_size or size > max_size:
                del buf[:]
                return bodies, size
            start = pos + HEADER_SIZE
            if end - start < size:
                break
            pos = start + size
            bodies.append(bytes(buf[start:pos]))
        if pos:
            del buf[:pos]
        return bodies, None


# -- shared-secret handshake ------------------------------------------------------------
AUTH_SCHEME = "hmac-sha256"
NONCE_BYTES = 32
#: the server closes a connection that has not authenticated within this many seconds
AUTH_TIMEOUT = 5.0


def auth_nonce() -> str:
    return os.urandom(NONCE_BYTES).hex()


def auth_proof(secret: str, nonce: str) -> str:
    """The client's answer to ``nonce``: hex HMAC-SHA256 keyed with the shared secret."""
    return hmac.new(secret.encode(), bytes.fromhex(nonce), hashlib.sha256).hexdigest()


def auth_valid(secret: str, nonce: str, proof) -> bool:
    return type(proof) is str and hmac.compare_digest(auth_proof(secret, nonce).encode(), proof.encode())


def is_loopback(host: str | None) -> bool:
    """True when every address ``host`` binds to is a loopback address (names resolved)."""
    if not host:
        return False  # all interfaces
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return False
    addresses = {info[4][0].split("%")[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)
