"""Bootstrap intervals and the stopping rule, on samples whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.device.sampling import StoppingRule, median_ci, noise_warnings, ratio_ci


def _skewed(n: int, seed: int, scale: float = 1.0) -> np.ndarray:
    """Device-like latencies: a floor of 1.0 plus a gamma-distributed tail."""
    return scale * (1.0 + np.random.default_rng(seed).gamma(2.0, 0.05, size=n))


def test_interval_holds_the_median_and_shrinks_like_one_over_root_n():
    small, large = _skewed(100, 1), _skewed(10_000, 1)
    lo, hi = median_ci(small)
    assert lo <= np.median(small) <= hi
    lo_l, hi_l = median_ci(large)
    assert 5 < (hi - lo) / (hi_l - lo_l) < 20  # sqrt(100) = 10 in theory
    assert median_ci(small, seed=3) == median_ci(small, seed=3)  # seeded


def test_interval_covers_the_true_median_about_95_percent_of_the_time():
    true_median = np.median(_skewed(2_000_000, 99))
    hits = sum(lo <= true_median <= hi for lo, hi in (median_ci(_skewed(200, seed)) for seed in range(200)))
    assert 0.88 <= hits / 200 <= 0.99


def test_ratio_interval_of_a_known_speed_up():
    old, new = _skewed(400, 1), _skewed(400, 2, scale=0.8)
    ratio, lo, hi = ratio_ci(new, old)
    assert lo < 0.8 * 1.02 and hi > 0.8 * 0.98 and hi < 1.0
    ratio, lo, hi = ratio_ci(_skewed(400, 3), _skewed(400, 4))
    assert lo < 1.0 < hi  # same distribution: no difference beyond the noise


def test_stopping_rule_stops_early_on_quiet_timings_and_runs_on_when_noisy():
    quiet, noisy = _skewed(5000, 5), np.random.default_rng(6).lognormal(0, 1.5, size=5000)
    rule = StoppingRule(min_runs=20, max_runs=5000, ci_target=0.01)
    stop_quiet = next(n for n in range(1, 5001) if rule.done(quiet[:n]))
    assert 20 <= stop_quiet < 1000 and rule.done(quiet[:stop_quiet + 1]) == "ci"
    rule = StoppingRule(min_runs=20, max_runs=300, ci_target=0.01)
    assert next(n for n in range(1, 301) if rule.done(noisy[:n])) == 300 and rule.done(noisy[:300]) == "max_runs"


def test_noise_warnings():
    noisy = list(np.random.default_rng(6).lognormal(0, 1.5, size=50))
    warnings = noise_warnings(noisy, median_ci(noisy), 0.01, tail_ratio=8.0)
    assert any(w.startswith("noisy:") for w in warnings) and any(w.startswith("long tail:") for w in warnings)
    quiet = list(_skewed(5000, 5))
    assert noise_warnings(quiet, median_ci(quiet), 0.01, tail_ratio=1.3) == []
    with pytest.raises(ValueError):
        median_ci([])


def test_ratio_of_samples_of_different_sizes():
    ratio, lo, hi = ratio_ci(_skewed(30_000, 7, scale=2.0), _skewed(50, 8))
    assert lo < 2.0 * 1.02 and hi > 2.0 * 0.98
