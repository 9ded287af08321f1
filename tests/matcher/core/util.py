"""Helpers for the matcher core tests (plain Python, no Django)."""
from decimal import Decimal

from matcher.core import Engine

T0 = 1_700_000_000_000_000  # µs
DAY_US = 86_400_000_000


def seeded(fee_account=0):
    """Demo configuration of spec README §6 (BTC, ETH, USDT; BTCUSDT, ETHUSDT, ETHBTC)."""
    e = Engine()
    for a in ("BTC", "ETH", "USDT"):
        ok(e, "asset.put", [a, 20, 8])
    ok(e, "market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001", True])
    ok(e, "market.put", ["ETHUSDT", "ETH", "USDT", 8, 2, 4, "0.01", True])
    ok(e, "market.put", ["ETHBTC", "ETH", "BTC", 8, 6, 4, "0.01", True])
    if fee_account:
        ok(e, "config.fee_account", [fee_account])
    return e


def ok(e, method, params, t=T0):
    out = e.execute(method, params, t)
    assert out.error is None, (method, params, out.error)
    return out


def err(e, method, params, t=T0):
    before = e.state_hash()
    seq = e.event_seq
    out = e.execute(method, params, t)
    assert out.error is not None, (method, params, out.result)
    assert out.events == [] and out.log is None and out.oper_id is None
    assert e.event_seq == seq and e.state_hash() == before, "failed command changed state"
    return out.error


def code(e, method, params, t=T0):
    return err(e, method, params, t)[0]


def deposit(e, user, asset, amount, bid=None, t=T0):
    deposit.n += 1
    return ok(e, "balance.update",
              [user, asset, "deposit", bid if bid is not None else deposit.n, amount, {}], t)


deposit.n = 10_000


def bal(e, user, asset):
    """(available, freeze) as Decimals (0 when missing)."""
    a = e.accounts.get(user)
    if a is None:
        return Decimal(0), Decimal(0)
    return a.avail.get(asset, Decimal(0)), a.frz.get(asset, Decimal(0))


def limit(e, user, side, amount, price, taker="0.002", maker="0.001", market="BTCUSDT",
          source="", opts=None, t=T0):
    p = [user, market, side, amount, price, taker, maker, source]
    if opts is not None:
        p.append(opts)
    return e.execute("order.put_limit", p, t)


def market_order(e, user, side, amount, taker="0.002", market="BTCUSDT", source="", opts=None,
                 t=T0):
    p = [user, market, side, amount, taker, source]
    if opts is not None:
        p.append(opts)
    return e.execute("order.put_market", p, t)


def kinds(events):
    out = []
    for ev in events:
        n = type(ev).__name__
        if n == "DealEvent":
            out.append("deal")
        elif n == "OrderEvent":
            out.append({1: "put", 2: "update", 3: "finish"}[ev.kind] + f":{ev.order['id']}")
        else:
            out.append(f"bal:{ev.user_id}:{ev.asset}:{ev.business}")
    return out
