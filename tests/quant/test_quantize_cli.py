"""``edgeloop quantize`` on a real third-party float16 file, and its bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli

from edgeloop.converters import op_counts, read_model, verify

SHORT = Path(__file__).resolve().parents[1] / "fixtures" / "tflite" / "face_detection_short_range.tflite"


def assert_bad_input(proc, fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert fragment in lines[0], lines[0]


@pytest.mark.slow
def test_float16_file_to_verified_full_int8(tmp_path, face_npz):
    out = tmp_path / "int8.tflite"
    proc = run_cli("quantize", SHORT, "--data", face_npz, "--samples", "20", "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    info = read_model(out)
    assert all(c.passed for c in verify(info, mode="int8", io_type="int8"))
    assert "DEQUANTIZE" not in op_counts(info)
    assert result["folded"] == {"DEQUANTIZE": 74, "activation fused": 17}
    boxes, scores = result["fidelity"]
    assert boxes["samples"] == 8 and boxes["snr_db"] > 10.0  # int8 boxes follow the float file
    assert scores["cosine"] > 0.9


def test_weight_only_keeps_float_compute(tmp_path):
    out = tmp_path / "wo.tflite"
    proc = run_cli("quantize", SHORT, "--weight-only", "-o", out)
    assert proc.returncode == 0, proc.stderr
    info = read_model(out)
    weights = [info.tensors[op.inputs[1]] for op in info.ops if op.name == "CONV_2D"]
    assert weights and all(info.tensors[op.outputs[0]].dtype == "float32" for op in info.ops if op.name == "CONV_2D")
    assert op_counts(info)["DEQUANTIZE"] >= len(weights)  # int8 weights dequantized into the float ops


@pytest.mark.slow
def test_bad_input(tmp_path, face_npz):
    assert_bad_input(run_cli("quantize", tmp_path / "none.tflite", "--data", face_npz, "-o", tmp_path / "o.tflite"),
                     "model not found")
    assert_bad_input(run_cli("quantize", SHORT, "-o", tmp_path / "o.tflite"), "needs calibration data")
    existing = tmp_path / "keep.tflite"
    existing.write_bytes(b"mine")
    assert_bad_input(run_cli("quantize", SHORT, "--dynamic", "-o", existing), "exists")
    assert existing.read_bytes() == b"mine"
    assert_bad_input(run_cli("quantize", SHORT, "--data", "digits", "-o", tmp_path / "o.tflite"), "shape")
