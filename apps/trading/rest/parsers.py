"""The JSON parser of REST v1 (docs/api.md "Values"): strict JSON, every failure a 400
``parse_error`` — never a 500.

- syntax is checked by orjson first (in C, no recursion: at most 1,024 levels; no
  ``NaN``/``Infinity`` tokens, no numbers overflowing a double, valid UTF-8);
- a body nesting deeper than apps.wire.nesting.MAX_DEPTH (64) levels is refused (Python's
  own parser would hit the recursion limit: that was a 500 with the DEBUG traceback);
- a JSON object with the same key twice is refused (``{"amount": "1", "amount": "100"}``:
  which one a component reads would depend on its parser);
- values are then read by Python's json (integers of any size stay integers).
"""
from __future__ import annotations

import json

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

from apps.wire.nesting import MAX_DEPTH, deeper_than


class DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs):
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(f"duplicate key {key!r} in an object")
            seen.add(key)
    return obj


def parse_strict_json(raw: bytes, encoding: str = "utf-8"):
    """The value of a JSON document, or ParseError (HTTP 400) naming what is wrong."""
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise ParseError(f"JSON parse error - the body is not valid {encoding}") from None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"JSON parse error - {exc}") from None
    if deeper_than(value, MAX_DEPTH):
        raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, object_pairs_hook=_object_without_duplicates, parse_constant=strict_constant)
    except ValueError as exc:
        raise ParseError(f"JSON parse error - {exc}") from None


class StrictJSONParser(JSONParser):
    """DRF parser class of REST v1 (apps.trading.rest.views.ApiView)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding") or "utf-8"
        return parse_strict_json(stream.read(), encoding)
