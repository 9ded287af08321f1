"""Strict input fields of REST v1 (spec README §6: REST v1 is strict).

Decimals are JSON strings in plain notation — no exponent, sign (unless allowed), NaN or
Infinity — below 10^15; their precision is checked against the market or asset in the
serializer (`check_precision`), because it depends on another field.
"""
import re
from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.markets.models import decimal_places

MAX_DECIMAL = Decimal(10) ** 15
_UNSIGNED = re.compile(r"^[0-9]{1,16}(\.[0-9]{1,30})?$")
_DIGITS = re.compile(r"[0-9]{1,20}")


@extend_schema_field({"type": "string", "pattern": r"^[0-9]{1,16}(\.[0-9]{1,30})?$", "example": "0.5"})
class DecimalStringField(serializers.Field):
    default_error_messages = {
        "type": 'Must be a decimal string such as "1.25" (JSON numbers are not accepted).',
        "format": "Must be a plain decimal: digits with an optional fraction; no sign, exponent, NaN or Infinity.",
        "positive": "Must be > 0.",
        "too_large": "Must be < 10^15.",
    }

    def __init__(self, *, allow_zero: bool = False, **kwargs):
        self.allow_zero = allow_zero
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("type")
        if not _UNSIGNED.fullmatch(data):
            self.fail("format")
        value = Decimal(data)
        if value >= MAX_DECIMAL:
            self.fail("too_large")
        if value <= 0 and not (self.allow_zero and value == 0):
            self.fail("positive")
        return value

    def to_representation(self, value):
        return str(value)


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanField(serializers.Field):
    """Only JSON true/false (DRF's BooleanField also takes "yes", 1, "on"…)."""

    default_error_messages = {"type": "Must be true or false."}

    def to_internal_value(self, data):
        if data is True or data is False:
            return data
        self.fail("type")

    def to_representation(self, value):
        return bool(value)


@extend_schema_field(OpenApiTypes.INT)
class StrictIntegerField(serializers.IntegerField):
    """A JSON integer in a body (no strings, floats or booleans)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.INT)
class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter: ASCII digits only, at most 20 of them.

    DRF's IntegerField takes "10.0", " 10" and "+10" as 10; REST v1 is strict (spec README
    §6), so a sign, fraction, exponent or whitespace is a 400 naming the parameter.
    """

    default_error_messages = {"invalid": "Must be an integer: ASCII digits only (no sign, fraction, exponent or spaces)."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or not _DIGITS.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


def check_precision(errors: dict, field: str, value: Decimal | None, prec: int, what: str) -> None:
    if value is not None and decimal_places(value) > prec:
        errors.setdefault(field, []).append(f"At most {prec} decimals ({what}).")
