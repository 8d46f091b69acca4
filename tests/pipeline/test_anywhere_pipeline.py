"""Recipes on models from anywhere: a Keras 3 model with two inputs and two outputs, a two-input
tf_keras model trained by the pipeline, and the steps that need layers refused before any work."""

from __future__ import annotations

import json

import pytest

from edgeloop.errors import EdgeloopError
from edgeloop.pipeline.runner import resume, run
from edgeloop.recipe import from_dict


def _recipe(model, data, steps, **extra) -> dict:
    return {"name": "anywhere", "model": str(model), "data": str(data), "measure_steps": False, "steps": steps, **extra}


@pytest.mark.slow
def test_a_keras3_two_output_model_converts_scores_its_named_output_and_is_timed(anywhere, tmp_path):
    steps = [{"convert": {"calibration_samples": 100}}, {"evaluate": {"max_drop": 2.0}},
             {"benchmark": {"warmup": 1, "runs": 5}}]
    result = run(from_dict(_recipe(anywhere / "k3_multi.keras", anywhere / "multi.npz", steps, output="cls")),
                 out=tmp_path)
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["status"] == "finished"
    steps = {e["step"]: e["result"] for e in report["steps"]}
    assert all(c["passed"] for c in steps["convert"]["checks"])
    accuracy = steps["evaluate"]["accuracy"]
    assert accuracy["baseline_float"] > 0.8 and accuracy["tflite_int8"] >= accuracy["baseline_float"] - 0.02
    assert steps["benchmark"]["model"]["stats"]["median_ms"] > 0
    assert steps["benchmark"]["baseline_float32"]["stats"]["median_ms"] > 0


def test_a_two_input_model_trains_converts_and_scores_from_named_arrays(anywhere, tmp_path):
    steps = [{"train": {"epochs": 3, "learning_rate": 0.005}}, {"convert": {"calibration_samples": 100}},
             {"evaluate": {"max_drop": 2.0}}]
    result = run(from_dict(_recipe(anywhere / "multi_in.keras", anywhere / "multi.npz", steps)), out=tmp_path)
    report = json.loads((result.run_dir / "report.json").read_text())
    steps = {e["step"]: e["result"] for e in report["steps"]}
    assert steps["train"]["val_accuracy"] > 0.8
    assert steps["evaluate"]["accuracy"]["tflite_int8"] >= steps["evaluate"]["accuracy"]["keras"] - 0.02
    again = resume(result.run_dir)  # the saved step model binds to the data's names again
    assert again.report["status"] == "finished"


def test_steps_that_need_layers_are_refused_before_the_run_folder(anywhere, tmp_path):
    recipe = from_dict(_recipe(anywhere / "k3_export", "digits", [{"cluster": {}}, {"convert": {}}]))
    with pytest.raises(EdgeloopError, match=r"cluster needs the model's Keras layers.*SavedModel without a Keras graph "
                                            r"\(only benchmark, compile, convert and evaluate take it\)"):
        run(recipe, out=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
    multi = from_dict(_recipe(anywhere / "multi.keras", anywhere / "multi.npz", [{"train": {"epochs": 1}}]))
    with pytest.raises(EdgeloopError, match="training steps fit a model with one output; this one has 2 \\(cls, reg\\)"):
        run(multi, out=tmp_path / "runs2")
