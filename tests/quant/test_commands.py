"""``quant-report`` and ``optimize --model x.tflite`` through the real command."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli


@pytest.mark.slow
def test_quant_report_on_a_third_party_file(tmp_path, face_npz):
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "fixtures" / "tflite" / "face_detection_short_range.tflite"
    proc = run_cli("quant-report", path, "--data", face_npz, "--samples", "16", "--worst", "1", "--out", tmp_path, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    folder = Path(report["folder"])
    assert (folder / "quant_report.png").stat().st_size > 1000 and (folder / "quant_report.json").is_file()
    rows = {r["tensor"]: r for r in report["ops"]}
    assert len(rows) > 50 and report["ranked"][0] in rows
    assert len(report["sensitivity"]) == 1 and report["sensitivity"][0]["output_snr_db"] > 0


@pytest.mark.slow
def test_optimize_a_float_tflite_with_post_training_steps(tmp_path, trained_float):
    model = tmp_path / "float.tflite"
    model.write_bytes(trained_float)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: t\nmodel: {model}\ndata: digits\nsteps:\n"
                      "  - convert: {mode: int8, calibration_samples: 50}\n  - evaluate: {max_drop: 5.0}\n")
    proc = run_cli("optimize", recipe, "--out", tmp_path / "runs", "--json", "-q")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    acc = report["summary"]["accuracy"]
    assert acc["tflite_int8"] > 0.8 and abs(acc["baseline_float"] - acc["tflite_int8"]) < 0.05
    assert report["steps"][0]["result"]["quantizer"] == "litert-quantizer"

    from edgeloop.errors import EdgeloopError
    from edgeloop.pipeline.runner import run
    from edgeloop.recipe import from_dict

    before = set((tmp_path / "runs").iterdir())
    with pytest.raises(EdgeloopError, match="post-training steps only"):
        run(from_dict({"name": "t", "model": str(model), "data": "digits",
                       "steps": [{"prune": {"target_sparsity": 0.5}}, {"convert": {"mode": "int8"}}]}), out=tmp_path / "runs")
    assert set((tmp_path / "runs").iterdir()) == before  # refused before a run folder was made
