"""The look-up table and the predictor as mechanics, timed by the deterministic clock.

The clock (tests/clock.py, a test double for the device's timer) costs every op of a
converted model by its MACs and the bytes it writes; a table that files each op under the
right layer, interpolates between the widths it sampled and anchors on the per-invoke cost
reproduces it, and a predictor fitted on the store's measurements of it fits it. How close
both come to this machine's real latencies is measured by ``scripts/bench`` (section
``latency_prediction``), never asserted here.
"""

from __future__ import annotations

import numpy as np
import pytest

from clock import ClockMeter, model_ms
from edgeloop.search.lut import LookupTable, design

pytestmark = pytest.mark.slow


def test_design_gives_every_neighbour_pair_every_pair_of_fractions():
    rows = design(3, (1.0, 0.5))
    assert len(rows) == 4
    assert {(r[0], r[1]) for r in rows} == {(1.0, 1.0), (1.0, 0.5), (0.5, 1.0), (0.5, 0.5)}
    assert {(r[1], r[2]) for r in rows} == {(1.0, 1.0), (1.0, 0.5), (0.5, 1.0), (0.5, 0.5)}


def test_table_is_exact_at_sampled_points_and_bilinear_between():
    # A convolution's cost, linear in input x output channels: bilinear interpolation is exact.
    cost = {(i, o): 0.001 + 2e-6 * i * o for i in (16, 32) for o in (48, 96)}
    table = LookupTable({"conv": cost})
    assert table.layer_ms("conv", 32, 96) == pytest.approx(cost[(32, 96)])
    assert table.layer_ms("conv", 24, 72) == pytest.approx(0.001 + 2e-6 * 24 * 72)
    assert table.layer_ms("conv", 8, 96) == pytest.approx(cost[(16, 96)])  # clamped outside the samples
    assert table.layer_ms("unknown", 1, 1) == 0.0


def _errors(source, model, data, seed):
    from edgeloop.search.latency import timing_blob
    from edgeloop.search.proposals import narrowed

    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(6):
        variant = narrowed(model, list(rng.uniform(0.25, 1.0, 3)))
        errors.append(abs(source.estimate(variant) / model_ms(timing_blob(variant, data)) - 1))
    return np.array(errors)


@pytest.fixture(scope="module")
def meter(tmp_path_factory):
    return ClockMeter(runs=20, store=str(tmp_path_factory.mktemp("store") / "latency.sqlite"))


def test_lookup_table_sums_the_profiled_layers_of_narrowed_models(search_model, digits, meter):
    from edgeloop.models import load_model
    from edgeloop.search.latency import LookupLatency

    model = load_model(search_model)
    lut = LookupLatency(meter, digits)
    lut.prepare(model)
    assert lut.table.profiled_models == 16 and {"conv1", "conv2", "conv3", "logits"} <= set(lut.table.entries)
    # conv2 was profiled at every pair of conv1's and its own widths (4 x 4), not on the diagonal only.
    assert len(lut.table.entries["conv2"]) == 16
    errors = _errors(lut, model, digits, seed=1)
    # Costs linear in input x output channels are interpolated exactly; only the reshape before
    # the logits (its own width, on the diagonal) is interpolated in the product of its channels.
    assert errors.max() <= 0.01, errors


def test_predictor_is_fitted_on_the_stores_measurements(search_model, digits, meter):
    from edgeloop.models import load_model
    from edgeloop.search.latency import PredictedLatency

    model = load_model(search_model)
    predicted = PredictedLatency(meter, digits, seed_models=8)
    predicted.prepare(model)
    p = predicted.predictor
    # Three copies op-profiled (a few kernels each), then whole copies measured farthest-first until
    # the calibration held on each one left out: at least three, at most the eight allowed.
    assert p.kernel_samples >= 3 * 4 and {"conv", "fc"} <= set(p.kinds) and 3 <= p.model_samples <= 8
    # A second search on the same store and device finds those measurements, with their kernels.
    again = PredictedLatency(ClockMeter(runs=20, store=str(meter.store.path)), digits)
    assert len(again.stored()) == len(predicted.stored()) >= p.model_samples
    errors = _errors(predicted, model, digits, seed=2)
    # Every kernel's cost on the clock is linear in its MACs and bytes: the regressors fit it almost exactly.
    assert np.median(errors) <= 0.02 and errors.max() <= 0.05, errors
