"""The depth diff of websocket.md §5.1 (pure)."""
from apps.realtime.protocol import decimal_equal_member, depth_diff


def test_depth_diff_rules():
    old = {"asks": [["10", "1"], ["11", "2"], ["12", "3"]], "bids": [["9", "1"], ["8", "2"]]}
    # same price changed amount → new level; unchanged → omitted; vanished → "0"; new → included
    new = {"asks": [["10", "1"], ["11", "5"], ["11.5", "1"]], "bids": [["9", "1"], ["8", "2"]]}
    assert depth_diff(old, new, 3) == {"asks": [["11", "5"], ["11.5", "1"]]}  # L2 full: 12 fell off the window
    assert depth_diff(old, new, 5) == {"asks": [["11", "5"], ["11.5", "1"], ["12", "0"]]}
    # bids descending: a vanished best bid and a new lower one
    new = {"asks": old["asks"], "bids": [["8", "2"], ["7", "4"]]}
    assert depth_diff(old, new, 10) == {"bids": [["9", "0"], ["7", "4"]]}
    assert depth_diff(old, old, 10) == {}
    assert depth_diff({"asks": [], "bids": []}, old, 10) == old
    assert depth_diff(old, {"asks": [], "bids": []}, 10) == {
        "asks": [["10", "0"], ["11", "0"], ["12", "0"]], "bids": [["9", "0"], ["8", "0"]]}
    # amounts compared as numbers
    assert depth_diff({"asks": [["10", "1.0"]]}, {"asks": [["10", "1"]]}, 10) == {}


def test_merge_interval_is_compared_numerically():
    allowed = ["0", "0.00000001", "0.1"]
    assert decimal_equal_member("0.10", allowed) and decimal_equal_member("0e-8", allowed)
    assert not decimal_equal_member("0.5", allowed) and not decimal_equal_member("NaN", allowed)
    assert not decimal_equal_member("x", allowed)
