"""The pre-flight: ``edgeloop doctor`` per layer and per step, and ``optimize`` stopping
before any training in one line; bad input ends in one line and exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeloop.cli import main
from edgeloop.errors import EdgeloopError


def _cli(capsys, *args) -> tuple[int, str, str]:
    """The real command, in this process (TensorFlow is already loaded)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A model every step takes (separable convs, a residual add) and one with an LSTM."""
    from edgeloop._tf import keras
    from edgeloop.models import save_model

    folder = tmp_path_factory.mktemp("doctor")
    keras.utils.set_random_seed(0)
    L = keras.layers
    i = keras.Input((8, 8, 1))
    x = L.Conv2D(8, 3, padding="same", name="stem")(i)
    y = L.SeparableConv2D(8, 3, padding="same", activation="relu", name="sep")(x)
    x = L.Flatten(name="flat")(L.Add(name="add")([x, y]))
    save_model(keras.Model(i, L.Dense(10, name="out")(x)), folder / "sep.keras")
    i = keras.Input((8, 8, 1))
    x = L.Reshape((8, 8), name="rows")(i)
    x = L.LSTM(8, name="lstm")(x)
    save_model(keras.Model(i, L.Dense(10, name="out")(x)), folder / "lstm.keras")
    return folder


def _recipe(folder, steps: str, name="r.yaml"):
    path = folder / name
    path.write_text(f"name: t\nmodel: unused\ndata: digits\nsteps:\n{steps}")
    return path


def test_doctor_gives_each_layer_and_each_step_a_verdict(models, capsys):
    recipe = _recipe(models, "  - prune: {epochs: 1}\n  - qat: {epochs: 1}\n  - filter_prune: {}\n  - convert: {}\n")
    code, out, _ = _cli(capsys, "doctor", models / "sep.keras", "--recipe", recipe, "--data", "digits", "--json")
    assert code == 0
    result = json.loads(out)
    layers = {row["layer"]: row for row in result["layers"]}
    assert layers["sep"]["prune"] == {"applies": True, "detail": "pointwise_kernel"}
    assert layers["sep"]["qat"]["applies"] and "split" in layers["sep"]["qat"]["detail"]
    assert layers["stem"]["filter_prune"]["applies"] and layers["out"]["filter_prune"]["applies"] is False
    assert layers["flat"]["prune"]["applies"] is None
    assert layers["stem"]["edgetpu"]["applies"] is True
    assert result["conversion"]["ok"] and result["conversion"]["edgetpu"]["fully_mapped"]
    assert [(s["step"], s["can_run"]) for s in result["steps"]] == [
        ("prune", True), ("qat", True), ("filter_prune", True), ("convert", True)]


def test_doctor_names_the_layer_a_step_cannot_take_and_exits_1(models, capsys):
    recipe = _recipe(models, "  - train: {epochs: 1}\n  - qat: {epochs: 1}\n  - convert: {}\n")
    code, out, _ = _cli(capsys, "doctor", models / "lstm.keras", "--recipe", recipe)
    assert code == 1
    qat_line = next(line for line in out.splitlines() if line.strip().startswith("2 qat"))
    assert "cannot run: qat: layer lstm (LSTM)" in qat_line and "skip: [lstm]" in qat_line
    assert "lstm" in out and "QAT of the whole model: qat: layer lstm (LSTM)" in out


def test_optimize_stops_before_training_and_writes_nothing(models, tmp_path, capsys):
    recipe = _recipe(models, "  - train: {epochs: 1}\n  - qat: {epochs: 1}\n  - convert: {}\n")
    code, _, err = _cli(capsys, "optimize", recipe, "--model", models / "lstm.keras", "--out", tmp_path / "runs")
    assert code == 2
    line = _one_line(err)
    assert line.startswith("edgeloop: error: pre-flight: step 2 (qat) cannot run: qat: layer lstm (LSTM)")
    assert "skip: [lstm]" in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_the_way_out_the_pre_flight_names_works(models, tmp_path):
    from edgeloop.pipeline.runner import run
    from edgeloop.recipe import from_dict

    recipe = from_dict({"name": "t", "model": str(models / "lstm.keras"), "data": "digits", "measure_steps": False,
                        "steps": [{"train": {"epochs": 4, "learning_rate": 0.01}}, {"qat": {"epochs": 1, "skip": ["lstm"]}},
                                  {"convert": {"calibration_samples": 20}}]})
    result = run(recipe, out=tmp_path)
    qat = result.report["steps"][1]["result"]
    assert qat["layers_float"] == ["lstm"]
    assert any("left 1 layer(s) float" in w for w in result.report["warnings"])
    assert all(c["passed"] for c in result.report["steps"][2]["result"]["checks"])


@pytest.mark.parametrize("args, fragment", [
    (("doctor", "missing.keras"), "model not found"),
    (("doctor", "{models}/sep.keras", "--recipe", "{models}/bad.yaml"), "unknown option 'nope'"),
    (("doctor", "zoo:mobilenet_v2"), "needs data"),
    (("doctor", "{models}/sep.keras", "--data", "{models}/rgb.npz"), "has samples of shape (8, 8, 3)"),
])
def test_bad_input_is_one_line_and_exit_2(models, capsys, args, fragment):
    _recipe(models, "  - prune: {nope: 1}\n", "bad.yaml")
    np.savez(models / "rgb.npz", x=np.zeros((10, 8, 8, 3), np.float32), y=np.arange(10) % 2)
    code, _, err = _cli(capsys, *(a.format(models=models) for a in args))
    assert code == 2
    assert fragment in _one_line(err)


def test_int8_conversion_of_a_gru_is_refused_not_crashed():
    # TensorFlow's converter dies with a segmentation fault calibrating a GRU.
    from edgeloop._tf import keras
    from edgeloop.converters.tflite import convert

    i = keras.Input((5, 3))
    model = keras.Model(i, keras.layers.Dense(3)(keras.layers.GRU(4, name="gru")(i)))
    with pytest.raises(EdgeloopError, match=r"layer gru \(GRU\).*segmentation fault.*dynamic or float16"):
        convert(model, "int8", np.zeros((2, 5, 3), np.float32))
    assert len(convert(model, "dynamic")) > 0
