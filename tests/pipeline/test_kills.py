"""A run killed (SIGKILL, a real process) at every crash point resumes to the same model.

The tiny recipe trains briefly (the float model must beat chance before compression), then
has a QAT step (its model is a SavedModel folder, the case a resume once could not replace)
and a convert step; the full ``recipes/digits_int8.yaml`` sweep is the
``reliability`` benchmark's.
"""

from __future__ import annotations

import pytest

from benchmarks.kills import ForkLauncher, sweep

TINY = """\
name: tiny
model: zoo:digits_cnn?width=0.25
data: digits
seed: 0
measure_steps: false
steps:
  - train: {epochs: 2, batch_size: 64}
  - qat: {epochs: 1, batch_size: 64}
  - convert: {calibration_samples: 10, baseline: false}
"""


@pytest.mark.slow
def test_a_run_killed_at_every_crash_point_resumes_to_the_same_model(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY)
    launcher = ForkLauncher()
    try:
        result = sweep(recipe, tmp_path / "kills", launcher)
    finally:
        launcher.close()
    names = result["point_names"]
    # Every boundary of the run, from the folder's creation to the report: the baseline's
    # save and record, the QAT folder written and renamed, each file of the convert step.
    for point in ("start/created", "step2:baseline/renamed:baseline.keras", "step2/written:02_qat.savedmodel",
                  "step2/renamed:02_qat.savedmodel", "step2/renamed:state.json", "step3/renamed:model.tflite",
                  "finish/renamed:report.md"):
        assert point in names
    assert result["failures"] == []  # each process died at its point; baseline.keras never rewritten
    assert result["killed"] == result["points"] == len(names) >= 28
    assert result["final_status"] == "finished" and result["final_returncode"] == 0
    assert result["identical"]["model.tflite"]
