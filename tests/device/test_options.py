"""Benchmark options: unknown keys, types, ranges, and the store's key."""

from __future__ import annotations

import pytest

from edgeloop.device.options import BenchmarkOptions
from edgeloop.errors import EdgeloopError


def test_unknown_keys_wrong_types_and_ranges_are_refused():
    with pytest.raises(EdgeloopError, match="unknown benchmark option 'run'; valid options: threads, delegate"):
        BenchmarkOptions.from_dict({"run": 5})
    for bad, message in (({"runs": "5"}, "must be an int"), ({"op_profiling": 1}, "must be a bool"),
                         ({"runs": 0}, "at least 1"), ({"runs": 10, "max_runs": 5}, "max_runs"),
                         ({"ci_target": 2}, "fraction"), ({"delegate": "tpu"}, "unknown delegate 'tpu'"),
                         ({"time_limit_s": 0}, "positive")):
        with pytest.raises(EdgeloopError, match=message):
            BenchmarkOptions.from_dict(bad)


def test_key_is_canonical_and_adaptivity_follows_max_runs():
    assert BenchmarkOptions(time_limit_s=30).key() == BenchmarkOptions.from_dict({"time_limit_s": 30.0}).key()
    assert BenchmarkOptions(threads=2).key() != BenchmarkOptions().key()
    assert not BenchmarkOptions(runs=10).adaptive and not BenchmarkOptions(runs=10, max_runs=10).adaptive
    assert BenchmarkOptions(runs=10, max_runs=11).adaptive
    assert BenchmarkOptions.from_dict(BenchmarkOptions(delegate="none").to_dict()) == BenchmarkOptions(delegate="none")


@pytest.mark.parametrize("bad, message", [
    ({"time_limit_s": float("nan")}, "finite"), ({"time_limit_s": float("inf")}, "finite"),
    ({"ci_target": float("nan")}, "finite"), ({"time_limit_s": 10**400}, "finite"),
    ({"seed": -1}, "seed must be 0 or more"), ({"threads": 10**9}, "at most 256"),
    ([1, 2], "must be a mapping"), ("abc", "must be a mapping"), ({1: 2}, "unknown benchmark option 1"),
])
def test_values_no_benchmark_can_use_are_refused(bad, message):
    with pytest.raises(EdgeloopError, match=message):
        BenchmarkOptions.from_dict(bad)
