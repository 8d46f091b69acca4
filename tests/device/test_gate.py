"""The regression gate: its rule on known samples, and interleaved timing of real models."""

from __future__ import annotations

import numpy as np

from edgeloop.device.gate import decide, run_interleaved
from edgeloop.device.options import BenchmarkOptions


def _times(n: int, seed: int, scale: float) -> list[float]:
    return list(scale * (1.0 + np.random.default_rng(seed).gamma(2.0, 0.05, size=n)))


def test_default_rule_needs_a_speed_up_beyond_the_noise():
    old = _times(300, 1, 1.0)
    faster = decide(old, _times(300, 2, 0.9))
    assert faster.passed and faster.ci95[1] < 1.0 and 0.85 < faster.ratio < 0.95
    same = decide(old, _times(300, 3, 1.0))
    assert not same.passed and same.ci95[0] < 1.0 < same.ci95[1]
    assert not decide(old, _times(300, 4, 1.2)).passed


def test_margin_rule_fails_only_on_a_slow_down_beyond_margin_and_noise():
    old = _times(300, 1, 1.0)
    assert decide(old, _times(300, 3, 1.0), margin=0.05).passed
    assert decide(old, _times(300, 5, 1.03), margin=0.05).passed
    slower = decide(old, _times(300, 6, 1.2), margin=0.05)
    assert not slower.passed and slower.ci95[0] > 1.05 and "more than 5.0%" in slower.rule


def test_interleaved_timing_of_two_real_models(trained_model_and_files):
    _, files = trained_model_and_files
    measured = run_interleaved(files["int8"], files["float32"], BenchmarkOptions(warmup=2, runs=40))
    assert measured["rounds"] == 40 and measured["stop_reason"] == "runs"
    assert len(measured["old"]["times_ms"]) == len(measured["new"]["times_ms"]) == 40
    assert measured["old"]["stats"]["median_ms"] > 0 and measured["new"]["stats"]["median_ms"] > 0
    adaptive = run_interleaved(files["int8"], files["int8"], BenchmarkOptions(warmup=2, runs=20, max_runs=400, ci_target=0.2))
    assert adaptive["stop_reason"] == "ci" and 20 <= adaptive["rounds"] < 400
