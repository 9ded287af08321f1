from decimal import Decimal

import pytest

from matcher.core import fmt
from matcher.core.numbers import ParamError, parse_decimal, parse_trunc, EXP

from .util import bal, code, deposit, err, ok, seeded


@pytest.mark.parametrize("raw,out", [
    ("1.50000000", "1.5"), ("5.00000000", "5"), ("0.0000", "0"), ("0E-8", "0e-8"),
    ("0.00000001", "1e-8"), ("0.00000010", "1.0e-7"), ("0E-16", "0e-16"), ("100", "100"),
    ("8000.00", "8000"), ("0.000001", "0.000001"), ("-1.250", "-1.25"),
])
def test_fmt_examples(raw, out):
    assert fmt(Decimal(raw)) == out


def test_parse_rejects_non_finite_and_garbage():
    for bad in ["NaN", "nan", "Infinity", "-Infinity", "inf", "sNaN", "", "abc", "1,5", " 1",
                "1_000", "0x10", "1e", "--1", "\u0661", "\uff11", "1\u0660", "1e\u0661", "1\n"]:
        with pytest.raises(ParamError):
            parse_decimal(bad, "amount")
    for bad in [1, 1.5, None, True, ["1"]]:
        with pytest.raises(ParamError):
            parse_decimal(bad, "amount")


def test_parse_bound_and_exponent_form():
    assert parse_decimal("1e-3", "x") == Decimal("0.001")
    assert parse_decimal("999999999999999.99", "x") == Decimal("999999999999999.99")
    for bad in ["1e15", "1000000000000000", "-1e15", "1e999999999999999999999"]:
        with pytest.raises(ParamError):
            parse_decimal(bad, "x")
    # a tiny exponent is fine and truncates to zero
    assert parse_trunc("1e-99999999", "x", EXP[8]) == 0


def test_truncation_rounds_toward_zero():
    assert str(parse_trunc("1.123456789", "x", EXP[8])) == "1.12345678"
    assert str(parse_trunc("-1.999", "x", EXP[2])) == "-1.99"
    assert str(parse_trunc("7.9", "x", EXP[0])) == "7"  # precision 0 = integer
    assert str(parse_trunc("1.5", "x", EXP[8])) == "1.50000000"


def test_param_errors_carry_param_and_reason():
    e = seeded()
    deposit(e, 1, "BTC", "10")
    assert err(e, "order.put_limit", [1, "BTCUSDT", 1, "NaN", "100", "0", "0", ""]) == (
        1, "invalid argument", {"param": "amount", "reason": "not a valid decimal"})
    c, msg, data = err(e, "order.put_limit", [1, "BTCUSDT", 1, "1e15", "100", "0", "0", ""])
    assert (c, msg, data["param"]) == (1, "invalid argument", "amount")
    c, msg, data = err(e, "order.put_limit", [1, "BTCUSDT", 1, "0.000000001", "100", "0", "0", ""])
    assert data == {"param": "amount", "reason": "must be > 0"}  # truncated to 0
    # decimals as JSON numbers are rejected
    assert code(e, "order.put_limit", [1, "BTCUSDT", 1, 1, "100", "0", "0", ""]) == 1
    # exponent form accepted
    out = ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1e-2", "1.5e3", "0", "0", ""])
    assert out.result["amount"] == "0.01" and out.result["price"] == "1500"
    assert bal(e, 1, "BTC") == (Decimal("9.99"), Decimal("0.01"))


def test_arithmetic_is_independent_of_caller_context():
    import decimal
    e = seeded()
    deposit(e, 1, "USDT", "999999999999999")
    deposit(e, 2, "BTC", "999999.99999999")
    with decimal.localcontext() as c:
        c.prec = 5
        c.rounding = decimal.ROUND_HALF_UP
        ok(e, "order.put_limit", [2, "BTCUSDT", 1, "999999.99999999", "999.99", "0.0001", "0.0001", ""])
        out = ok(e, "order.put_limit", [1, "BTCUSDT", 2, "999999.99999999", "999.99", "0.0001", "0.0001", ""])
        assert decimal.getcontext().prec == 5
    assert out.result["deal_money"] == "999989999.9999900001"
    assert out.result["deal_fee"] == "99.999999999999"
