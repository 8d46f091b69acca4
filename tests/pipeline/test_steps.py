"""Each step on a tiny model, its effect measured (in the converted file where it matters)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.errors import EdgeloopError, VerificationError
from edgeloop.pipeline import build_step
from edgeloop.pipeline.qat import range_settled_fraction, steps_to_settle


def step(name, **options):
    return build_step(name, options, "test")


def apply(name, model, ctx, **options):
    ctx.result = {}
    return step(name, **options).apply(model, ctx)


@pytest.fixture
def trained(make_tiny_cnn, ctx):
    return apply("train", make_tiny_cnn(), ctx, epochs=4, learning_rate=0.005)


def test_train_learns_digits(trained, ctx):
    assert ctx.result["val_accuracy"] > 0.8
    assert ctx.result["optimizer_steps"] == 4 * int(np.ceil(len(ctx.data.y_train) / 32))


@pytest.mark.parametrize("schedule", ["polynomial", "constant"])
def test_prune_sparsity_is_in_the_converted_int8_file(trained, ctx, schedule):
    pruned = apply("prune", trained, ctx, target_sparsity=0.6, schedule=schedule, epochs=2)
    assert all(type(layer).__name__ != "PruneLowMagnitude" for layer in pruned.layers)
    assert min(ctx.result["kernel_sparsity"].values()) >= 0.59
    apply("convert", pruned, ctx, baseline=False)
    in_file = ctx.result["weight_sparsity"]
    assert len(in_file) == 3  # conv, fc and out weights
    assert min(in_file.values()) >= 0.59
    assert {c["name"]: c["passed"] for c in ctx.result["checks"]}["sparsity_survived"]


def test_qat_after_prune_preserves_sparsity_and_converts_to_full_int8(trained, ctx):
    pruned = apply("prune", trained, ctx, target_sparsity=0.5, epochs=2)
    qmodel = apply("qat", pruned, ctx, epochs=1)
    assert ctx.result["scheme"] == "prune_preserve"
    apply("convert", qmodel, ctx)
    checks = {c["name"]: c for c in ctx.result["checks"]}
    assert all(c["passed"] for c in checks.values()), checks
    assert {"static_shapes", "io_types", "int8_compute", "sparsity_survived"} <= set(checks)
    assert min(ctx.result["weight_sparsity"].values()) >= 0.49
    assert (ctx.run_dir / "model.tflite").is_file() and (ctx.run_dir / "baseline_float32.tflite").is_file()


def test_plain_qat_after_prune_loses_the_zeros_and_convert_says_so(trained, ctx):
    # The reason the prune-preserving scheme exists: plain QAT refills pruned weights.
    pruned = apply("prune", trained, ctx, target_sparsity=0.5, epochs=2)
    qmodel = apply("qat", pruned, ctx, epochs=1, scheme="default")
    assert max(ctx.result["kernel_sparsity"].values()) < 0.4  # well under the 50 % pruned
    with pytest.raises(VerificationError, match="sparsity_survived"):
        apply("convert", qmodel, ctx)
    assert not (ctx.run_dir / "model.tflite").exists()


def test_qat_warns_when_its_ranges_cannot_settle(trained, ctx):
    apply("qat", trained, ctx, epochs=1)
    assert ctx.result["scheme"] == "default"
    assert any("optimizer steps" in w and str(steps_to_settle()) in w for w in ctx.warnings)


def test_range_settling_arithmetic():
    assert range_settled_fraction(0) == 0.0
    assert range_settled_fraction(steps_to_settle(0.9)) >= 0.9 > range_settled_fraction(steps_to_settle(0.9) - 1)


def test_evaluate_scores_the_converted_model_next_to_the_float_one(trained, ctx):
    apply("convert", trained, ctx)
    apply("evaluate", trained, ctx, max_drop=5.0)
    acc = ctx.result["accuracy"]
    assert set(acc) == {"baseline_float", "keras", "tflite_int8", "tflite_baseline_float32"}
    assert abs(acc["tflite_baseline_float32"] - acc["keras"]) < 0.01
    assert abs(acc["tflite_int8"] - acc["keras"]) < 0.05
    assert ctx.result["checks"][0]["passed"]


def test_evaluate_fails_the_gate_of_a_converted_model_that_lost_accuracy(trained, ctx, make_tiny_cnn):
    # Put an untrained model's int8 file where the trained one's should be: a real drop.
    apply("convert", make_tiny_cnn(), ctx)
    apply("evaluate", trained, ctx, max_drop=1.0)  # a gate: recorded, the run goes on (exit status 1 at the end)
    (check,) = ctx.result["checks"]
    assert check["gate"] and not check["passed"] and check["verdict"] == "fail"
    assert check["figures"]["interval_points"][0] > 1.0 and "beyond the 1-point limit" in check["detail"]


def test_evaluate_and_benchmark_need_a_converted_model(trained, ctx):
    for name in ("evaluate", "benchmark"):
        with pytest.raises(EdgeloopError, match="put a convert step before it"):
            apply(name, trained, ctx)


def test_benchmark_times_the_model_and_the_baseline(trained, ctx):
    apply("convert", trained, ctx)
    apply("benchmark", trained, ctx, warmup=2, runs=7)
    assert set(ctx.result) == {"model", "baseline_float32"}
    for result in ctx.result.values():
        assert len(result["times_ms"]) == 7 and result["stats"]["count"] == 7
        assert 0 < result["stats"]["min_ms"] <= result["stats"]["median_ms"] <= result["stats"]["p99_ms"]


def _file_weights(ctx):
    from edgeloop.converters import read_model, weight_sparsity, weight_unique_values

    info = read_model(ctx.run_dir / "model.tflite")
    return weight_unique_values(info), weight_sparsity(info)


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_clustered_kernels_keep_at_most_k_values_in_the_converted_file(trained, ctx, mode):
    clustered = apply("cluster", trained, ctx, clusters=6, epochs=1)
    assert ctx.result["max_unique"] <= 6 and not ctx.result["preserve_sparsity"]
    apply("convert", clustered, ctx, mode=mode)
    unique, _ = _file_weights(ctx)
    assert len(unique) == 3 and max(unique.values()) <= 6
    assert {c["name"]: c["passed"] for c in ctx.result["checks"]}["clusters_survived"]


def test_the_unclustered_model_has_many_values_so_the_check_can_fail(trained, ctx):
    apply("convert", trained, ctx)
    unique, _ = _file_weights(ctx)
    assert min(unique.values()) > 6


def test_cqat_keeps_the_clusters_through_int8(trained, ctx):
    clustered = apply("cluster", trained, ctx, clusters=8, epochs=1)
    qmodel = apply("qat", clustered, ctx, epochs=1)
    assert ctx.result["scheme"] == "cluster_preserve"
    apply("convert", qmodel, ctx)
    assert all(c["passed"] for c in ctx.result["checks"]), ctx.result["checks"]
    assert max(_file_weights(ctx)[0].values()) <= 8


def test_pcqat_keeps_zeros_and_clusters_through_int8(trained, ctx):
    pruned = apply("prune", trained, ctx, target_sparsity=0.5, epochs=2)
    clustered = apply("cluster", pruned, ctx, clusters=8, epochs=1)
    assert ctx.result["preserve_sparsity"] and min(ctx.result["kernel_sparsity"].values()) >= 0.49
    qmodel = apply("qat", clustered, ctx, epochs=1)
    assert ctx.result["scheme"] == "prune_cluster_preserve"
    apply("convert", qmodel, ctx)
    checks = {c["name"]: c["passed"] for c in ctx.result["checks"]}
    assert checks["sparsity_survived"] and checks["clusters_survived"] and checks["int8_compute"]
    unique, sparsity = _file_weights(ctx)
    assert max(unique.values()) <= 8 and min(sparsity.values()) >= 0.49


def test_per_layer_targets_and_skipped_layers_reach_the_file(trained, ctx):
    pruned = apply("prune", trained, ctx, target_sparsity=0.5, layers={"f*": 0.8}, skip=["conv"], epochs=2)
    assert ctx.result["targets"] == {"fc": 0.8, "out": 0.5} and ctx.result["skipped"] == {"conv": "skip"}
    apply("convert", pruned, ctx, baseline=False)
    in_file = ctx.result["weight_sparsity"]
    assert in_file["fc"] >= 0.79 and 0.49 <= in_file["out"] < 0.6 and in_file["conv"] < 0.1
    assert {c["name"]: c["passed"] for c in ctx.result["checks"]}["sparsity_survived"]


def test_one_shot_pruning_holds_its_mask_through_fine_tuning(trained, ctx):
    pruned = apply("prune", trained, ctx, target_sparsity=0.7, schedule="one_shot", epochs=2)
    assert min(ctx.result["kernel_sparsity"].values()) >= 0.69
    apply("convert", pruned, ctx, baseline=False)
    assert min(ctx.result["weight_sparsity"].values()) >= 0.69


def test_two_by_four_pattern_holds_in_every_group_of_the_file(trained, ctx):
    from edgeloop.converters import max_nonzero_per_group, read_model

    pruned = apply("prune", trained, ctx, m_by_n=[2, 4], epochs=1)
    # The first conv has one input channel: no group of four to prune.
    assert set(ctx.result["targets"]) == {"fc", "out"} and "conv" in ctx.result["skipped"]
    apply("convert", pruned, ctx, baseline=False)
    checks = {c["name"]: c["passed"] for c in ctx.result["checks"]}
    assert checks["m_by_n_pattern"] and checks["sparsity_survived"]
    worst = max_nonzero_per_group(read_model(ctx.run_dir / "model.tflite"), 4)
    assert worst["fc"] <= 2 and worst["out"] <= 2


def test_unknown_layer_patterns_are_refused(trained, ctx):
    with pytest.raises(EdgeloopError, match="no layer matches 'fc9'; layers: conv, pool, flatten, fc, out"):
        apply("prune", trained, ctx, layers={"fc9": 0.5})


def test_filter_prune_step_shrinks_the_file_and_keeps_accuracy(trained, ctx):
    small = apply("filter_prune", trained, ctx, keep=0.5, epochs=2, learning_rate=0.002)
    assert ctx.result["channels"] == {"conv": {"before": 8, "after": 4}, "fc": {"before": 32, "after": 16}}
    assert ctx.result["params_after"] < ctx.result["params_before"] / 1.8
    assert ctx.result["macs_after"] < ctx.result["macs_before"] / 1.8
    assert ctx.result["val_accuracy"] > 0.8
    apply("convert", small, ctx)
    assert all(c["passed"] for c in ctx.result["checks"])


def test_quantization_debugger_ranks_layers(trained, ctx):
    apply("convert", trained, ctx, debug=True, baseline=False)
    ranking = ctx.result["quantization_error"]
    assert {r["op"] for r in ranking} >= {"CONV_2D", "FULLY_CONNECTED"}
    errors = [r["rmse_over_scale"] for r in ranking]
    assert errors == sorted(errors, reverse=True) and errors[0] > 0


def test_selective_quantization_leaves_exactly_the_named_layers_float(trained, ctx):
    from edgeloop.converters import read_model

    apply("convert", trained, ctx, keep_float=2, baseline=False)
    r = ctx.result
    kept = r["selective"]["kept_float"]
    assert kept == [x["tensor"] for x in r["quantization_error"][:2]]
    checks = {c["name"]: c for c in r["checks"]}
    assert checks["selective_float"]["passed"] and "int8_compute" not in checks
    info = read_model(ctx.run_dir / "model.tflite")
    float_outputs = {info.tensors[op.outputs[0]].name for op in info.ops
                     if op.name not in ("QUANTIZE", "DEQUANTIZE") and info.tensors[op.outputs[0]].dtype == "float32"}
    assert float_outputs == set(kept)
    assert r["selective"]["selective_sizes"]["bytes"] > r["selective"]["full_int8_sizes"]["bytes"]
