"""The latency predictor: an exact fit on exact data, non-negative costs, a clear refusal."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.errors import EdgeloopError
from edgeloop.search.predictor import FEATURES, LatencyPredictor


def rows(n, seed=0):
    rng = np.random.default_rng(seed)
    return [{"conv_macs": rng.uniform(1e5, 5e7), "depthwise_macs": rng.uniform(0, 5e6), "dense_macs": rng.uniform(0, 1e6),
             "activations": rng.uniform(1e3, 1e5), "layers": float(rng.integers(3, 60))} for _ in range(n)]


def truth(r):  # 7 us fixed + 0.4 ms per million conv MACs + 2 ms per million depthwise MACs + 0.1 us per activation
    return 0.007 + 4e-7 * r["conv_macs"] + 2e-6 * r["depthwise_macs"] + 1e-7 * r["activations"]


def test_recovers_a_linear_cost_model_exactly():
    train = rows(20)
    predictor = LatencyPredictor.fit(train, [truth(r) for r in train])
    assert predictor.fit_error < 1e-6
    for r in rows(5, seed=1):
        assert predictor.predict(r) == pytest.approx(truth(r), rel=1e-6)
    assert all(c >= 0 for c in predictor.coefficients.values())
    assert predictor.coefficients["dense_macs"] == pytest.approx(0.0, abs=1e-9)


def test_too_few_measurements_is_an_error_that_says_how_many():
    with pytest.raises(EdgeloopError, match=f"at least {len(FEATURES) + 1} measurements"):
        LatencyPredictor.fit(rows(3), [1.0, 2.0, 3.0])
