"""A small fixed history, inserted directly in the shape the matcher's history writer uses
(docs/matcher-core.md: BalanceHistory id = event seq, detail JSON with sorted keys,
DealHistory id = deal_id*2 (ask row) / deal_id*2+1 (bid row), OrderHistory id = order id)."""
import copy
from decimal import Decimal

import pytest

from apps.history.models import BalanceHistory, DealHistory, OrderHistory
from apps.markets.services import demo_config_seed

D = Decimal


def bh(id, time, user_id, asset, business, change, balance, detail):
    return BalanceHistory(
        id=id, time=time, user_id=user_id, asset=asset, business=business,
        change=D(change), balance=D(balance), detail=detail,
    )


def trade_detail(amount, order_id, market, price, fee=None):
    fee_part = f'"f": "{fee}", ' if fee else ""
    return f'{{"a": "{amount}", {fee_part}"i": {order_id}, "m": "{market}", "p": "{price}"}}'


# Times: whole seconds and µs fractions around 1000..1010 so that the bounds are easy.
BALANCE_ROWS = [
    bh(1, 1000.0, 1, "BTC", "deposit", "10", "10", '{"id": 1}'),
    bh(2, 1000.5, 1, "USDT", "deposit", "50000", "50000", '{"id": 2}'),
    bh(3, 1000.5, 2, "BTC", "deposit", "3", "3", '{"id": 3}'),
    bh(4, 1002.0, 1, "BTC", "trade", "-0.5", "9.5", trade_detail("0.5", 7, "BTCUSDT", "8000")),
    bh(5, 1002.0, 1, "USDT", "trade", "4000", "54000", trade_detail("0.5", 7, "BTCUSDT", "8000")),
    bh(6, 1002.0, 1, "USDT", "trade", "-8", "53992", trade_detail("0.5", 7, "BTCUSDT", "8000", "0.002")),
    bh(7, 1003.0, 1, "BTC", "withdraw", "-1", "8.5", "not json"),
    bh(8, 1004.000001, 1, "ETH", "deposit", "0.00000001", "0.00000001", "[1, 2]"),
    bh(9, 1005.0, 1, "BTC", "deposit", "0.1", "8.6", '{"id": 9}'),
    bh(10, 1006.0, 2, "BTC", "withdraw", "-3", "0", '{"id": 10}'),
    bh(11, 1007.0, 1, "BTC", "bonus", "1.25", "9.85", "{}"),
]


def oh(id, ctime, ftime, user_id, market, side, price, amount, deal_stock, deal_money, deal_fee,
       t=1, source="web", taker_fee="0.002", maker_fee="0.001"):
    return OrderHistory(
        id=id, create_time=ctime, finish_time=ftime, user_id=user_id, market=market, source=source,
        t=t, side=side, price=D(price), amount=D(amount), taker_fee=D(taker_fee), maker_fee=D(maker_fee),
        deal_stock=D(deal_stock), deal_money=D(deal_money), deal_fee=D(deal_fee),
    )


ORDER_ROWS = [
    oh(5, 1000.0, 1001.0, 1, "BTCUSDT", 2, "8000", "1", "1", "8000", "0.002"),
    oh(6, 1000.5, 1001.0, 2, "BTCUSDT", 1, "8000", "1", "1", "8000", "8"),
    oh(7, 1001.0, 1002.5, 1, "BTCUSDT", 1, "8000", "0.5", "0.5", "4000", "8"),
    oh(8, 1002.0, 1002.0, 1, "BTCUSDT", 2, "0", "100", "0.0125", "100", "0.000025", t=2, source="api", maker_fee="0"),
    oh(9, 1003.0, 1004.0, 1, "ETHBTC", 1, "0.05", "2", "2", "0.1", "0.0002"),
    oh(10, 1004.0, 1005.0, 1, "BTCUSDT", 1, "8100", "0.3", "0.1", "810", "1.62", source=""),
]


def dh(deal_id, bid, time, user_id, market, order_id, deal_order_id, role, price, amount, deal, fee, deal_fee):
    return DealHistory(
        id=deal_id * 2 + (1 if bid else 0), time=time, user_id=user_id, market=market, deal_id=deal_id,
        order_id=order_id, deal_order_id=deal_order_id, side=2 if bid else 1, role=role, price=D(price),
        amount=D(amount), deal=D(deal), fee=D(fee), deal_fee=D(deal_fee),
    )


def deal_pair(deal_id, time, market, ask, bid, taker_side, price, amount, deal, ask_fee, bid_fee):
    """ask/bid = (user_id, order_id); the taker is the side given."""
    ask_role, bid_role = (2, 1) if taker_side == 1 else (1, 2)
    return [
        dh(deal_id, False, time, ask[0], market, ask[1], bid[1], ask_role, price, amount, deal, ask_fee, bid_fee),
        dh(deal_id, True, time, bid[0], market, bid[1], ask[1], bid_role, price, amount, deal, bid_fee, ask_fee),
    ]


DEAL_ROWS = [
    *deal_pair(1, 1001.0, "BTCUSDT", (2, 6), (1, 5), 1, "8000", "1", "8000", "8", "0.002"),
    *deal_pair(2, 1002.0, "BTCUSDT", (1, 7), (3, 4), 2, "8000", "0.5", "4000", "8", "0.001"),
    *deal_pair(3, 1002.0, "BTCUSDT", (3, 3), (1, 8), 2, "8000", "0.0125", "100", "0.2", "0.000025"),
    *deal_pair(4, 1004.0, "ETHBTC", (1, 9), (2, 11), 1, "0.05", "2", "0.1", "0.0002", "0.002"),
    # a self-trade: user 1 is both sides of deal 5
    *deal_pair(5, 1005.0, "BTCUSDT", (1, 10), (1, 12), 2, "8100", "0.1", "810", "1.62", "0.0002"),
]


@pytest.fixture
def markets(db):
    demo_config_seed()


@pytest.fixture
def history(markets):
    BalanceHistory.objects.bulk_create([copy.copy(r) for r in BALANCE_ROWS])
    OrderHistory.objects.bulk_create([copy.copy(r) for r in ORDER_ROWS])
    DealHistory.objects.bulk_create([copy.copy(r) for r in DEAL_ROWS])
