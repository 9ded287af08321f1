from decimal import Decimal

from matcher.core import Engine

from .util import DAY_US, T0, bal, code, deposit, err, ok, seeded


def test_deposit_withdraw_and_query():
    e = seeded()
    out = ok(e, "balance.update", [1, "BTC", "deposit", 1, "1.2345", {"x": 1}])
    assert out.result == {"status": "success"}
    assert out.log == [1, "BTC", "deposit", 1, "1.23450000", {"x": 1}]
    assert out.oper_id == e.oper_seq
    (ev,) = out.events
    assert (ev.user_id, ev.asset, ev.business, ev.change, ev.balance) == (
        1, "BTC", "deposit", Decimal("1.2345"), Decimal("1.2345"))
    assert ev.detail == {"x": 1, "id": 1}
    assert ev.kafka_payload() == [T0 / 1e6, 1, "BTC", "deposit", "1.23450000"]
    out = ok(e, "balance.update", [1, "BTC", "withdraw", 1, "-0.2345", {"id": 7}])
    assert out.events[0].balance == Decimal(1)
    assert out.events[0].detail == {"id": 1}
    assert ok(e, "balance.query", [1]).result == {
        "BTC": {"available": "1", "freeze": "0"},
        "ETH": {"available": "0", "freeze": "0"},
        "USDT": {"available": "0", "freeze": "0"},
    }
    assert ok(e, "balance.query", [1, "USDT", "BTC"]).result == {
        "USDT": {"available": "0", "freeze": "0"}, "BTC": {"available": "1", "freeze": "0"}}


def test_change_truncated_to_prec_show_and_zero_change():
    e = seeded()
    ok(e, "asset.put", ["ETH", 20, 4])
    out = ok(e, "balance.update", [1, "ETH", "deposit", 1, "1.23456789", {}])
    assert out.log[4] == "1.2345"
    assert bal(e, 1, "ETH")[0] == Decimal("1.2345")
    out = ok(e, "balance.update", [1, "ETH", "deposit", 2, "0", {}])
    assert len(out.events) == 1 and out.events[0].change == 0
    out = ok(e, "balance.update", [1, "ETH", "deposit", 3, "-0.00001", {}])  # truncates to -0
    assert str(out.events[0].change) == "0.0000"


def test_withdraw_everything_deletes_entry():
    e = seeded()
    deposit(e, 1, "BTC", "2")
    ok(e, "balance.update", [1, "BTC", "withdraw", 5, "-2", {}])
    assert "BTC" not in e.accounts[1].avail
    assert ok(e, "asset.summary", ["BTC"]).result[0]["available_count"] == 0


def test_balance_not_enough_and_freeze_does_not_count():
    e = seeded()
    deposit(e, 1, "BTC", "1")
    assert err(e, "balance.update", [1, "BTC", "withdraw", 1, "-1.00000001", {}])[:2] == (
        11, "balance not enough")
    assert err(e, "balance.update", [2, "BTC", "withdraw", 1, "-1", {}])[0] == 11
    ok(e, "order.put_limit", [1, "BTCUSDT", 1, "0.6", "100", "0", "0", ""])
    assert err(e, "balance.update", [1, "BTC", "withdraw", 1, "-0.5", {}])[0] == 11
    # the failed key was not stored: the same id works once funds are there
    ok(e, "balance.update", [1, "BTC", "withdraw", 1, "-0.4", {}])


def test_repeat_update_and_key_fields():
    e = seeded()
    ok(e, "balance.update", [1, "BTC", "deposit", 1, "1", {}])
    assert err(e, "balance.update", [1, "BTC", "deposit", 1, "1", {}])[:2] == (10, "repeat update")
    # any other key part differs -> applied
    ok(e, "balance.update", [2, "BTC", "deposit", 1, "1", {}])
    ok(e, "balance.update", [1, "ETH", "deposit", 1, "1", {}])
    ok(e, "balance.update", [1, "BTC", "deposit2", 1, "1", {}])
    ok(e, "balance.update", [1, "BTC", "deposit", 2, "1", {}])
    # business compared on its first 32 bytes only
    b1 = "x" * 30
    ok(e, "balance.update", [1, "BTC", b1, 9, "1", {}])
    assert code(e, "balance.update", [1, "BTC", b1, 9, "2", {}]) == 10


def test_business_first_32_bytes():
    e = seeded()
    b1 = "é" * 16 + "a"  # 32 bytes of é, then "a"  (17 chars)
    b2 = "é" * 16 + "b"
    ok(e, "balance.update", [1, "BTC", b1, 1, "1", {}])
    assert code(e, "balance.update", [1, "BTC", b2, 1, "1", {}]) == 10


def test_repeat_expires_after_24h_of_command_time():
    e = seeded()
    ok(e, "balance.update", [1, "BTC", "deposit", 1, "1", {}], t=T0)
    assert code(e, "balance.update", [1, "BTC", "deposit", 1, "1", {}], t=T0 + DAY_US - 1) == 10
    ok(e, "balance.update", [1, "BTC", "deposit", 1, "1", {}], t=T0 + DAY_US)
    assert bal(e, 1, "BTC")[0] == 2
    # renewed key blocks again
    assert code(e, "balance.update", [1, "BTC", "deposit", 1, "1", {}], t=T0 + DAY_US + 5) == 10


def test_repeat_keys_survive_dump_load_and_expired_ones_are_purged():
    e = seeded()
    ok(e, "balance.update", [1, "BTC", "deposit", 1, "1", {}], t=T0)
    ok(e, "balance.update", [1, "BTC", "deposit", 2, "1", {}], t=T0 + 1000)
    e2 = Engine.load_state(e.dump_state())
    assert e2.state_hash() == e.state_hash()
    assert code(e2, "balance.update", [1, "BTC", "deposit", 1, "1", {}], t=T0 + 5) == 10
    # a successful update after 24h purges the expired key from the state
    ok(e2, "balance.update", [1, "BTC", "deposit", 3, "1", {}], t=T0 + DAY_US + 500)
    assert [k[3] for k in e2.update_keys] == [2, 3]
    ok(e2, "balance.update", [1, "BTC", "deposit", 1, "1", {}], t=T0 + DAY_US + 600)


def test_param_errors_come_before_repeat_and_balance():
    e = seeded()
    ok(e, "balance.update", [1, "BTC", "deposit", 1, "1", {}])
    assert code(e, "balance.update", [1, "BTC", "deposit", 1, "NaN", {}]) == 1
    assert code(e, "balance.update", [1, "BTC", "deposit", 1, "-5", None]) == 1
    bad = [
        [1, "BTC", "deposit", 1, "1"],                 # 5 params
        [1, "BTC", "deposit", 1, "1", {}, 1],          # 7 params
        [1, "XXX", "deposit", 1, "1", {}],             # unknown asset
        [1, "BTC", "deposit", "1", "1", {}],           # business_id string
        [1, "BTC", "deposit", 2**64, "1", {}],         # business_id > uint64
        [1, "BTC", "deposit", -1, "1", {}],
        [2**32, "BTC", "deposit", 1, "1", {}],         # user > uint32
        [True, "BTC", "deposit", 1, "1", {}],
        [1, "BTC", 5, 1, "1", {}],
        [1, "BTC", "a,b", 1, "1", {}],                 # comma in business
        [1, "BTC", "d" * 31, 1, "1", {}],
        [1, "BTC", "deposit", 1, 1, {}],               # change as number
        [1, "BTC", "deposit", 1, "1e15", {}],
        [1, "BTC", "deposit", 1, "-1e15", {}],
        [1, "BTC", "deposit", 1, "Infinity", {}],
        [1, "BTC", "deposit", 1, "1", []],
    ]
    for p in bad:
        assert code(e, "balance.update", p) == 1, p
    ok(e, "balance.update", [1, "BTC", "deposit", 2**64 - 1, "1", {}])
    ok(e, "balance.update", [2**32 - 1, "BTC", "deposit", 1, "1", {}])


def test_balance_query_params_and_prec_show():
    e = seeded()
    ok(e, "asset.put", ["BTC", 20, 3])
    e2 = seeded()
    deposit(e2, 1, "BTC", "1.23456789")
    ok(e2, "asset.put", ["BTC", 20, 3])
    assert ok(e2, "balance.query", [1, "BTC"]).result == {"BTC": {"available": "1.234", "freeze": "0"}}
    for p in [[], [0], [-1], [2**32], ["1"], [1, "XXX"], [1, 5]]:
        assert code(e2, "balance.query", p) == 1, p


def test_asset_list_and_summary():
    e = seeded()
    ok(e, "asset.put", ["ETH", 20, 6])
    assert ok(e, "asset.list", []).result == [
        {"name": "BTC", "prec": 8}, {"name": "ETH", "prec": 6}, {"name": "USDT", "prec": 8}]
    deposit(e, 1, "BTC", "3")
    deposit(e, 2, "BTC", "6")
    ok(e, "order.put_limit", [2, "BTCUSDT", 1, "1", "100", "0", "0", ""])
    assert ok(e, "asset.summary", ["BTC"]).result == [{
        "name": "BTC", "total_balance": "9", "available_count": 2, "available_balance": "8",
        "freeze_count": 1, "freeze_balance": "1"}]
    res = ok(e, "asset.summary", []).result
    assert [r["name"] for r in res] == ["BTC", "ETH", "USDT"]
    assert res[1] == {"name": "ETH", "total_balance": "0", "available_count": 0,
                      "available_balance": "0", "freeze_count": 0, "freeze_balance": "0"}
    assert code(e, "asset.summary", ["BTC", "NOPE"]) == 1
    assert code(e, "asset.summary", [1]) == 1
