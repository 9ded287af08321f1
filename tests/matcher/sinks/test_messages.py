"""Which engine events become Kafka messages, on which topic, with which key."""
import orjson

from matcher.sinks.kafka import message_of
from tests.matcher.core.util import ok, seeded


def _messages(events):
    return [m for m in map(message_of, events) if m is not None]


def test_every_balance_update_is_published_whatever_its_business():
    e = seeded()
    for i, business in enumerate(["deposit", "trade", "fee", "withdraw"], 1):
        change = "-1" if business == "withdraw" else "2"
        out = ok(e, "balance.update", [7, "USDT", business, i, change, {}])
        ((topic, key, value),) = _messages(out.events)
        assert (topic, key) == ("balances", "7")
        assert orjson.loads(value)[1:] == [7, "USDT", business, out.log[4]]


def test_fills_and_fee_credits_are_not_balance_messages():
    e = seeded(fee_account=99)
    ok(e, "balance.update", [1, "BTC", "deposit", 1, "10", {}])
    ok(e, "balance.update", [2, "USDT", "deposit", 1, "100000", {}])
    ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1", "100", "0.001", "0.002", ""])
    out = ok(e, "order.put_limit", [2, "BTCUSDT", 2, "1", "100", "0.001", "0.002", ""])
    assert {ev.business for ev in out.events if getattr(ev, "from_trade", False)} == {"trade", "fee"}
    topics = [t for t, _, _ in _messages(out.events)]
    assert "balances" not in topics
    assert topics.count("deals") == 1 and "orders" in topics
    assert all(key == "BTCUSDT" for t, key, _ in _messages(out.events) if t != "balances")


def test_message_values_are_the_events_kafka_payloads():
    """message_of builds the `orders` payload itself (no dict cached on the event): the
    same bytes as ``kafka_payload`` (spec matching.md §7), key = market / user id."""
    e = seeded(fee_account=99)
    events = []
    events += ok(e, "balance.update", [1, "BTC", "deposit", 1, "10", {}]).events
    events += ok(e, "balance.update", [2, "USDT", "deposit", 1, "100000", {}]).events
    events += ok(e, "order.put_limit", [1, "BTCUSDT", 1, "1.5", "100", "0.001", "0.002", ""]).events
    events += ok(e, "order.put_limit", [2, "BTCUSDT", 2, "1", "100.5", "0.001", "0.002", "c-1"]).events
    events += ok(e, "order.cancel", [1, "BTCUSDT", 1]).events
    published = [(ev, message_of(ev)) for ev in events]
    published = [(ev, m) for ev, m in published if m is not None]
    assert {m[0] for _, m in published} == {"deals", "orders", "balances"}
    for ev, (topic, key, value) in published:
        assert value == orjson.dumps(ev.kafka_payload())
        assert key == (str(ev.user_id) if topic == "balances" else ev.market)
