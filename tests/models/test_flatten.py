"""Nested models flatten into one graph: same outputs, weights kept, real layer names in
the converted file, and prune / filter_prune reach the layers inside."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.errors import EdgeloopError
from edgeloop.models.flatten import flatten_nested, nested_models
from helpers import nested_transfer, small_base


@pytest.mark.parametrize("sequential", [False, True])
def test_a_nested_model_flattens_with_the_same_outputs_and_weights(sequential):
    model = nested_transfer(sequential)
    flat, report = flatten_nested(model)
    assert nested_models(model) == ["base"] and nested_models(flat) == []
    assert report["flattened"] == ["base"] and report["max_difference"] < 1e-5
    assert report["renamed"] == {"base/conv": "base_conv"}  # the head's Dense keeps "conv"
    assert flat.count_params() == model.count_params()
    assert {"base_conv", "bn", "sep", "add", "conv"} <= {layer.name for layer in flat.layers}
    x = np.random.default_rng(1).random((3, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(flat(x, training=False), model(x, training=False), atol=1e-5)


def test_training_false_given_to_the_base_keeps_its_batch_norm_in_inference_mode():
    model = nested_transfer()
    flat, _ = flatten_nested(model)
    x = np.random.default_rng(1).random((3, 8, 8, 3)).astype(np.float32)
    # As inside the base: batch norm ignores training=True given to the whole model.
    np.testing.assert_allclose(flat(x, training=True), flat(x, training=False), atol=1e-5)


def test_a_model_called_twice_is_refused_in_one_line():
    from edgeloop._tf import keras

    base = small_base()
    i = keras.Input((8, 8, 3))
    model = keras.Model(i, keras.layers.Add()([base(i), base(i)]))
    with pytest.raises(EdgeloopError, match="called 2 times"):
        flatten_nested(model)


def test_the_converted_file_names_the_layers_inside_the_base():
    from edgeloop.converters import read_model
    from edgeloop.converters.tflite import convert

    model = nested_transfer()
    info = read_model(convert(model, "int8", np.random.default_rng(0).random((4, 8, 8, 3), dtype=np.float32)))
    layers = {op.layer for op in info.ops if op.layer}
    # Unflattened, every op of the base was named "base".
    assert {"sep", "add", "pool"} <= layers <= {layer.name for layer in flatten_nested(model)[0].layers}


def test_prune_and_filter_prune_reach_the_layers_inside(ctx):
    from edgeloop.data import Dataset
    from edgeloop.pipeline import build_step

    rng = np.random.default_rng(0)
    x, y = rng.random((64, 8, 8, 3), dtype=np.float32), rng.integers(0, 10, 64)
    ctx.data = Dataset(x, y, x[:16], y[:16], 10, "random", 0, 0.2)
    ctx.result = {}
    pruned = build_step("prune", {"target_sparsity": 0.5, "schedule": "one_shot", "epochs": 1}, "t").apply(nested_transfer(), ctx)
    assert {"base_conv", "sep", "conv"} <= set(ctx.result["kernel_sparsity"])
    assert min(ctx.result["kernel_sparsity"].values()) >= 0.49
    ctx.result = {}
    build_step("filter_prune", {"channels": {"base_conv": 5}, "epochs": 0}, "t").apply(nested_transfer(), ctx)
    assert ctx.result["channels"] == {"base_conv": {"before": 8, "after": 5}}
    assert "base" not in {layer.name for layer in pruned.layers}


def test_a_run_flattens_a_nested_model_first_and_its_report_says_so(tmp_path):
    from edgeloop.models import save_model
    from edgeloop.pipeline.runner import run
    from edgeloop.recipe import from_dict

    save_model(nested_transfer(), tmp_path / "transfer.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((40, 8, 8, 3), dtype=np.float32), y=np.arange(40) % 10)
    result = run(from_dict({"name": "t", "model": str(tmp_path / "transfer.keras"), "data": str(tmp_path / "d.npz"),
                            "measure_steps": False, "steps": [{"convert": {"calibration_samples": 8}}]}), out=tmp_path,
                 force=True)  # untrained, on random labels: past the float model's sanity check
    assert result.report["flattened"]["flattened"] == ["base"]
    assert "Nested model(s) base flattened into one graph" in (result.run_dir / "report.md").read_text()
    assert {"sep", "base_conv"} <= set(result.report["steps"][0]["result"]["weight_sparsity"])
