"""The matcher's frame protocol (docs/matcher-core.md "The edges"): in both directions,
frames of a 4-byte big-endian unsigned length followed by that many bytes of JSON
(orjson). Encoded and decoded here only, for the matcher's RPC server (matcher/server.py)
and its client in the access layer (apps/trading/client.py).
"""
from __future__ import annotations

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
