"""The kernel predictor and adaptive sampling on kernels with known costs (no timing: the
"measurements" are a cost function of the kernels, so the figures asserted are exact)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.errors import EdgeloopError
from edgeloop.latency.kernels import CONV, DEPTHWISE, ELEMENTWISE, Kernel
from edgeloop.latency.predictor import BUILTIN, KernelPredictor
from edgeloop.latency.sampling import adapt, farthest_first

INVOKE = 0.002
COST = {CONV: (0.003, 2e-5), DEPTHWISE: (0.002, 8e-5), ELEMENTWISE: (0.001, 0.0)}  # ms fixed, ms per kMAC
BYTE = 5e-7  # ms per byte written


def _kernel(kind: str, rng) -> Kernel:
    c_in, c_out, hw = (int(v) for v in rng.integers([4, 4, 2], [128, 128, 32]))
    k = 9.0 if kind != ELEMENTWISE else 1.0
    macs = {CONV: hw * hw * c_in * c_out * k, DEPTHWISE: hw * hw * c_out * k, ELEMENTWISE: 0.0}[kind]
    features = {"macs": macs, "h_in": hw, "w_in": hw, "c_in": c_in, "h_out": hw, "w_out": hw, "c_out": c_out,
                "kernel": k, "stride": 1.0, "bytes_in": hw * hw * c_in, "bytes_out": hw * hw * c_out,
                "bytes_weights": c_in * c_out * k if kind == CONV else c_out * k, "elements_out": hw * hw * c_out,
                "cache_fit": -10.0, "int8": 1.0, "inputs": 1.0, "broadcast": 0.0, "fused_ops": 0.0}
    return Kernel(kind, [0], kind.upper(), {n: float(v) for n, v in features.items()})


def _cost(k: Kernel, scale: float = 1.0) -> float:
    fixed, per_kmac = COST[k.kind]
    return scale * (fixed + per_kmac * k.features["macs"] / 1e3 + BYTE * k.features["bytes_out"])


def _model(rng, n: int = 8) -> list[Kernel]:
    kernels = [_kernel(kind, rng) for kind in rng.choice([CONV, DEPTHWISE, ELEMENTWISE], size=n)]
    for i, k in enumerate(kernels):
        k.ops = [i]
    return kernels


def _profile(kernels: list[Kernel], scale: float = 1.0) -> list[dict]:
    """Op profiling as the device reports it: each op alone, paying the per-invoke cost once."""
    return [{"index": k.ops[0], "median_ms": INVOKE + _cost(k, scale)} for k in kernels]


def _whole(kernels: list[Kernel], scale: float = 1.0) -> float:
    return INVOKE + sum(_cost(k, scale) for k in kernels)


def test_kernels_profiled_alone_predict_whole_models_of_other_shapes():
    rng = np.random.default_rng(0)
    profiled = [_model(rng) for _ in range(6)]
    predictor = KernelPredictor.fit([(m, _profile(m)) for m in profiled], INVOKE)
    assert predictor.kernel_samples == 48 and set(predictor.describe()["kinds"]) == {CONV, DEPTHWISE, ELEMENTWISE}
    for m in (_model(rng, 20) for _ in range(10)):  # deeper models than any profiled
        assert predictor.predict(m) == pytest.approx(_whole(m), rel=0.02)


def test_an_op_profiled_often_enough_gets_regressors_of_its_own():
    """A max pool and an average pool share a kind, not a cost: with enough of each profiled,
    each is predicted by its own regressors; an op seen too rarely falls back to its kind's."""
    rng = np.random.default_rng(3)

    def pool(op: str) -> Kernel:
        k = _kernel(ELEMENTWISE, rng)
        return Kernel("pool", [0], op, k.features)

    per_byte = {"MAX_POOL_2D": 4e-6, "AVERAGE_POOL_2D": 5e-7, "L2_POOL_2D": 2e-6}

    def cost(k: Kernel) -> float:
        return 0.001 + per_byte[k.op] * k.features["bytes_out"]

    kernels = [pool(op) for op in ["MAX_POOL_2D", "AVERAGE_POOL_2D"] * 20 + ["L2_POOL_2D"] * 3]
    for i, k in enumerate(kernels):
        k.ops = [i]
    predictor = KernelPredictor.fit([(kernels, [{"index": i, "median_ms": INVOKE + cost(k)} for i, k in enumerate(kernels)])],
                                    INVOKE)
    assert set(predictor.describe()["ops"]) == {"MAX_POOL_2D", "AVERAGE_POOL_2D"}  # L2: 3 samples, too few
    for op in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        fresh = [pool(op) for _ in range(10)]
        assert all(predictor.predict([k]) == pytest.approx(INVOKE + cost(k), rel=0.05) for k in fresh)
    # One regressor for the whole kind would be off by about 2x on both.
    kind_only = predictor.kinds["pool"]
    fresh = pool("AVERAGE_POOL_2D")
    assert kind_only.predict([fresh.features])[0] > 1.5 * cost(fresh)


def test_a_new_device_is_learnt_from_a_few_whole_models_chosen_farthest_first():
    rng = np.random.default_rng(1)
    profiled = [_model(rng) for _ in range(6)]
    first = KernelPredictor.fit([(m, _profile(m)) for m in profiled], INVOKE)
    candidates = [_model(rng, int(n)) for n in rng.integers(3, 20, size=30)]
    asked = []

    def measure(i):  # the second device runs compute kernels 1.8x slower
        asked.append(i)
        return _whole(candidates[i], scale=1.8)

    second, measured = adapt(first, candidates, measure, tolerance=0.02, least=3, most=12)
    assert 3 <= len(measured) < 12 and [i for i, _ in measured] == asked and len(set(asked)) == len(asked)
    held_out = [_model(rng, 12) for _ in range(10)]
    assert all(second.predict(m) == pytest.approx(_whole(m, 1.8), rel=0.03) for m in held_out)
    assert all(abs(first.predict(m) / _whole(m, 1.8) - 1) > 0.2 for m in held_out)  # unadapted, it was far off


def test_farthest_first_starts_at_the_odd_one_out_and_never_repeats():
    rng = np.random.default_rng(2)
    candidates = [_model(rng, 8) for _ in range(9)] + [[_kernel(ELEMENTWISE, rng) for _ in range(40)]]
    order = farthest_first(candidates, 10)
    assert order[0] == 9 and sorted(order) == list(range(10))


def test_no_profile_is_an_error():
    with pytest.raises(EdgeloopError, match="at least one op-profiled model"):
        KernelPredictor.fit([], INVOKE)


def test_a_kind_that_costs_less_inside_a_model_than_alone_gets_its_scale():
    """Element-wise kernels cost 0.6 inside a model what they cost alone: with enough whole
    models the predictor learns that scale per kind; a kernel's fused op (timed alone, free in
    the model) is not counted."""
    rng = np.random.default_rng(4)

    def inside(kernels):  # what the whole model costs
        return INVOKE + sum(_cost(k) * (0.6 if k.kind == ELEMENTWISE else 1.0) for k in kernels)

    def profile(kernels):  # each kernel alone, plus a fused clamp op timed alone at a cost of its own
        rows = _profile(kernels)
        for k in kernels:
            k.ops = [k.ops[0], 1000 + k.ops[0]]
            rows.append({"index": 1000 + k.ops[0], "median_ms": INVOKE + 0.004})
        return rows

    profiled = [_model(rng) for _ in range(6)]
    rows = [profile(m) for m in profiled]
    whole = [_model(rng, int(n)) for n in rng.integers(4, 16, size=48)]
    predictor = KernelPredictor.fit(list(zip(profiled, rows)), INVOKE, [(m, inside(m)) for m in whole])
    assert predictor.kind_scales[ELEMENTWISE] == pytest.approx(0.6, abs=0.05)
    assert predictor.kind_scales[CONV] == pytest.approx(1.0, abs=0.05)
    held_out = [_model(rng, 12) for _ in range(10)]
    assert all(predictor.predict(m) == pytest.approx(inside(m), rel=0.03) for m in held_out)
    # Too few whole models for a scale per kind: one calibration for all, elementwise off.
    few = KernelPredictor.fit(list(zip(profiled, rows)), INVOKE, [(m, inside(m)) for m in whole[:10]])
    assert few.kind_scales == {}


def test_ops_xnnpack_declines_get_a_scale_of_their_own_inside_a_model():
    """Element-wise kernels LiteRT's builtin kernels run (XNNPACK declined them) cost 1.5 times
    inside a model what they cost alone; those XNNPACK runs cost the same: the builtin ones share
    a scale apart from their kind's."""
    rng = np.random.default_rng(5)

    def declined(kernels):  # every other element-wise kernel is the builtin kernel's
        for i, k in enumerate(kernels):
            if k.kind == ELEMENTWISE and i % 2:
                k.features["delegated"] = 0.0
        return kernels

    def inside(kernels):
        return INVOKE + sum(_cost(k) * (1.5 if k.features.get("delegated", 1.0) == 0.0 else 1.0) for k in kernels)

    profiled = [declined(_model(rng)) for _ in range(6)]
    whole = [declined(_model(rng, int(n))) for n in rng.integers(4, 16, size=48)]
    predictor = KernelPredictor.fit([(m, _profile(m)) for m in profiled], INVOKE, [(m, inside(m)) for m in whole])
    assert predictor.kind_scales[BUILTIN] == pytest.approx(1.5, abs=0.08)
    assert predictor.kind_scales[ELEMENTWISE] == pytest.approx(1.0, abs=0.05)
    held_out = [declined(_model(rng, 12)) for _ in range(10)]
    assert all(predictor.predict(m) == pytest.approx(inside(m), rel=0.03) for m in held_out)


CACHE = 1e6  # bytes of model weights the cache holds
PER_BYTE = 1e-6 / 60.0  # beyond it, 60 GB/s (ms per byte)


def _heavy(rng, n: int) -> list[Kernel]:
    """``n`` 1x1-map convolutions with many weights: a model's tail, a squeeze-excite."""
    kernels = []
    for i in range(n):
        c_in, c_out = (int(v) for v in rng.integers(64, 512, size=2))
        features = {"macs": float(c_in * c_out), "h_in": 1.0, "w_in": 1.0, "c_in": c_in, "h_out": 1.0, "w_out": 1.0,
                    "c_out": c_out, "kernel": 1.0, "stride": 1.0, "bytes_in": float(c_in), "bytes_out": float(c_out),
                    "bytes_weights": float(c_in * c_out), "elements_out": float(c_out), "cache_fit": -10.0,
                    "int8": 1.0, "inputs": 1.0, "broadcast": 0.0, "fused_ops": 0.0}
        kernels.append(Kernel(CONV, [i], "CONV_2D", {k: float(v) for k, v in features.items()}))
    return kernels


def _alone(k: Kernel, scale: float = 1.0) -> float:
    """A 1x1-map convolution alone: quick, its weights in the cache."""
    return scale * (0.001 + 5e-9 * k.features["macs"])


def _inside(kernels: list[Kernel], scale: float = 1.0, per_byte: float = PER_BYTE) -> float:
    """The whole model: each kernel at least its weights' streaming time once they outgrow the cache."""
    weights = sum(k.features["bytes_weights"] for k in kernels)
    per = per_byte if weights > CACHE else 0.0
    return INVOKE + sum(max(_alone(k, scale), k.features["bytes_weights"] * per) for k in kernels)


def _streaming_predictor(rng) -> KernelPredictor:
    profiled = [_heavy(rng, 8) for _ in range(10)]
    rows = [[{"index": k.ops[0], "median_ms": INVOKE + _alone(k)} for k in m] for m in profiled]
    whole = [_heavy(rng, int(n)) for n in rng.integers(1, 30, size=48)]
    held_up = [_inside(m) > 1.1 * (INVOKE + sum(_alone(k) for k in m)) for m in whole]
    assert 10 <= sum(held_up) <= 38  # some held up by their weights, others not
    return KernelPredictor.fit(list(zip(profiled, rows)), INVOKE, [(m, _inside(m)) for m in whole])


def test_kernels_waiting_for_their_weights_in_a_big_model_are_predicted_at_streaming_speed():
    """Inside a model whose weights outgrow the cache, a kernel takes at least its weights'
    streaming time (here: beyond 1 MB of model weights, 60 GB/s); alone it never does. With
    enough whole models the predictor finds the cache size and the speed on its grid and
    predicts held-out models of both regimes."""
    rng = np.random.default_rng(5)
    predictor = _streaming_predictor(rng)
    assert predictor.streaming is not None and predictor.streaming.cache_bytes == pytest.approx(CACHE, rel=0.3)
    assert predictor.streaming.ms_per_byte(2 * CACHE) == pytest.approx(PER_BYTE, rel=0.35)
    for m in (_heavy(rng, int(n)) for n in (2, 6, 20, 40)):
        assert predictor.predict(m) == pytest.approx(_inside(m), rel=0.08)


def test_a_new_device_with_slower_memory_gets_its_streaming_scaled_apart():
    """A device whose arithmetic is 1.5x slower and whose memory is half as fast: recalibrated
    on a few of its models, the predictor scales the kernels held up by their weights apart
    from the others and predicts both regimes."""
    rng = np.random.default_rng(6)
    first = _streaming_predictor(rng)

    def there(m):
        return _inside(m, scale=1.5, per_byte=2 * PER_BYTE)

    measured = [_heavy(rng, int(n)) for n in (2, 4, 25, 30, 35, 40)]
    second = first.recalibrated([(m, there(m)) for m in measured])
    assert second.calibration[3] == pytest.approx(2.0, rel=0.15) and second.calibration[1] == pytest.approx(1.5, rel=0.15)
    for m in (_heavy(rng, int(n)) for n in (3, 20, 45)):
        assert second.predict(m) == pytest.approx(there(m), rel=0.08)


def test_a_device_that_pays_per_kernel_is_recalibrated_with_a_cost_per_compute_kernel():
    """A device with more threads: each kernel's time halves but each compute kernel pays a
    fixed 0.01 ms to dispatch and join. A scale alone cannot follow both small and big models;
    recalibrated on eight of them, the predictor finds the per-kernel cost and predicts both."""
    rng = np.random.default_rng(7)
    profiled = [_model(rng) for _ in range(6)]
    first = KernelPredictor.fit([(m, _profile(m)) for m in profiled], INVOKE)

    def there(m):
        return INVOKE + sum(_cost(k, 0.5) + (0.01 if k.kind != ELEMENTWISE else 0.0) for k in m)

    measured = [_model(rng, int(n)) for n in (2, 3, 5, 8, 12, 16, 24, 30)]
    second = first.recalibrated([(m, there(m)) for m in measured])
    assert second.calibration[4] == pytest.approx(0.01, rel=0.2)
    for m in (_model(rng, int(n)) for n in (1, 4, 20, 40)):
        assert second.predict(m) == pytest.approx(there(m), rel=0.05)


def test_an_op_xnnpack_declines_gets_regressors_of_its_own():
    """The same element-wise op costs ten times as much where LiteRT's builtin kernel runs it:
    the profiles hold enough of both, so each gets its own regressors and whole models with
    either are predicted; one regressor for both would be off on each."""
    from edgeloop.latency.predictor import op_key

    rng = np.random.default_rng(3)

    def builtin(kernels):
        for k in kernels:
            k.features["delegated"] = float(k.kind != ELEMENTWISE or rng.random() < 0.5)
        return kernels

    def cost(k):
        return _cost(k) * (1.0 if k.features["delegated"] else 10.0)

    profiled = [builtin(_model(rng)) for _ in range(20)]
    predictor = KernelPredictor.fit([(m, [{"index": k.ops[0], "median_ms": INVOKE + cost(k)} for k in m]) for m in profiled],
                                    INVOKE)
    assert {"ELEMENTWISE", "ELEMENTWISE (builtin)"} <= set(predictor.kinds)
    assert op_key(Kernel(ELEMENTWISE, [0], "ADD", {"delegated": 0.0})) == "ADD (builtin)"
    for m in (builtin(_model(rng, int(n))) for n in (4, 10, 30)):
        assert predictor.predict(m) == pytest.approx(INVOKE + sum(cost(k) for k in m), rel=0.05)
