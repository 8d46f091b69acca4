"""The look-up table and the predictor against latency measured on this machine.

Stated tolerance, for the tiny search CNN (latencies of 10-40 µs, where XNNPACK's channel
tiling makes latency a staircase in the channel count): over six narrowed copies not used to
build them, the median relative error is at most 20 % and no single one is off by more than 40 %.
"""

from __future__ import annotations

import numpy as np
import pytest

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


def _errors(source, meter, model, data, seed):
    from edgeloop.search.latency import timing_blob
    from edgeloop.search.proposals import narrowed

    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(6):
        variant = narrowed(model, list(rng.uniform(0.25, 1.0, 3)))
        measured = meter.median_ms(timing_blob(variant, data))
        errors.append(abs(source.estimate(variant) / measured - 1))
    return np.array(errors)


@pytest.fixture(scope="module")
def meter(tmp_path_factory):
    from edgeloop.search.latency import Meter

    return Meter("local", runs=300, store=str(tmp_path_factory.mktemp("store") / "latency.sqlite"))


def test_lookup_table_sums_within_tolerance_of_measured_latency(search_model, digits, meter):
    from edgeloop.models import load_model
    from edgeloop.search.latency import LookupLatency

    model = load_model(search_model)
    lut = LookupLatency(meter, digits)
    lut.prepare(model)
    assert lut.table.profiled_models == 16 and {"conv2", "conv3", "logits"} <= set(lut.table.entries)
    errors = _errors(lut, meter, model, digits, seed=1)
    assert np.median(errors) <= 0.20 and errors.max() <= 0.40, errors


def test_predictor_is_fitted_on_the_stores_measurements(search_model, digits, meter):
    from edgeloop.models import load_model
    from edgeloop.search.latency import Meter, PredictedLatency

    model = load_model(search_model)
    predicted = PredictedLatency(meter, digits, seed_models=12)
    predicted.prepare(model)
    assert predicted.predictor.samples >= 12
    # A second search on the same store and device finds those measurements and fits without measuring.
    again = PredictedLatency(Meter("local", runs=300, store=str(meter.store.path)), digits, seed_models=12)
    again.refit()
    assert again.predictor.samples == predicted.predictor.samples
    errors = _errors(predicted, meter, model, digits, seed=2)
    assert np.median(errors) <= 0.20 and errors.max() <= 0.40, errors
