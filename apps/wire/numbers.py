"""The ViaBTC wire's numbers: the decimal text of replies and records, the integer limits
and the client_order_id pattern.

The limits and the pattern are defined once, in the matcher core (matcher/core/params.py,
which may import nothing outside matcher/core); this module is where everyone else imports
them from.
"""
from __future__ import annotations

from decimal import Decimal

from matcher.core.params import CID_PATTERN, INT64_MAX, INT64_MIN, U32, U64

__all__ = ["plain", "U32", "U64", "INT64_MIN", "INT64_MAX", "CLIENT_ORDER_ID_RE"]

#: client_order_id: 1-36 characters [A-Za-z0-9_.:-] (a regex, anchored)
CLIENT_ORDER_ID_RE = rf"^{CID_PATTERN}$"


def plain(value) -> str:
    """A decimal in plain notation, trailing zeros (and a trailing ".") stripped, never
    "-0": ``Decimal("0.10000000")`` -> ``"0.1"``, ``0E-8`` -> ``"0"``, ``1E-8`` ->
    ``"0.00000001"``, ``1E+2`` -> ``"100"``. Also takes the matcher's ``fmt`` strings
    (``"0e-8"``) and ints. Exact: no rounding to a context precision.

    (The matcher core's replies use ``matcher.core.numbers.fmt`` instead, which keeps
    the scientific form of ViaBTC's to-scientific-string: ``"0e-8"``.)"""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    if s == "-0":
        s = "0"
    return s
