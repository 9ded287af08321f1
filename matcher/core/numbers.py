"""Decimal helpers of the matcher core: the arithmetic context, quantize exponents,
input parsing and the ViaBTC reply formatting (``fmt``).

All arithmetic of the core runs inside ``CTX`` (spec README §6: 60 digits, ROUND_DOWN), which
:class:`matcher.core.Engine` installs around every call and restores afterwards.
"""
from __future__ import annotations

import re
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_DOWN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

CTX = Context(
    prec=60,
    rounding=ROUND_DOWN,
    Emax=MAX_EMAX,
    Emin=MIN_EMIN,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)

ZERO = Decimal(0)
ONE = Decimal(1)
#: EXP[p] is the quantize exponent for p decimals (EXP[0] = 1 -> integer).
EXP = tuple(Decimal(1).scaleb(-p) for p in range(0, 61))
#: amounts, prices and balance changes must be < 10^15 in absolute value (spec README §6)
LIMIT = Decimal(10) ** 15

# What libmpdec's string parser accepts for finite numbers (no whitespace, no '_',
# no NaN/Infinity).
_DEC_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")  # ASCII digits only
_match = _DEC_RE.match


class ParamError(Exception):
    """Code 1 `invalid argument` with data {"param": .., "reason": ..}."""

    __slots__ = ("param", "reason")

    def __init__(self, param: str, reason: str):
        self.param = param
        self.reason = reason


def fmt(d: Decimal) -> str:
    """http-jsonrpc.md §2: to-scientific-string, lowercase e, strip trailing zeros of
    plain notation. ``0E-8`` -> ``"0e-8"``, ``1.50000000`` -> ``"1.5"``."""
    s = str(d)
    if "E" in s:
        return s.replace("E", "e")
    if "." in s:
        return s.rstrip("0").rstrip(".")
    return s


def raw(d: Decimal) -> str:
    """Raw to-scientific-string with lowercase e (Kafka payloads, history detail)."""
    s = str(d)
    if "E" in s:
        return s.replace("E", "e")
    return s


def parse_decimal(v, param: str) -> Decimal:
    """Parse a decimal request string (no truncation). Rejects non-strings,
    NaN/Infinity/garbage and |v| >= 10^15 with ParamError."""
    if type(v) is not str:
        raise ParamError(param, "must be a decimal string")
    if _match(v) is None:
        raise ParamError(param, "not a valid decimal")
    try:
        d = Decimal(v)
    except (InvalidOperation, ValueError, OverflowError):
        raise ParamError(param, "not a valid decimal") from None
    if d >= LIMIT or d <= -LIMIT:
        raise ParamError(param, "must be less than 10^15")
    return d


_TRUNC_CACHE: dict = {}
_TRUNC_CACHE_MAX = 1 << 16


def parse_trunc(v, param: str, exp: Decimal) -> Decimal:
    """parse_decimal + truncation toward zero to the exponent ``exp`` (EXP[p]).

    Results are memoised per (string, exponent) — a pure function, so the cache cannot
    change behaviour; prices and fee rates repeat a lot. Only valid inputs are cached."""
    if type(v) is str:
        d = _TRUNC_CACHE.get((v, exp))
        if d is not None:
            return d
    d = parse_decimal(v, param).quantize(exp, ROUND_DOWN, CTX)
    if len(_TRUNC_CACHE) >= _TRUNC_CACHE_MAX:
        _TRUNC_CACHE.clear()
    _TRUNC_CACHE[(v, exp)] = d
    return d


def decimals_of(d: Decimal) -> int:
    """Number of significant decimals of d (0 for integers)."""
    d = d.normalize(CTX)
    e = d.as_tuple().exponent
    return -e if e < 0 else 0
