"""The policy space, the objectives and the target, checked by hand (no search)."""

from __future__ import annotations

import pytest

from edgeloop.autocompress.objective import Goal, dominates_at, pareto_front
from edgeloop.autocompress.options import AutocompressOptions, parse_duration
from edgeloop.autocompress.space import Space
from edgeloop.errors import EdgeloopError


def space(dimensions=("width", "sparsity", "m_by_n", "clusters", "precision", "distill", "factorize")):
    return Space(tuple(dimensions), {"conv1": 16}, ("conv1", "conv2", "logits"), ("conv1", "conv2", "logits"),
                 ("conv1", "conv2", "logits"), ("conv1", "conv2"))


def fig(trial, acc, ms, kb, drop=0.0):
    return {"trial": trial, "int8_accuracy": acc, "latency_ms": ms, "size_kb": kb, "raw_kb": kb, "drop_points": drop}


def test_the_neutral_policy_applies_nothing():
    s = space()
    assert s.steps(s.neutral(), epochs=2) == [] and s.precisions(s.neutral()) == {}
    assert set(s.neutral()) == set(s.distributions())


def test_a_policy_becomes_the_steps_that_apply_it_in_order():
    s = space()
    params = {**s.neutral(), "width.conv1": 0.5, "sparsity.conv2": 0.7, "sparsity.logits": 0.3, "clusters.conv1": 16,
              "precision.logits": "int16", "distill": True, "distill.temperature": 2.0, "distill.alpha": 0.5,
              "factorize.energy": 0.9}
    steps = s.steps(params, epochs=2)
    assert [next(iter(st)) for st in steps] == ["filter_prune", "distill", "factorize", "prune", "cluster"]
    fp, distill, factorize, prune, cluster = (next(iter(st.values())) for st in steps)
    assert fp["channels"] == {"conv1": 8} and fp["epochs"] == 0  # distillation does the fine-tune
    assert distill["temperature"] == 2.0 and distill["alpha"] == 0.5 and distill["teacher"] == "baseline"
    assert factorize["energy"] == 0.9 and factorize["layers"] == ["conv1", "conv2"]
    assert prune["layers"] == {"conv2": 0.7, "logits": 0.3} and prune["skip"] == ["conv1"]
    assert cluster["layers"] == {"conv1": 16} and cluster["skip"] == ["conv2", "logits", "*_lowrank"]
    assert s.precisions(params) == {"logits": "int16"}


def test_2_by_4_replaces_the_per_layer_sparsities():
    s = space()
    steps = s.steps({**s.neutral(), "m_by_n": "2:4", "sparsity.conv2": 0.7}, epochs=0)
    assert steps == [{"prune": {"m_by_n": [2, 4], "epochs": 1, "batch_size": 32}}]  # pruning trains: 1 epoch at least


def test_small_kernels_are_offered_what_tfmot_can_do():
    s = Space(("sparsity", "clusters"), {}, ("stem", "big"), ("stem", "big"), (), (), "", {"stem": 144, "big": 4096})
    d = s.distributions()
    assert max(d["sparsity.stem"].choices) == 0.8 and max(d["sparsity.big"].choices) == 0.9
    assert max(d["clusters.stem"].choices) == 16 and max(d["clusters.big"].choices) == 64


def test_switched_off_dimensions_are_not_searched():
    params = space(("sparsity",)).distributions()
    assert set(params) == {"sparsity.conv1", "sparsity.conv2", "sparsity.logits"}


def test_seeds_come_from_the_sensitivity_analysis():
    s = space()
    seeds = s.seeds({"conv1": 0.72, "conv2": 0.5, "logits": 0.0}, 4)
    assert seeds[0]["sparsity.conv1"] == 0.7 and seeds[0]["sparsity.conv2"] == 0.5 and seeds[0]["sparsity.logits"] == 0.0
    assert seeds[1]["clusters.conv2"] == 16
    assert seeds[2]["width.conv1"] == 0.5  # safe at 70 % sparsity: half its filters
    assert len(seeds) == 4 and all(set(p) == set(s.distributions()) for p in seeds)
    more = s.seeds({"conv1": 0.72, "conv2": 0.5, "logits": 0.0}, 8)
    # conv1 at 0.5 is one step from the narrowest seed width: two steps down is the same
    # policy as one, and is tried once.
    assert more[:4] == seeds and len(more) == 7
    assert [m["width.conv1"] for m in more[5:]] == [0.5, 0.375] and more[6]["clusters.conv2"] == 16
    assert (more[4]["width.conv1"], more[4]["sparsity.conv1"]) == (0.375, 0.0)  # narrower: 0.5 two steps down
    assert (more[5]["width.conv1"], more[5]["sparsity.conv1"], more[5]["clusters.conv2"]) == (0.5, 0.7, 16)  # smallest


def test_the_target_and_the_choice():
    goal = Goal(max_drop=1.0, latency_ms=0.5, size_kb=20)
    ok, slow, big, bad = fig(0, 0.95, 0.4, 10), fig(1, 0.97, 0.6, 10), fig(2, 0.97, 0.4, 30), fig(3, 0.99, 0.1, 1, 1.5)
    assert goal.misses(ok) == []
    assert "latency" in goal.misses(slow)[0] and "size" in goal.misses(big)[0] and "accuracy" in goal.misses(bad)[0]
    assert goal.best([ok, slow, big, bad])["trial"] == 0
    assert goal.best([slow, big]) is None
    tie = fig(4, 0.95, 0.3, 10)
    assert goal.best([ok, tie])["trial"] == 4  # as accurate, faster
    assert goal.values(ok) == [0.95, 0.4, 10] and goal.directions == ["maximize", "minimize", "minimize"]


def test_the_mnas_reward_is_the_scalar_objective():
    goal = Goal(objective="mnas", latency_ms=0.5, mnas_w=-0.07)
    assert goal.directions == ["maximize"]
    assert goal.values(fig(0, 0.9, 1.0, 1)) == [pytest.approx(0.9 * 2 ** -0.07)]
    assert goal.reward(fig(0, 0.9, 0.25, 1)) == pytest.approx(0.9 * 0.5 ** -0.07)


def test_front_and_dominance():
    pts = [fig(0, 0.90, 1.0, 5), fig(1, 0.95, 2.0, 5), fig(2, 0.93, 3.0, 5)]
    assert [p["trial"] for p in pareto_front(pts, ("int8_accuracy", "latency_ms"))] == [0, 1]
    front = pareto_front(pts, ("int8_accuracy", "latency_ms"))
    assert dominates_at(front, {"int8_accuracy": 0.94, "latency_ms": 2.5}, "latency_ms")["trial"] == 1
    assert dominates_at(front, {"int8_accuracy": 0.95, "latency_ms": 2.0}, "latency_ms") is None  # equal: not strictly
    assert dominates_at(front, {"int8_accuracy": 0.96, "latency_ms": 9.0}, "latency_ms") is None


def test_the_front_trials_refined_besides_the_winner():
    from edgeloop.autocompress.run import to_refine

    # Front at latency: trials 0, 1, 3, 4, 5 (2 is beaten by 1); trial 4 is the chosen one.
    pts = [fig(0, 0.80, 1.0, 5), fig(1, 0.85, 2.0, 5), fig(2, 0.84, 2.5, 5), fig(3, 0.90, 3.0, 5),
           fig(4, 0.92, 4.0, 5), fig(5, 0.95, 5.0, 5)]
    chosen = {"trial": 4}
    assert to_refine(pts, chosen, 0) == []
    assert to_refine(pts, chosen, 9) == [0, 1, 3, 5]  # the whole front but the winner
    assert to_refine(pts, chosen, 2) == [0, 5]  # spread over the latencies: both ends
    assert to_refine(pts, chosen, 3) == [0, 3, 5]
    assert to_refine(pts, None, 1) == [0]


def test_options_are_checked():
    from edgeloop.pipeline.options import parse_options

    assert parse_duration("15m") == 900 and parse_duration(90) == 90 and parse_duration("2h") == 7200
    with pytest.raises(EdgeloopError, match="dimension"):
        parse_options(AutocompressOptions, {"dimensions": ["width", "depth"]}, "autocompress")
    with pytest.raises(EdgeloopError, match="time_limit"):
        parse_options(AutocompressOptions, {"time_limit": "soon"}, "autocompress")
    with pytest.raises(EdgeloopError, match="refine_front"):
        parse_options(AutocompressOptions, {"refine_front": -1}, "autocompress")
    with pytest.raises(EdgeloopError, match="unknown option 'trails'"):
        parse_options(AutocompressOptions, {"trails": 3}, "autocompress")


def test_a_bad_autocompress_key_in_a_recipe_exits_2(tmp_path):
    from helpers import run_cli

    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nmodel: zoo:digits_cnn\ndata: digits\nsteps:\n  - autocompress: {trails: 3}\n")
    proc = run_cli("optimize", recipe)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("edgeloop: error:")
    assert "trials" in proc.stderr and "Traceback" not in proc.stderr


def test_convert_keeps_the_named_layers_off_int8(ctx, make_tiny_cnn):
    from edgeloop.autocompress.space import weighted_op_layers
    from edgeloop.converters import read_model
    from edgeloop.pipeline import build_step

    model = make_tiny_cnn()
    conv, fc, out = weighted_op_layers(model)
    step = build_step("convert", {"precisions": {fc: "int16", out: "float"}, "calibration_samples": 20,
                                  "baseline": False}, "test")
    step.apply(model, ctx)
    info = read_model((ctx.run_dir / "model.tflite").read_bytes())
    weighted = [op for op in info.ops if op.name in ("CONV_2D", "FULLY_CONNECTED")]
    assert [info.tensors[op.outputs[0]].dtype for op in weighted] == ["int8", "int16", "float32"]
    check = next(c for c in ctx.result["checks"] if c["name"] == "mixed_precision")
    assert check["passed"] and ctx.result["precisions"]["by_layer"] == {fc: "int16", out: "float"}
    with pytest.raises(EdgeloopError, match="precisions name no layer"):
        build_step("convert", {"precisions": {"nope": "float"}, "baseline": False}, "test").apply(model, ctx)


def test_a_layer_kept_in_float_is_not_clustered():
    s = Space(("clusters", "precision"), {}, (), ("conv1", "conv2"), ("conv1_relu", "conv2_relu"), (), "conv2_relu",
              {}, {"conv1": "conv1_relu", "conv2": "conv2_relu"})
    steps = s.steps({**s.neutral(), "clusters.conv1": 16, "clusters.conv2": 16, "precision.conv1_relu": "float"}, 1)
    assert steps[0]["cluster"]["layers"] == {"conv2": 16}


def test_the_seeds_are_nsga2s_first_generation():
    # Optuna files a trial under a generation when it samples it; enqueued seeds are never
    # sampled, so without this the first generation is random and the seeds steer nothing.
    import optuna
    from optuna.distributions import CategoricalDistribution

    from edgeloop.autocompress.study import seed_into_first_generation

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {f"p{i}": CategoricalDistribution((0, 1, 2, 3)) for i in range(10)}
    seeds = [{f"p{i}": (k if i < 5 else 0) for i in range(10)} for k in range(4)]
    study = optuna.create_study(directions=["maximize", "minimize"])
    for params in seeds:
        study.enqueue_trial(params, user_attrs={"seeded": True})
    for n in range(8):
        study.sampler = optuna.samplers.NSGAIISampler(seed=n, population_size=4)
        trial = study.ask(dists)
        seed_into_first_generation(study, trial)
        study.tell(trial, [-float(sum(trial.params.values())), 1.0])
    key = optuna.samplers.NSGAIISampler._get_generation_key()
    assert [t.system_attrs.get(key) for t in study.trials] == [0, 0, 0, 0, 1, 1, 1, 1]
    # The children are crossovers of the seeds with a mutation or two: the last five
    # parameters are 0 in every seed, and stay 0 in most of the children's (a random first
    # generation keeps one in four at 0).
    assert sum(child.params[f"p{i}"] == 0 for child in study.trials[4:] for i in range(5, 10)) >= 16


def test_a_report_kept_with_empty_keys_still_has_its_points():
    """A report read back with ``refined``, ``compare`` or ``side_by_side`` kept as null (a search
    with no front trial to refine) still gives its points and comparisons."""
    from edgeloop.autocompress.report import compared, points

    state = {"trials": [{"number": 0, "figures": fig(0, 0.9, 1.0, 5)}], "refined": None, "compare": None,
             "side_by_side": None, "winner": None}
    assert [p["label"] for p in points(state)] == ["trial 0"] and compared(state) == []
