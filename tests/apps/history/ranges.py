"""Every integer range docs/api.md promises for the history reads, checked on the fixed
history of conftest.py — run on MySQL by the test suite and on SQLite (`make run`'s
database) in a subprocess (test_ranges.py)."""
from apps.history import selectors
from apps.history.rpc import HISTORY_METHODS
from apps.wire.errors import RpcError

U64 = 2**64 - 1
I63 = 2**63  # past SQLite's signed 64-bit INTEGER
BIG = (2**63 - 1, I63, U64)


def call(method, *params):
    return HISTORY_METHODS[method](list(params))


def code_1(method, *params) -> str:
    try:
        call(method, *params)
    except RpcError as exc:
        assert exc.code == 1, exc.as_error()
        return exc.data["param"]
    raise AssertionError(f"{method} {params} accepted")


def check_ranges() -> None:
    everything = call("balance.history", 1, "", "", 0, 0, 0, 101)["records"]
    assert len(everything) == 9
    for big in BIG:
        assert call("balance.history", 1, "", "", 0, 0, big, 101)["records"] == []
        assert call("order.finished", 1, "BTCUSDT", 0, 0, big, 101)["records"] == []
        assert call("order.deals", 5, big, 101)["records"] == []
        assert call("market.user_deals", 1, "BTCUSDT", big, 101)["records"] == []
        # times: a bound past every row
        assert call("balance.history", 1, "", "", big, 0, 0, 101)["records"] == []
        assert call("balance.history", 1, "", "", 0, big, 0, 101)["records"] == everything
        assert call("order.finished", 1, "BTCUSDT", big, 0, 0, 101)["records"] == []
        assert len(call("order.finished", 1, "BTCUSDT", 0, big, 0, 101)["records"]) == 4
        # ids: unknown ones find nothing; a cursor past every id keeps every row
        assert call("order.finished_detail", big) is None
        assert call("order.deals", big, 0, 101)["records"] == []
        page = call("balance.history", 1, "", "", 0, 0, 0, 101, big)
        assert page["records"] == everything and page["next_before_id"] is None
        assert len(call("order.finished", 1, "BTCUSDT", 0, 0, 0, 101, 0, big)["records"]) == 4
        assert len(call("order.deals", 5, 0, 101, big)["records"]) == 1
        assert len(call("market.user_deals", 1, "BTCUSDT", 0, 101, big)["records"]) == 5
        # the reads REST v1 uses with ids from paths and queries (up to 2^64-1)
        assert selectors.order_finished_get(order_id=big) is None
        assert selectors.order_deal_owner(order_id=big) is None
    assert call("balance.history", U32, "", "", 0, 0, 0, 101)["records"] == []
    # one past the documented ranges: code 1 naming the parameter
    assert code_1("balance.history", 1, "", "", 0, 0, U64 + 1, 101) == "offset"
    assert code_1("balance.history", 1, "", "", U64 + 1, 0, 0, 101) == "start_time"
    assert code_1("order.finished_detail", U64 + 1) == "order_id"
    assert code_1("balance.history", U32 + 1, "", "", 0, 0, 0, 101) == "user_id"
    assert code_1("order.deals", 5, 0, 101, U64 + 1) == "before_id"
    # REST v1's own limits (offset ≤ 10^9) on the deal list of every market
    assert selectors.user_deal_records(user_id=1, offset=10**9, limit=100) == []


U32 = 2**32 - 1
