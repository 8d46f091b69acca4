"""``inspect`` names the kind of file and reads sparse-stored weights."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli

from edgeloop.converters import read_model
from edgeloop.quant.kind import file_kind, sparse_weights
from edgeloop.quant.litert import quantize_tflite
from edgeloop.quant.mixed import convert_with_precisions


def test_kinds_of_files(face_short, trained_float, digits):
    assert file_kind(read_model(face_short))["kind"] == "float16 weights"
    assert file_kind(read_model(trained_float))["kind"] == "float32"
    assert file_kind(read_model(quantize_tflite(trained_float, mode="dynamic").model))["kind"] == "dynamic range"
    assert file_kind(read_model(quantize_tflite(trained_float, mode="weight_only").model))["kind"] == "weight-only int8"
    calib = digits.x_train[:30]
    assert file_kind(read_model(quantize_tflite(trained_float, calib).model))["kind"] == "full int8"
    assert file_kind(read_model(quantize_tflite(trained_float, calib, "int16x8").model))["kind"] == "int16x8"
    info = read_model(trained_float)
    conv = info.tensors[info.ops[0].outputs[0]].name
    mixed = file_kind(read_model(convert_with_precisions(trained_float, calib, {conv: "float"})))
    assert mixed["kind"] == "mixed" and [o["layer"] for o in mixed["off_int8"]] == ["conv"]


def test_sparse_weights_reported(face_sparse):
    sparse = sparse_weights(face_sparse)
    assert len(sparse) == 46
    assert all(0.6 < s["sparsity"] < 0.75 for s in sparse.values())


@pytest.mark.slow
def test_inspect_describes_unless_int8_is_expected(tmp_path):
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "fixtures" / "tflite" / "face_detection_full_range_sparse.tflite"
    described = run_cli("inspect", path, "--json")
    assert described.returncode == 0, described.stderr
    result = json.loads(described.stdout)
    assert result["kind"]["kind"] == "float16 weights" and len(result["sparse_weights"]) == 46
    assert "FAIL" not in run_cli("inspect", path).stdout
    gate = run_cli("inspect", path, "--expect", "int8")
    assert gate.returncode == 1 and "FAIL  int8_compute" in gate.stdout
