"""Hostile data: NaN / ±inf, empty arrays, flat samples for an image model, a label of 2^31.
Each is one line naming the array and the place, exit status 2, before any training or
conversion (``convert --int8`` with inf in x used to crash the converter: exit -11)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.errors import EdgeloopError
from helpers import run_cli, tiny_cnn


def one_line(proc) -> str:
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    return line


def test_convert_with_inf_in_the_data_is_one_line(tmp_path):
    from edgeloop.models import save_model

    save_model(tiny_cnn(), tmp_path / "m.keras")
    x = np.random.default_rng(0).random((40, 8, 8, 1)).astype("float32")
    x[3, 1, 2, 0] = np.inf
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(40) % 10)
    line = one_line(run_cli("convert", tmp_path / "m.keras", "--int8", "--data", tmp_path / "d.npz", "-o",
                            tmp_path / "m.tflite"))
    assert f"{tmp_path / 'd.npz'}: x[3, 1, 2, 0] is inf (1 non-finite value(s) in x)" in line
    assert not (tmp_path / "m.tflite").exists()


def test_flat_samples_for_an_image_zoo_model_are_one_line(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((40, 64), "float32"), y=np.arange(40) % 10)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: t\nmodel: zoo:digits_cnn\ndata: {tmp_path / 'd.npz'}\nsteps:\n  - train: {{epochs: 1}}\n")
    line = one_line(run_cli("optimize", recipe, "--out", tmp_path / "runs", "-q"))
    assert "model digits_cnn takes images (height, width, channels); got sample shape (64,)" in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("arrays, fragment", [
    ({"x": np.full((20, 8, 8, 1), np.nan), "y": np.arange(20) % 10}, r"x\[0, 0, 0, 0\] is nan"),
    ({"x": np.zeros((0, 8, 8, 1)), "y": np.zeros(0)}, "x is empty"),
    ({"x": np.zeros((20, 8, 8, 1)), "y": np.r_[np.arange(19) % 10, 2**31]}, r"label 2147483648 at y\[19\]"),
])
def test_a_run_refuses_bad_arrays_before_any_work(tmp_path, arrays, fragment):
    from edgeloop.pipeline.runner import run
    from edgeloop.recipe import from_dict

    np.savez(tmp_path / "d.npz", **arrays)
    recipe = from_dict({"name": "t", "model": "zoo:digits_cnn", "data": str(tmp_path / "d.npz"),
                        "steps": [{"train": {"epochs": 1}}]})
    with pytest.raises(EdgeloopError, match=fragment):
        run(recipe, out=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
