"""Random command sequences on three markets: invariants after every step, the deals and
books of a small reference matcher written here (price-time priority, matching.md §5-§6 and
the order options of docs/api.md), determinism, replay, dump/load.

What the engine must hold is computed from the commands sent (deposits, withdrawals) and
from the reference matcher's deals (fees), never from the engine's own events."""
from decimal import ROUND_DOWN, Context, localcontext
from decimal import Decimal as D

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from matcher.core import BalanceEvent, DealEvent, Engine

from .util import T0, seeded

USERS = [1, 2, 3, 4]
FEE_ACCOUNT = 9
MARKETS = {  # stock, money, prices offered, (stock_prec, money_prec) as in util.seeded()
    "BTCUSDT": ("BTC", "USDT", ["99", "99.5", "100", "100.5", "101", "100.123"], (8, 2)),
    "ETHUSDT": ("ETH", "USDT", ["9.5", "10", "10.01", "10.5", "11"], (8, 2)),
    "ETHBTC": ("ETH", "BTC", ["0.05", "0.050001", "0.0501", "0.0502", "0.04999999"], (8, 6)),
}
PREC_SHOW = 8  # asset.put [a, 20, 8]: balance.update changes are truncated to 8 decimals
ASSETS = ["BTC", "ETH", "USDT"]
AMOUNTS = ["0.001", "0.01", "0.3", "1", "2.5", "0.123456789", "0.0001", "7"]
RATES = ["0", "0.001", "0.002", "0.0025"]
OPTS = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={
        "time_in_force": st.sampled_from(["GTC", "IOC", "FOK"]),
        "post_only": st.booleans(),
        "self_trade": st.sampled_from(["none", "cancel_newest", "cancel_oldest"]),
        "client_order_id": st.sampled_from(["a", "b", "c"]),
    }),
)

user = st.sampled_from(USERS)
market = st.sampled_from(sorted(MARKETS))

_limit = st.tuples(st.just("limit"), user, market, st.sampled_from([1, 2]),
                  st.sampled_from(AMOUNTS), st.integers(0, 5), st.sampled_from(RATES),
                  st.sampled_from(RATES), st.one_of(st.none(), st.none(), OPTS))
_market = st.tuples(st.just("market"), user, market, st.sampled_from([1, 2]),
                    st.sampled_from(AMOUNTS + ["50", "0.5"]), st.sampled_from(RATES),
                    st.one_of(st.none(), st.fixed_dictionaries({}, optional={
                        "self_trade": st.sampled_from(["none", "cancel_newest", "cancel_oldest"]),
                        "client_order_id": st.sampled_from(["a", "m"])})))
cmd = st.one_of(
    st.tuples(st.just("deposit"), user, st.sampled_from(ASSETS),
              st.sampled_from(["1", "10", "1000", "0.5", "123.456789"])),
    st.tuples(st.just("withdraw"), user, st.sampled_from(ASSETS),
              st.sampled_from(["0.1", "1", "50", "5000"])),
    _limit, _limit.map(tuple), _limit.map(lambda c: c), _limit.map(lambda c: tuple(c)),
    _market,
    st.tuples(st.just("cancel"), user, market, st.integers(0, 30)),
    st.tuples(st.just("cancel_all"), st.just(1), market),
    st.tuples(st.just("tick"), st.integers(1, 3_000_000_000)),
    st.tuples(st.just("read"), user, market),
)


def to_calls(cmds):
    """Turn abstract commands into (method, params, dt) calls."""
    calls = []
    bid = 0
    for u in USERS:  # start with some money so that most orders are accepted
        for a, amt in (("BTC", "5"), ("ETH", "50"), ("USDT", "500")):
            bid += 1
            calls.append(("balance.update", [u, a, "deposit", bid, amt, {}]))
    for c in cmds:
        k = c[0]
        if k == "deposit":
            bid += 1
            calls.append(("balance.update", [c[1], c[2], "deposit", bid, c[3], {}]))
        elif k == "withdraw":
            bid += 1
            calls.append(("balance.update", [c[1], c[2], "withdraw", bid, "-" + c[3], {}]))
        elif k == "limit":
            _, u, m, side, amt, pi, tf, mf, opts = c
            prices = MARKETS[m][2]
            p = [u, m, side, amt, prices[pi % len(prices)], tf, mf, "src"]
            if opts is not None:
                p.append(opts)
            calls.append(("order.put_limit", p))
        elif k == "market":
            _, u, m, side, amt, tf, opts = c
            p = [u, m, side, amt, tf, ""]
            if opts is not None:
                p.append(opts)
            calls.append(("order.put_market", p))
        elif k == "cancel":
            calls.append(("cancel-pick", [c[1], c[2], c[3]]))
        elif k == "cancel_all":
            calls.append(("order.cancel_all", [c[1], c[2]]))
        elif k == "tick":
            calls.append(("tick", c[1]))
        else:
            calls.append(("read", [c[1], c[2]]))
    return calls


CTX = Context(prec=34, rounding=ROUND_DOWN)


def trunc(x, places):
    return x.quantize(D(1).scaleb(-places), rounding=ROUND_DOWN)


class RefOrder:
    def __init__(self, oid, user, side, price, left, maker_fee):
        self.id, self.user, self.side, self.price, self.left, self.maker_fee = oid, user, side, price, left, maker_fee


class Reference:
    """An independent matcher: one dict of resting orders per market, scanned in
    price-time priority on every order (slow and simple). Acceptance (balances, minimum
    amount, duplicate client ids) is the engine's: the reference follows an accepted order
    and checks the post-only and fill-or-kill refusals itself. Deals are (ask order id,
    bid order id, price, amount, ask fee in money, bid fee in stock)."""

    def __init__(self):
        self.books = {m: {} for m in MARKETS}

    def makers(self, market, taker_side, limit=None):
        book = self.books[market].values()
        if taker_side == 2:  # a bid takes asks, lowest price first
            out = sorted((o for o in book if o.side == 1 and (limit is None or o.price <= limit)),
                         key=lambda o: (o.price, o.id))
        else:
            out = sorted((o for o in book if o.side == 2 and (limit is None or o.price >= limit)),
                         key=lambda o: (-o.price, o.id))
        return out

    def _deal(self, market, taker_id, taker_side, taker_fee, maker, qty):
        deal = maker.price * qty  # the maker's price
        if taker_side == 1:
            d = (taker_id, maker.id, maker.price, qty, deal * taker_fee, qty * maker.maker_fee)
        else:
            d = (maker.id, taker_id, maker.price, qty, deal * maker.maker_fee, qty * taker_fee)
        maker.left -= qty
        if maker.left == 0:
            del self.books[market][maker.id]
        return d

    def limit(self, out, params):
        user, market, side, amount, price, taker_fee, maker_fee = params[:7]
        opts = params[8] if len(params) > 8 else {}
        sp, mp = MARKETS[market][3]
        amount, price = trunc(D(amount), sp), trunc(D(price), mp)
        taker_fee, maker_fee = D(taker_fee), D(maker_fee)
        tif, self_trade = opts.get("time_in_force", "GTC"), opts.get("self_trade", "none")
        crossing = self.makers(market, side, price)
        code = out.error[0] if out.error else None
        if opts.get("post_only") and code in (None, 12):
            assert (code == 12) == bool(crossing), ("post-only", params, code)
        if tif == "FOK" and code in (None, 13):
            avail = D(0)
            for m in crossing:
                if m.user == user and self_trade == "cancel_newest":
                    break
                if m.user == user and self_trade == "cancel_oldest":
                    continue
                avail += m.left
            assert (code == 13) == (avail < amount), ("fill-or-kill", params, code, avail)
        if code is not None:
            return []
        oid = out.result["id"]
        deals, left, stopped = [], amount, False
        for m in crossing:
            if left == 0:
                break
            if m.user == user and self_trade == "cancel_newest":
                stopped = True
                break
            if m.user == user and self_trade == "cancel_oldest":
                del self.books[market][m.id]
                continue
            qty = min(left, m.left)
            deals.append(self._deal(market, oid, side, taker_fee, m, qty))
            left -= qty
        if left > 0 and tif == "GTC" and not stopped:
            self.books[market][oid] = RefOrder(oid, user, side, price, left, maker_fee)
        return deals

    def market(self, out, params):
        if out.error:
            return []
        user, market, side, amount, taker_fee = params[:5]
        opts = params[6] if len(params) > 6 else {}
        self_trade = opts.get("self_trade", "none")
        sp = MARKETS[market][3][0]
        left, taker_fee, oid, deals = trunc(D(amount), sp), D(taker_fee), out.result["id"], []
        step = D(1).scaleb(-sp)
        for m in self.makers(market, side):
            if left == 0:
                break
            if m.user == user and self_trade == "cancel_newest":
                break
            if m.user == user and self_trade == "cancel_oldest":
                del self.books[market][m.id]
                continue
            if side == 1:
                qty = min(left, m.left)
                left -= qty
            else:  # left is money
                qty = trunc(left / m.price, sp)
                while qty * m.price > left:
                    qty -= step
                qty = min(qty, m.left)
                if qty <= 0:
                    break
                left -= m.price * qty
            deals.append(self._deal(market, oid, side, taker_fee, m, qty))
            if side == 2 and m.left:
                # the rest of the money buys not one unit at this best price: the taker
                # stops here (it never reaches, nor cancels, a later maker)
                break
        return deals

    def apply(self, method, params, out):
        """The deals the command must have made (none when it failed)."""
        with localcontext(CTX):
            if method == "order.put_limit":
                return self.limit(out, params)
            if method == "order.put_market":
                return self.market(out, params)
            if out.error is None and method == "order.cancel":
                del self.books[params[1]][params[2]]  # KeyError: cancelled an order the reference has not
            elif out.error is None and method == "order.cancel_all":
                book = self.books[params[1]]
                for i in [i for i, o in book.items() if o.user == params[0]]:
                    del book[i]
            return []


def check_invariants(e, net, burned, ref=None):
    totals = {a: D(0) for a in ASSETS}
    for uid, acct in e.accounts.items():
        for d in (acct.avail, acct.frz):
            for a, v in d.items():
                assert v > 0, (uid, a, v)
                assert v == v.quantize(e.assets[a].exp_save)
                # stored at exactly prec_save decimals (the engine adds instead of quantizing)
                assert v.as_tuple().exponent == -e.assets[a].prec_save, (uid, a, v)
                totals[a] += v
    for a in ASSETS:
        assert totals[a] + burned[a] == net[a], (a, totals[a], burned[a], net[a])
    reserved = {}
    for name, m in e.markets.items():
        for o in m.orders.values():
            if o.side == 1:
                assert o.freeze == o.left
                k = (o.user, m.stock)
            else:
                assert o.freeze == o.price * o.left
                k = (o.user, m.money)
            assert o.left > 0
            reserved[k] = reserved.get(k, D(0)) + o.freeze
        if m.asks and m.bids:
            assert m.bids.peekitem(-1)[0] < m.asks.peekitem(0)[0], "crossed book"
        # the same book as the reference matcher's
        if ref is not None:
            assert {i: (o.user, o.side, o.price, o.left) for i, o in m.orders.items()} == {
                i: (o.user, o.side, o.price, o.left) for i, o in ref.books[name].items()}, name
        # the cached best levels are the book's first / last level
        assert m.best_ask is (m.asks.peekitem(0)[1] if m.asks else None)
        assert m.best_bid is (m.bids.peekitem(-1)[1] if m.bids else None)
        for side, book in ((1, m.asks), (2, m.bids)):
            n = 0
            for p, lvl in book.items():
                assert lvl.orders, "empty level kept"
                ids = list(lvl.orders)
                assert ids == sorted(ids), "time priority broken"
                assert all(o.price == p and o.side == side for o in lvl.orders.values())
                assert lvl.total == sum(o.left for o in lvl.orders.values())
                n += len(ids)
            assert n == (m.n_asks if side == 1 else m.n_bids)
        assert m.n_asks + m.n_bids == len(m.orders)
        for uid, u in m.users.items():
            assert u and list(u) == sorted(u) and all(m.orders[i] is o for i, o in u.items())
    for uid, acct in e.accounts.items():
        for a, v in acct.frz.items():
            assert reserved.get((uid, a), D(0)) == v, (uid, a)
    for (uid, a), v in reserved.items():
        assert e.accounts[uid].frz.get(a, D(0)) == v


def run(calls, fee_account, check=True):
    e = seeded(fee_account=fee_account)
    t = T0
    net = {a: D(0) for a in ASSETS}
    burned = {a: D(0) for a in ASSETS}
    trace = []
    log = []
    ref = Reference() if check else None
    deals_by_market = {}
    if check:
        run.deals_by_market = deals_by_market
    for method, params in calls:
        if method == "tick":
            t += params
            continue
        if method == "read":
            u, m = params
            for rm, rp in (("order.depth", [m, 20, "0"]), ("order.depth", [m, 20, "1"]),
                           ("order.pending", [u, m, 0, 101]), ("order.book", [m, 1, 0, 5]),
                           ("balance.query", [u]), ("asset.summary", []),
                           ("market.summary", [])):
                out = e.execute(rm, rp, t)
                assert out.error is None
                trace.append((rm, out.result))
            continue
        if method == "cancel-pick":
            u, m, i = params
            ids = sorted(e.markets[m].orders)
            oid = ids[i % len(ids)] if ids else i
            method, params = "order.cancel", [u, m, oid]
        before = e.state_hash() if check else None
        out = e.execute(method, params, t)
        trace.append((method, out.error, out.result, [ev.to_dict() for ev in out.events],
                      out.log, out.oper_id))
        if out.error is None:
            log.append((method, out.log, t))
            if method == "balance.update":  # the command's change, truncated to prec_show
                net[params[1]] += trunc(D(params[4]), PREC_SHOW)
        elif check:
            assert out.events == [] and e.state_hash() == before
        if check:
            expected = ref.apply(method, params, out)
            got = [(d.ask_order_id, d.bid_order_id, d.price, d.amount, d.ask_fee, d.bid_fee)
                   for d in out.events if type(d).__name__ == "DealEvent"]
            assert got == expected, (method, params)
            if expected:
                deals_by_market[params[1]] = deals_by_market.get(params[1], 0) + len(expected)
            if not fee_account:  # fees leave the system; with a fee account they stay in it
                stock, money = MARKETS[params[1]][:2] if expected else (None, None)
                for _, _, _, _, ask_fee, bid_fee in expected:
                    burned[money] += ask_fee
                    burned[stock] += bid_fee
            check_invariants(e, net, burned, ref)
    return e, trace, log


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cmds=st.lists(cmd, min_size=20, max_size=80), fee=st.booleans())
def test_random_sequences(cmds, fee):
    calls = to_calls(cmds)
    fa = FEE_ACCOUNT if fee else 0
    e1, tr1, log = run(calls, fa)
    e2, tr2, _ = run(calls, fa, check=False)
    assert tr1 == tr2
    deals = sum(1 for x in tr1 if len(x) == 6 for ev in x[3] if ev["type"] == "deal")
    event(f"deals: {min(deals, 10) // 5 * 5}+")
    event(f"markets with deals: {len(run.deals_by_market)}")
    assert e1.state_hash() == e2.state_hash()
    # dump/load round trip
    d = e1.dump_state()
    e3 = Engine.load_state(d)
    assert e3.dump_state() == d and e3.state_hash() == e1.state_hash()
    # replaying the operation log (normalised params, logged times) rebuilds the state
    e4 = Engine()
    for method, params, t in [(m, p, T0) for m, p in _seed_log(fa)] + log:
        out = e4.execute(method, params, t)
        assert out.error is None, (method, params, out.error)
    assert e4.state_hash() == e1.state_hash()
    # the loaded engine continues exactly like the original
    for m, p in (("order.cancel_all", [1, "BTCUSDT"]), ("order.cancel_all", [2, "ETHBTC"])):
        a = e1.execute(m, p, T0 + 10**13)
        b = e3.execute(m, p, T0 + 10**13)
        assert a.result == b.result and [x.to_dict() for x in a.events] == [x.to_dict() for x in b.events]
    assert e1.state_hash() == e3.state_hash()


def _seed_log(fa):
    cap = []
    e = Engine()
    orig = e.execute

    def rec(method, params, t):
        out = orig(method, params, t)
        cap.append((method, out.log))
        return out
    e.execute = rec
    # same configuration as util.seeded()
    for a in ("BTC", "ETH", "USDT"):
        e.execute("asset.put", [a, 20, 8], T0)
    e.execute("market.put", ["BTCUSDT", "BTC", "USDT", 8, 2, 4, "0.001", True], T0)
    e.execute("market.put", ["ETHUSDT", "ETH", "USDT", 8, 2, 4, "0.01", True], T0)
    e.execute("market.put", ["ETHBTC", "ETH", "BTC", 8, 6, 4, "0.01", True], T0)
    if fa:
        e.execute("config.fee_account", [fa], T0)
    return cap



@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cmds=st.lists(cmd, min_size=20, max_size=80), fee=st.booleans(),
       switch=st.lists(st.booleans(), min_size=8, max_size=8))
def test_event_less_engine_is_the_same_state_machine(cmds, fee, switch):
    """Engine(events=False) builds no events, yet its results, logs, ids, counters and
    state (state_hash, dump) are those of an engine with events, after every command; a
    third engine switches ``emit_events`` back and forth between commands; a fourth builds
    no fill/fee balance rows (``emit_trade_rows`` False): every other event, same seqs."""
    fa = FEE_ACCOUNT if fee else 0
    engines = [Engine(), Engine(events=False), Engine(), Engine()]
    assert [x.emit_events for x in engines] == [True, False, True, True]
    no_rows = engines[3]
    no_rows.emit_trade_rows = False
    for x in engines:
        for method, params in _seed_log(fa):
            assert x.execute(method, params, T0).error is None
    on, off, mixed = engines[:3]
    t = T0
    for i, (method, params) in enumerate(to_calls(cmds)):
        if method == "tick":
            t += params
            continue
        if method == "read":
            u, m = params
            for rm, rp in (("order.depth", [m, 20, "0"]), ("order.pending", [u, m, 0, 101]),
                           ("balance.query", [u]), ("market.summary", [])):
                a, b = on.execute(rm, rp, t), off.execute(rm, rp, t)
                assert a.error is None and a.result == b.result
            continue
        if method == "cancel-pick":
            u, m, k = params
            ids = sorted(on.markets[m].orders)
            method, params = "order.cancel", [u, m, ids[k % len(ids)] if ids else k]
        mixed.emit_events = switch[i % len(switch)]
        seq = on.event_seq
        a = on.execute(method, params, t)
        b = off.execute(method, params, t)
        c = mixed.execute(method, params, t)
        r = no_rows.execute(method, params, t)
        for x in (b, c, r):
            assert (x.error, x.result, x.log, x.oper_id) == (a.error, a.result, a.log, a.oper_id), (method, params)
        assert len(b.events) == 0
        assert [ev.to_dict() for ev in c.events] == ([ev.to_dict() for ev in a.events] if mixed.emit_events else [])
        assert [ev.to_dict() for ev in r.events] == [
            ev.to_dict() for ev in a.events if not (type(ev) is BalanceEvent and ev.from_trade)]
        if any(type(ev) is DealEvent for ev in a.events):
            event("trade rows left out")
        # every event the engine with events made took one seq: the others advanced as much
        assert [ev.seq for ev in a.events] == list(range(seq + 1, on.event_seq + 1))
        h = on.state_hash()
        for x in (off, mixed, no_rows):
            assert (x.event_seq, x.deal_seq, x.order_seq, x.oper_seq) == (
                on.event_seq, on.deal_seq, on.order_seq, on.oper_seq)
            assert x.state_hash() == h
    # the flag is not state: same dump, and a loaded engine emits events
    d = on.dump_state()
    assert off.dump_state() == d and mixed.dump_state() == d and no_rows.dump_state() == d
    assert Engine.load_state(off.dump_state()).emit_events is True
