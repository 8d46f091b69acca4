"""The README's main job, end to end: the figures the demo promises, measured; and the
chain of every compression step (``recipes/digits_everything.yaml``) at fewer epochs."""

from __future__ import annotations

import pytest
import yaml

from helpers import ROOT, with_step_options
from edgeloop.pipeline.runner import run
from edgeloop.recipe import load_recipe


@pytest.mark.slow
def test_digits_demo_meets_its_promises(tmp_path):
    report = run(load_recipe(str(ROOT / "recipes" / "digits_int8.yaml")), out=tmp_path).report
    s = report["summary"]
    assert report["status"] == "finished" and s["checks"]["failed"] == []
    assert s["mode"] == "int8"
    # int8 accuracy within 1 point of the float (unpruned) model, both on the held-out split
    assert s["accuracy"]["tflite_int8"] >= s["accuracy"]["baseline_float"] - 0.01
    assert s["accuracy"]["tflite_int8"] > 0.95
    # sparsity measured in the converted file
    assert s["converted_sparsity_min"] >= 0.49
    # gzipped int8 at least 6x smaller than the gzipped float32 file of the unpruned baseline
    assert s["size_ratio_vs_baseline"]["gzip"] >= 6.0
    # local latency of both
    assert s["latency_median_ms"]["model"] > 0 and s["latency_median_ms"]["baseline_float32"] > 0
    assert not report["warnings"]  # QAT got enough steps for its ranges to settle


# The committed chain's steps and options, each fine-tune shorter: what each step buys is the
# same in kind (half the filters, zeros, 16 values), and the accuracy still within a point.
# The recipe as committed runs in the ``autocompress`` benchmark's comparison.
SHORTER = {"train": {"epochs": 10}, "filter_prune": {"epochs": 1}, "distill": {"epochs": 3}, "prune": {"epochs": 2},
           "cluster": {"epochs": 1}, "qat": {"epochs": 4}, "benchmark": {"runs": 20}}


@pytest.mark.slow
def test_everything_recipe_shows_what_each_step_bought(tmp_path):
    raw = yaml.safe_load((ROOT / "recipes" / "digits_everything.yaml").read_text())
    raw["steps"] = with_step_options(raw["steps"], SHORTER)
    recipe = tmp_path / "digits_everything.yaml"
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False))
    report = run(load_recipe(str(recipe)), out=tmp_path / "runs").report
    assert report["status"] == "finished" and report["summary"]["checks"]["failed"] == []
    m = {e["step"]: e["measured"] for e in report["steps"] if "measured" in e}
    assert list(m) == ["train", "filter_prune", "distill", "prune", "cluster", "qat"]
    assert m["filter_prune"]["macs"] < m["train"]["macs"] / 3  # half the filters of every layer
    assert m["filter_prune"]["int8_sizes"]["bytes"] < m["train"]["int8_sizes"]["bytes"] / 3
    gz = [m[s]["int8_sizes"]["gzip_bytes"] for s in ("distill", "prune", "cluster", "qat")]
    assert gz == sorted(gz, reverse=True)  # each of these steps made the file compress further
    assert max(m["cluster"]["weight_unique_values"].values()) <= 16
    assert max(m["qat"]["weight_unique_values"].values()) <= 16
    assert min(m["qat"]["weight_sparsity"].values()) >= 0.49
    scheme = [e["result"]["scheme"] for e in report["steps"] if e["step"] == "qat"]
    assert scheme == ["prune_cluster_preserve"]
    s = report["summary"]
    assert s["accuracy"]["tflite_int8"] >= s["accuracy"]["baseline_float"] - 0.01
