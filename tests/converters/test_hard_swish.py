"""Hard-swish rewritten into int8 ops XNNPACK runs: same function, no HARD_SWISH op left."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.converters import op_counts, read_model
from edgeloop.converters.hard_swish import count_hard_swish, rewrite_hard_swish
from edgeloop.converters.tflite import convert
from edgeloop.device.benchmark import open_model
from edgeloop.device.delegates import delegated_nodes
from edgeloop.device.interpreter import TFLiteModel
from edgeloop.device.options import BenchmarkOptions
from hard_swish_models import applications_spelling as _applications_spelling
from hard_swish_models import zoo_spelling as _zoo_spelling


@pytest.fixture(scope="module")
def samples():
    return np.random.default_rng(0).normal(0, 2, (16, 8, 8, 3)).astype(np.float32)


@pytest.mark.parametrize("build, expected", [(_zoo_spelling, 2), (_applications_spelling, 1)])
def test_rewrite_computes_the_same_function_in_float(build, expected, samples):
    model = build()
    assert count_hard_swish(model) == expected
    rewritten, report = rewrite_hard_swish(model, samples)
    assert len(report["rewritten"]) == expected and count_hard_swish(rewritten) == 0
    np.testing.assert_allclose(rewritten.predict(samples, verbose=0), model.predict(samples, verbose=0), atol=1e-5)
    assert report["max_difference"] < 1e-5


def test_a_model_without_hard_swish_comes_back_as_is(make_tiny_cnn):
    model = make_tiny_cnn()
    assert rewrite_hard_swish(model)[0] is model


def test_int8_file_has_no_hard_swish_and_xnnpack_takes_every_op(samples):
    model = _zoo_spelling()
    plain = convert(model, "int8", samples)
    fast = convert(model, "int8", samples, hard_swish="rewrite")
    assert op_counts(read_model(plain)).get("HARD_SWISH") == 2
    ops = op_counts(read_model(fast))
    assert "HARD_SWISH" not in ops and ops["DEPTHWISE_CONV_2D"] == 2
    # The converter's int8 HARD_SWISH falls out of XNNPACK; the rewrite leaves nothing on the built-in kernels.
    assert delegated_nodes(open_model(plain, BenchmarkOptions())._get_ops_details())["cpu"] == 2
    assert delegated_nodes(open_model(fast, BenchmarkOptions())._get_ops_details())["cpu"] == 0
    # Still the model's function: the int8 file follows the float model as closely as the plain int8 file does.
    reference = model.predict(samples, verbose=0)
    error = {name: float(np.abs(TFLiteModel(blob).predict(samples) - reference).max())
             for name, blob in (("plain", plain), ("fast", fast))}
    assert error["fast"] <= 2 * error["plain"] + 0.05 * float(np.abs(reference).max())


def test_rewritten_hard_swish_maps_on_the_edge_tpu(samples):
    """The analyzer's verdict: HARD_SWISH has no Edge TPU kernel; DEPTHWISE_CONV_2D, MUL and RESHAPE do."""
    from edgeloop.converters.edgetpu.analyzer import analyze

    model = _zoo_spelling()
    assert not analyze(read_model(convert(model, "int8", samples))).fully_mapped
    assert analyze(read_model(convert(model, "int8", samples, hard_swish="rewrite"))).fully_mapped
