"""Latency statistics against values worked out by hand."""

import pytest

from edgeloop.device.stats import summarize


def test_summary_of_one_to_ten():
    s = summarize([float(v) for v in range(10, 0, -1)])  # order must not matter
    assert (s.count, s.min_ms, s.median_ms, s.mean_ms) == (10, 1.0, 5.5, 5.5)
    # rank = p/100 * (n-1): p90 -> 8.1 -> 9 + 0.1*(10-9); p99 -> 8.91 -> 9.91
    assert s.p90_ms == pytest.approx(9.1) and s.p99_ms == pytest.approx(9.91)
    assert s.std_ms == pytest.approx((sum((v - 5.5) ** 2 for v in range(1, 11)) / 10) ** 0.5)


def test_single_run_and_no_run():
    s = summarize([2.5])
    assert s.min_ms == s.median_ms == s.p99_ms == 2.5 and s.std_ms == 0.0
    with pytest.raises(ValueError):
        summarize([])


def test_tail_ratio_and_round_trip():
    s = summarize([float(v) for v in range(1, 11)])
    assert s.max_ms == 10.0 and s.tail_ratio == pytest.approx(9.91 / 5.5)
    d = s.to_dict()
    assert d["p99_over_p50"] == pytest.approx(9.91 / 5.5)
    assert type(s).from_dict(d) == s
