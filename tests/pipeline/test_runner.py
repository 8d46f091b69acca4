"""Runs: a new folder each time, reports, failure reporting, and resume after a step."""

from __future__ import annotations

import json

import pytest

from edgeloop.errors import EdgeloopError
from edgeloop.pipeline.runner import STATE_FILE, resume, run
from edgeloop.recipe import from_dict

FAST = {
    "name": "fast",
    "model": "zoo:digits_cnn?width=0.25",
    "data": "digits",
    "steps": [
        {"train": {"epochs": 3}},
        {"prune": {"target_sparsity": 0.5, "epochs": 2}},
        {"qat": {"epochs": 1}},
        {"convert": {"calibration_samples": 50}},
        {"evaluate": {"max_drop": 5.0}},
        {"benchmark": {"warmup": 1, "runs": 5}},
    ],
}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return run(from_dict(FAST), out=out)


def test_run_writes_every_artifact_and_a_report(finished_run):
    d = finished_run.run_dir
    names = {p.name for p in d.iterdir()}
    assert {"recipe.yaml", STATE_FILE, "report.json", "report.md", "baseline.keras", "model.tflite",
            "baseline_float32.tflite", "01_train.keras", "02_prune.keras", "03_qat.savedmodel"} <= names
    assert not [n for n in names if n.startswith(".")]  # no temp file left behind
    report = json.loads((d / "report.json").read_text())
    assert report["status"] == "finished"
    s = report["summary"]
    assert s["checks"]["failed"] == [] and s["checks"]["passed"] >= 5
    assert s["converted_sparsity_min"] >= 0.49
    assert s["size_ratio_vs_baseline"]["gzip"] > 4
    assert set(s["latency_median_ms"]) == {"model", "baseline_float32"}
    measured = {e["step"]: e["measured"] for e in report["steps"] if "measured" in e}
    assert set(measured) == {"train", "prune", "qat"}
    assert max(measured["train"]["weight_sparsity"].values()) < 0.1
    assert min(measured["prune"]["weight_sparsity"].values()) >= 0.49
    assert measured["prune"]["int8_sizes"]["gzip_bytes"] < measured["train"]["int8_sizes"]["gzip_bytes"]
    assert all(0.5 < m["int8_accuracy"] <= 1 and m["int8_latency_median_ms"] > 0 for m in measured.values())
    md = (d / "report.md").read_text()
    for heading in ("## What each step bought", "## Size", "## Sparsity", "## Accuracy", "## Latency", "## Checks", "## Warnings"):
        assert heading in md


def test_each_run_gets_a_new_folder(finished_run, tmp_path):
    recipe = from_dict({**FAST, "steps": [{"train": {"epochs": 1}}]})
    a = run(recipe, out=tmp_path).run_dir
    b = run(recipe, out=tmp_path).run_dir
    assert a != b and a.is_dir() and b.is_dir()


def test_resume_continues_after_the_last_finished_step(finished_run, tmp_path):
    import shutil

    # The same run as if it had been killed after step 3 (QAT) wrote its model folder but
    # before state.json recorded it: the resumed step 3 must replace that folder.
    d = tmp_path / "killed"
    shutil.copytree(finished_run.run_dir, d)
    state = json.loads((d / STATE_FILE).read_text())
    kept = state["finished"][:2]
    state["finished"] = kept
    state["state"] = {k: v for k, v in state["state"].items() if k in ("baseline_model", "pruned")}
    state["status"] = "running"
    (d / STATE_FILE).write_text(json.dumps(state))
    for name in ("model.tflite", "baseline_float32.tflite", "report.json", "report.md"):
        (d / name).unlink()
    prune_model_mtime = (d / "02_prune.keras").stat().st_mtime_ns

    result = resume(d)
    after = json.loads((d / STATE_FILE).read_text())
    assert after["status"] == "finished"
    assert after["finished"][:2] == kept  # steps 1-2 not rerun
    assert [e["step"] for e in after["finished"]] == ["train", "prune", "qat", "convert", "evaluate", "benchmark"]
    assert (d / "02_prune.keras").stat().st_mtime_ns == prune_model_mtime
    assert (d / "03_qat.savedmodel" / "saved_model.pb").is_file()
    assert not [p.name for p in d.iterdir() if p.name.startswith(".")]
    assert after["finished"][2]["result"]["scheme"] == "prune_preserve"  # knew step 2 pruned
    assert result.report["summary"]["converted_sparsity_min"] >= 0.49


def test_resume_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(EdgeloopError, match="not a run folder"):
        resume(tmp_path)


def test_a_failed_step_is_reported_and_its_run_can_resume(tmp_path):
    recipe = from_dict({**FAST, "steps": [{"train": {"epochs": 1}}, {"evaluate": {}}]})
    with pytest.raises(EdgeloopError, match="put a convert step before it"):
        run(recipe, out=tmp_path)
    (d,) = tmp_path.iterdir()
    report = json.loads((d / "report.json").read_text())
    assert report["status"] == "failed" and report["error"]["step"] == 2
    assert "Failed at step 2" in (d / "report.md").read_text()
    assert (d / "01_train.keras").is_file()
