"""How deep request JSON may nest (docs/api.md): the params of a matcher request and a REST
body at most ``MAX_DEPTH`` levels (a list or object is one level; ``[]`` is 1, ``[{}]`` 2).

No ViaBTC method needs more than 3; the limit leaves room for what the platform wraps
around a value later — the request frame, the operation log, history rows, Kafka events,
the reply of `balance.history` (orjson writes at most 255 levels, reads 1,024) — so a
value accepted at the door can always be written on.
"""
from __future__ import annotations

import math

MAX_DEPTH = 64


def deeper_than(value, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` (decoded JSON: dict, list, scalars) nests more than ``limit``
    levels. Iterative: no recursion limit, stops at the first branch past the limit."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if level > limit:
            return True
        for child in children:
            if isinstance(child, (dict, list, tuple)):
                stack.append((child, level + 1))
    return False


def encoded_deeper_than(value, encoded: bytes, limit: int = MAX_DEPTH) -> bool:
    """``deeper_than`` for a value whose JSON is ``encoded``: a value with fewer opening
    brackets than the limit cannot be deeper (the usual case costs two byte counts)."""
    if encoded.count(b"[") + encoded.count(b"{") <= limit:
        return False
    return deeper_than(value, limit)


def has_non_finite(value) -> bool:
    """True when a float NaN or ±Infinity is anywhere in ``value`` (orjson would write it as
    ``null``: never valid JSON-RPC input, so a caller's bug)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False
