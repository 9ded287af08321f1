"""Orders: ``order.put_limit``, ``order.put_market``, ``order.cancel``,
``order.cancel_all`` and the matching itself (``take``).

A taker is matched against the opposite side best price first, each fill at the maker's
price (price-time priority). The taker is not an :class:`~.book.Order` while it matches:
its running values are locals, and it becomes an Order only if it rests. The balance
rows of a fill are inlined copies of balances.add, for speed (see there for the precision
rule).
"""
from __future__ import annotations

from . import params
from .balances import account, move
from .book import (
    ASK,
    BID,
    LIMIT_ORDER,
    MARKET_ORDER,
    Level,
    Order,
    check_cid,
    iter_side,
    remember_cid,
    remove,
)
from .events import (
    EV_FINISH,
    EV_PUT,
    EV_UPDATE,
    MAKER,
    TAKER,
    BalanceEvent,
    DealEvent,
    OrderEvent,
    order_dict,
)
from .numbers import ZERO, ParamError, fmt
from .params import STP_CANCEL_NEWEST, STP_NONE, U32, U64, CmdError, market, options, uint


def take(e, m, side, mbuy, lim, left, rate, tid, tu, T, stp, t, ev):
    """Match a taker against the opposite side, best price first, each fill at the
    maker's price. The taker is not an Order object (yet): its running values are
    locals. Per fill: deal event, balance rows (taker gives, taker receives, taker
    fee [, fee credit], maker gives (from freeze), maker receives, maker fee
    [, fee credit]), maker update/finish.

    ``ev``: the list the events go to, or None (event-less: no event objects, no row
    totals; ``event_seq`` still advances by one per event that would have been made).
    With ``e.emit_trade_rows`` False the fill and fee balance rows (``from_trade``) are
    not built either (their seqs still taken); deal and order events are.

    Returns (left, deal_stock, deal_money, deal_fee, stopped); ``stopped`` is True
    when self-trade prevention (cancel_newest) stopped the taker."""
    sa = m.sa
    ma = m.ma
    sn = sa.name
    mn = ma.name
    mkt = m.name
    ask_taker = side == ASK
    # X: what the taker gives (from available) and the maker receives (+ maker fee)
    # Y: what the taker receives (+ taker fee) and the maker gives (from freeze)
    if ask_taker:
        xn, zx, yn, zy = sn, sa.zero, mn, ma.zero
    else:
        xn, zx, yn, zy = mn, ma.zero, sn, sa.zero
    fa = e.fee_account
    F = e.accounts.get(fa) if fa else None
    Tav = T.avail
    Tfz = T.frz
    ds = dm = df = ZERO
    deal_id = e.deal_seq
    seq = e.event_seq
    stopped = False
    append = ev.append if ev is not None else None
    rows = ev is not None and e.emit_trade_rows  # build the fill and fee balance rows
    exp_stock = m.exp_stock
    users = m.users
    while left:
        lvl = m.best_bid if ask_taker else m.best_ask
        if lvl is None:
            break
        price = lvl.price
        if lim is not None:
            if ask_taker:
                if price < lim:
                    break
            elif price > lim:
                break
        maker = next(iter(lvl.orders.values()))
        mu = maker.user
        if stp and mu == tu:
            if stp == STP_CANCEL_NEWEST:
                stopped = True
                break
            # cancel_oldest: the resting order goes, matching continues
            seq += 1
            if ev is not None:
                append(OrderEvent((seq, t, EV_FINISH, maker.snap(), sn, mn,
                                   maker.deal_stock > 0)))
            remove(e, m, maker, t)
            continue
        mleft = maker.left
        if mbuy:
            qty = (left / price).quantize(exp_stock)
            while qty * price > left:
                qty -= exp_stock
            if qty > mleft:
                qty = mleft
            if qty <= 0:
                break
        else:
            qty = left if left < mleft else mleft
        lvl.total -= qty
        deal = price * qty
        deal_id += 1
        mid = maker.id
        mrate = maker.maker_fee
        seq += 1
        if ask_taker:
            tf = deal * rate  # ask fee (money)
            mf = qty * mrate  # bid fee (stock)
            if ev is not None:
                append(DealEvent((seq, t, mkt, sn, mn, deal_id, price, qty, deal, side,
                                  tid, mid, tu, mu, tf, mf, TAKER, MAKER)))
            gx = qty
            gy = deal
        else:
            tf = qty * rate  # bid fee (stock)
            mf = deal * mrate  # ask fee (money)
            if ev is not None:
                append(DealEvent((seq, t, mkt, sn, mn, deal_id, price, qty, deal, side,
                                  mid, tid, mu, tu, mf, tf, MAKER, TAKER)))
            gx = deal
            gy = qty
        # ---- rows inline, not balances.add: a call per row cost ~6 % (docs/benchmarks.md).
        # A row's event carries the asset's total after it (available + freeze): only
        # computed when events are made.
        # ---- taker gives X from available
        v = Tav.get(xn)
        nv = zx - gx if v is None else v - gx
        if nv:
            Tav[xn] = nv
        elif v is not None:
            del Tav[xn]
        seq += 1
        if rows:
            tr = (qty, tid, mkt, price, None, None)
            o = Tfz.get(xn)
            append(BalanceEvent((seq, t, tu, xn, "trade", -gx,
                                 nv if o is None else nv + o, None, tr)))
        # ---- taker receives Y, then pays its fee in Y (one store of the result)
        v = Tav.get(yn)
        nv = gy + zy if v is None else v + gy
        seq += 1
        if rows:
            o = Tfz.get(yn)
            append(BalanceEvent((seq, t, tu, yn, "trade", gy,
                                 nv if o is None else nv + o, None, tr)))
        if tf:
            nv = nv - tf
            seq += 1
            if rows:
                append(BalanceEvent((seq, t, tu, yn, "trade", -tf,
                                     nv if o is None else nv + o, None,
                                     (qty, tid, mkt, price, rate, None))))
        if nv:
            Tav[yn] = nv
        elif v is not None:
            del Tav[yn]
        if tf:
            if fa:
                if F is None:
                    F = account(e, fa)
                d = F.avail
                v = d.get(yn)
                nv = tf + zy if v is None else v + tf
                if nv:
                    d[yn] = nv
                elif v is not None:
                    del d[yn]
                seq += 1
                if rows:
                    o = F.frz.get(yn)
                    append(BalanceEvent((seq, t, fa, yn, "fee", tf,
                                         nv if o is None else nv + o, None,
                                         (qty, tid, mkt, price, rate, tu))))
        # ---- maker gives Y from freeze
        M = maker.acct
        Mav = M.avail
        Mfz = M.frz
        v = Mfz.get(yn)
        nv = zy - gy if v is None else v - gy
        if nv:
            Mfz[yn] = nv
        elif v is not None:
            del Mfz[yn]
        maker.freeze -= gy
        seq += 1
        if rows:
            tr = (qty, mid, mkt, price, None, None)
            o = Mav.get(yn)
            append(BalanceEvent((seq, t, mu, yn, "trade", -gy,
                                 nv if o is None else nv + o, None, tr)))
        # ---- maker receives X, then pays its fee in X (one store of the result)
        v = Mav.get(xn)
        nv = gx + zx if v is None else v + gx
        seq += 1
        if rows:
            o = Mfz.get(xn)
            append(BalanceEvent((seq, t, mu, xn, "trade", gx,
                                 nv if o is None else nv + o, None, tr)))
        if mf:
            nv = nv - mf
            seq += 1
            if rows:
                append(BalanceEvent((seq, t, mu, xn, "trade", -mf,
                                     nv if o is None else nv + o, None,
                                     (qty, mid, mkt, price, mrate, None))))
        if nv:
            Mav[xn] = nv
        elif v is not None:
            del Mav[xn]
        if mf:
            if fa:
                if F is None:
                    F = account(e, fa)
                d = F.avail
                v = d.get(xn)
                nv = mf + zx if v is None else v + mf
                if nv:
                    d[xn] = nv
                elif v is not None:
                    del d[xn]
                seq += 1
                if rows:
                    o = F.frz.get(xn)
                    append(BalanceEvent((seq, t, fa, xn, "fee", mf,
                                         nv if o is None else nv + o, None,
                                         (qty, mid, mkt, price, mrate, mu))))
        # ---- accumulators
        df += tf
        maker.deal_fee += mf
        left -= deal if mbuy else qty
        ds += qty
        dm += deal
        maker.left = mleft = mleft - qty
        maker.deal_stock += qty
        maker.deal_money += deal
        maker.mtime = t
        seq += 1
        if ev is not None:  # the snapshot of Order.snap, inline
            append(OrderEvent((seq, t, EV_UPDATE if mleft else EV_FINISH, (
                mid, maker.mname, maker.source, maker.type, maker.side, mu, maker.ctime, t,
                maker.price, maker.amount, maker.taker_fee, maker.maker_fee, mleft,
                maker.deal_stock, maker.deal_money, maker.deal_fee, maker.cid),
                sn, mn, not mleft)))
        if not mleft:
            if maker.cid is not None or maker.freeze:
                remove(e, m, maker, t)
                continue
            # _remove inlined for the common case: the maker is first at the best level
            orders = lvl.orders
            del orders[mid]
            if not orders:
                if ask_taker:
                    book = m.bids
                    book.popitem(-1)
                    m.best_bid = book.peekitem(-1)[1] if book else None
                else:
                    book = m.asks
                    book.popitem(0)
                    m.best_ask = book.peekitem(0)[1] if book else None
            if ask_taker:
                m.n_bids -= 1
            else:
                m.n_asks -= 1
            del m.orders[mid]
            u = users[mu]
            del u[mid]
            if not u:
                del users[mu]
    e.deal_seq = deal_id
    e.event_seq = seq
    return left, ds, dm, df, stopped


def fok_fillable(e, m, side, price, amount, uid, stp):
    need = amount
    for mk in iter_side(m.bids if side == ASK else m.asks, side == BID):
        p = mk.price
        if side == ASK:
            if p < price:
                return False
        elif p > price:
            return False
        if stp and mk.user == uid:
            if stp == STP_CANCEL_NEWEST:
                return False
            continue
        need -= mk.left
        if need <= 0:
            return True
    return False


def put_limit(e, p, t):
    n = len(p)
    if n != 8 and n != 9:
        raise ParamError("params", "expected 8 params (9 with options)")
    uid = p[0]
    if type(uid) is not int or uid < 0 or uid > U32:
        raise ParamError("user_id", "must be an integer 0..4294967295")
    m = p[1]
    m = e.markets.get(m) if type(m) is str else None
    if m is None:
        raise ParamError("market", "unknown market")
    if not m.listed:
        raise ParamError("market", "market not listed")
    side = p[2]
    if type(side) is not int or (side != ASK and side != BID):
        raise ParamError("side", "must be 1 or 2")
    v = p[3]
    r = m.amounts.get(v) if type(v) is str else None
    amount, amount_s, amount_f = r if r is not None else params.amount(m, v)
    v = p[4]
    r = m.prices.get(v) if type(v) is str else None
    price, price_s, price_f = r if r is not None else params.price(m, v)
    rates = m.rates
    v = p[5]
    r = rates.get(v) if type(v) is str else None
    taker_fee, tf_s, tf_f = r if r is not None else params.rate(m, v, "taker_fee_rate")
    v = p[6]
    r = rates.get(v) if type(v) is str else None
    maker_fee, mf_s, mf_f = r if r is not None else params.rate(m, v, "maker_fee_rate")
    source = p[7]
    if type(source) is not str or len(source) > 30 or not source.isascii():
        source = params.source(source)
    if n == 9:
        tif, post, stp, cid, norm = options(p[8], True)
        if cid is not None:
            check_cid(e, uid, cid, t, 14)
    else:
        tif = "GTC"
        post = False
        stp = STP_NONE
        cid = norm = None
    acct = e.accounts.get(uid)
    if side == ASK:
        have = acct.avail.get(m.stock) if acct is not None else None
        if have is None or have < amount:
            raise CmdError(10, "balance not enough")
    else:
        have = acct.avail.get(m.money) if acct is not None else None
        if have is None or have < amount * price:
            raise CmdError(10, "balance not enough")
    if amount < m.min_amount:
        raise CmdError(11, "amount too small")
    if side == ASK:
        best = m.best_bid
        crosses = best is not None and best.price >= price
    else:
        best = m.best_ask
        crosses = best is not None and best.price <= price
    if post and crosses:
        raise CmdError(12, "order would trade")
    if tif == "FOK" and not fok_fillable(e, m, side, price, amount, uid, stp):
        raise CmdError(13, "fill or kill not satisfied")

    # ---- all checks passed: mutate
    e.order_seq = oid = e.order_seq + 1
    ev = [] if e.emit_events else None
    if crosses:
        left, ds, dm, df, stopped = take(e, m, side, False, price, amount, taker_fee,
                                               oid, uid, acct, stp, t, ev)
    else:
        left = amount
        ds = dm = df = ZERO
        stopped = False
    mname = m.name
    seq = e.event_seq = e.event_seq + 1
    if not left or stopped or tif != "GTC":
        if ev is not None:
            ev.append(OrderEvent((
                seq, t, EV_FINISH, (oid, mname, source, LIMIT_ORDER, side, uid, t, t, price,
                                    amount, taker_fee, maker_fee, left, ds, dm, df, cid),
                m.stock, m.money, ds > 0)))
        if cid is not None:
            remember_cid(e, (uid, cid), oid, t)
    else:
        if ev is not None:
            ev.append(OrderEvent((
                seq, t, EV_PUT, (oid, mname, source, LIMIT_ORDER, side, uid, t, t, price,
                                 amount, taker_fee, maker_fee, left, ds, dm, df, cid),
                m.stock, m.money, False)))
        o = Order()
        o.id = oid
        o.type = LIMIT_ORDER
        o.side = side
        o.ctime = o.mtime = t
        o.user = uid
        o.mname = mname
        o.source = source
        o.price = price
        o.amount = amount
        o.taker_fee = taker_fee
        o.maker_fee = maker_fee
        o.left = left
        o.deal_stock = ds
        o.deal_money = dm
        o.deal_fee = df
        o.cid = cid
        o.acct = acct
        # ---- _insert inlined
        if side == ASK:
            o.freeze = f = left
            a = m.sa
            book = m.asks
            m.n_asks += 1
            lvl = book.get(price)
            if lvl is None:
                lvl = book[price] = Level(price)
                b = m.best_ask
                if b is None or price < b.price:
                    m.best_ask = lvl
        else:
            o.freeze = f = price * left
            a = m.ma
            book = m.bids
            m.n_bids += 1
            lvl = book.get(price)
            if lvl is None:
                lvl = book[price] = Level(price)
                b = m.best_bid
                if b is None or price > b.price:
                    m.best_bid = lvl
        lvl.orders[oid] = o
        lvl.total += left
        m.orders[oid] = o
        u = m.users.get(uid)
        if u is None:
            m.users[uid] = {oid: o}
        else:
            u[oid] = o
        if cid is not None:
            e.open_cids[(uid, cid)] = o
        move(acct.avail, acct.frz, a, f)  # freeze
    log = [uid, mname, side, amount_s, price_s, tf_s, mf_s, source]
    if norm is not None:
        log.append(norm)
    ct = t / 1e6
    res = {
        "id": oid, "market": mname, "source": source, "type": LIMIT_ORDER, "side": side,
        "user": uid, "ctime": ct, "mtime": ct, "price": price_f, "amount": amount_f,
        "taker_fee": tf_f, "maker_fee": mf_f,
        "left": amount_f if left is amount else fmt(left),
        "deal_stock": "0" if ds is ZERO else fmt(ds),
        "deal_money": "0" if dm is ZERO else fmt(dm),
        "deal_fee": "0" if df is ZERO else fmt(df),
    }
    if cid is not None:
        res["client_order_id"] = cid
    return res, ev, log


def put_market(e, p, t):
    n = len(p)
    if n != 6 and n != 7:
        raise ParamError("params", "expected 6 params (7 with options)")
    uid = uint(p[0], "user_id", U32)
    m = market(e, p[1], True)
    side = p[2]
    if type(side) is not int or (side != ASK and side != BID):
        raise ParamError("side", "must be 1 or 2")
    # C quirk: a market buy's amount (money) is truncated to stock_prec too
    amount, amount_s, amount_f = params.amount(m, p[3])
    taker_fee, tf_s, tf_f = params.rate(m, p[4], "taker_fee_rate")
    source = params.source(p[5])
    if n == 7:
        _, _, stp, cid, norm = options(p[6], False)
        if cid is not None:
            check_cid(e, uid, cid, t, 13)
    else:
        stp = STP_NONE
        cid = norm = None
    acct = e.accounts.get(uid)
    have = None
    if acct is not None:
        have = acct.avail.get(m.stock if side == ASK else m.money)
    if have is None or have < amount:
        raise CmdError(10, "balance not enough")
    if side == ASK:
        if m.best_bid is None:
            raise CmdError(12, "no enough trader")
        if amount < m.min_amount:
            raise CmdError(11, "amount too small")
    else:
        if m.best_ask is None:
            raise CmdError(12, "no enough trader")
        if amount < m.best_ask.price * m.min_amount:
            raise CmdError(11, "amount too small")

    e.order_seq = oid = e.order_seq + 1
    ev = [] if e.emit_events else None
    left, ds, dm, df, _ = take(e, m, side, side == BID, None, amount, taker_fee,
                                     oid, uid, acct, stp, t, ev)
    snap = (oid, m.name, source, MARKET_ORDER, side, uid, t, t, ZERO, amount, taker_fee,
            ZERO, left, ds, dm, df, cid)
    seq = e.event_seq = e.event_seq + 1
    if ev is not None:
        ev.append(OrderEvent((seq, t, EV_FINISH, snap, m.stock, m.money, True)))
    if cid is not None:
        remember_cid(e, (uid, cid), oid, t)
    log = [uid, m.name, side, amount_s, tf_s, source]
    if norm is not None:
        log.append(norm)
    return order_dict(snap), ev, log


def cancel(e, p, t):
    if len(p) != 3:
        raise ParamError("params", "expected 3 params")
    uid = uint(p[0], "user_id", U32)
    m = market(e, p[1])
    order_id = uint(p[2], "order_id", U64)
    o = m.orders.get(order_id)
    if o is None:
        raise CmdError(10, "order not found")
    if o.user != uid:
        raise CmdError(11, "user not match")
    snap = o.snap()
    seq = e.event_seq = e.event_seq + 1
    ev = [OrderEvent((seq, t, EV_FINISH, snap, m.stock, m.money, o.deal_stock > 0))
          ] if e.emit_events else None
    remove(e, m, o, t)
    return order_dict(snap), ev, [uid, m.name, order_id]


def cancel_all(e, p, t):
    n = len(p)
    if n != 2 and n != 3:
        raise ParamError("params", "expected 2 or 3 params")
    uid = uint(p[0], "user_id", U32)
    m = market(e, p[1])
    side = 0
    if n == 3:
        side = p[2]
        if type(side) is not int or side not in (0, ASK, BID):
            raise ParamError("side", "must be 0, 1 or 2")
    ids = []
    ev = [] if e.emit_events else None
    u = m.users.get(uid)
    if u:
        for o in list(u.values()):
            if side and o.side != side:
                continue
            seq = e.event_seq = e.event_seq + 1
            if ev is not None:
                ev.append(OrderEvent((seq, t, EV_FINISH, o.snap(), m.stock, m.money,
                                      o.deal_stock > 0)))
            remove(e, m, o, t)
            ids.append(o.id)
    log = [uid, m.name] if n == 2 else [uid, m.name, side]
    return {"count": len(ids), "orders": ids}, ev, log

