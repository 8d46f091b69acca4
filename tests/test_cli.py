"""The real ``edgeloop`` command in a subprocess: happy paths and bad input (exit 2, one line)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import run_cli, tiny_cnn


def assert_bad_input(proc, fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from edgeloop.models import save_model

    path = tmp_path_factory.mktemp("m") / "tiny.keras"
    save_model(tiny_cnn(), path)
    return path


@pytest.fixture
def recipe_file(tmp_path, model_file):
    def write(steps: str, model=model_file, data="digits"):
        path = tmp_path / "r.yaml"
        path.write_text(f"name: t\nmodel: {model}\ndata: {data}\nsteps:\n{steps}")
        return path

    return write


def test_convert_inspect_bench(tmp_path, model_file):
    out = tmp_path / "m.tflite"
    # The model is untrained: at chance on digits, which the sanity check stops without --force.
    proc = run_cli("convert", model_file, "--int8", "--data", "digits", "--samples", "20", "-o", out, "--json", "--force")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["sizes"]["bytes"] == out.stat().st_size
    assert all(c["passed"] for c in result["checks"])

    proc = run_cli("inspect", out, "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["inputs"][0]["dtype"] == "int8" and info["inputs"][0]["shape_signature"] == [1, 8, 8, 1]
    assert info["ops"]["CONV_2D"] == 1 and all(c["passed"] for c in info["full_integer_checks"])
    assert info["expects"].startswith("inputs preprocessed as: pixels 0–255 mapped to [0, 1], quantized: q = round(x / ")

    proc = run_cli("bench", out, "--runs", "5", "--max-runs", "5", "--warmup", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    bench = json.loads(proc.stdout)
    assert len(bench["times_ms"]) == 5 and bench["stats"]["median_ms"] > 0


def test_recipes_lists_presets_and_steps():
    proc = run_cli("recipes")
    assert proc.returncode == 0
    assert "edgetpu_int8" in proc.stdout and "target_sparsity=0.5" in proc.stdout


def test_missing_model_file(recipe_file, tmp_path):
    assert_bad_input(run_cli("optimize", recipe_file("  - convert: {}\n", model=tmp_path / "nope.keras"), "--out", tmp_path), "model not found")


def test_unreadable_model(recipe_file, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x00" * 64)
    assert_bad_input(run_cli("optimize", recipe_file("  - convert: {}\n", model=bad), "--out", tmp_path), "cannot read model")


def test_wrong_recipe_key(recipe_file, tmp_path):
    proc = run_cli("optimize", recipe_file("  - prune: {sparsity: 0.5}\n"), "--out", tmp_path / "runs")
    assert_bad_input(proc, "unknown option 'sparsity'; valid options: target_sparsity")
    assert not (tmp_path / "runs").exists()


def test_data_shape_does_not_match_the_model(recipe_file, tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((20, 28, 28, 1), "float32"), y=np.arange(20) % 10)
    proc = run_cli("optimize", recipe_file("  - convert: {}\n", data=tmp_path / "d.npz"), "--out", tmp_path)
    assert_bad_input(proc, "samples of shape (28, 28, 1) but the model takes (8, 8, 1)")


def test_labels_out_of_range(recipe_file, tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((20, 8, 8, 1), "float32"), y=np.arange(20))
    proc = run_cli("optimize", recipe_file("  - convert: {}\n", data=tmp_path / "d.npz"), "--out", tmp_path)
    assert_bad_input(proc, "labels up to 19 but the model has only 10 outputs")


def test_no_recipe_and_unknown_preset(tmp_path):
    assert_bad_input(run_cli("optimize"), "no recipe")
    assert_bad_input(run_cli("optimize", "--recipe", "edgeloop:nope", "--model", "m.keras"), "unknown preset")


def test_convert_never_overwrites_without_force(tmp_path, model_file):
    out = tmp_path / "m.tflite"
    out.write_bytes(b"keep me")
    assert_bad_input(run_cli("convert", model_file, "--float32", "-o", out), "exists; use --force")
    assert out.read_bytes() == b"keep me"


def test_convert_int8_needs_data_and_bench_needs_a_model(tmp_path, model_file):
    assert_bad_input(run_cli("convert", model_file, "--int8", "-o", tmp_path / "m.tflite"), "needs calibration data")
    (tmp_path / "junk.tflite").write_bytes(b"junk")
    assert run_cli("bench", tmp_path / "junk.tflite").returncode == 2
    assert run_cli("inspect", tmp_path / "missing.tflite").returncode == 2


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    assert_bad_input(run_cli("optimize", "--resume", tmp_path), "not a run folder")
