"""A model trained on [-1, 1] inputs, fed from an image folder written from the same digits:
without the right preprocess the float model is stopped before anything is converted, naming
the range; with it the folder path equals the .npz path; folding takes raw uint8 pixels and
predicts the same. Also label order, the label-free path on a non-classifier, and gates that
let the run finish with exit status 1."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeloop.data import load_data
from edgeloop.errors import EdgeloopError
from helpers import run_cli, tiny_cnn

RANGE = {"range": [-1, 1]}


@pytest.fixture(scope="module")
def digits_pixels(tmp_path_factory):
    """The 1,797 digits as 8x8 uint8 PNGs in class folders, and the same pixels as a [-1, 1] .npz in
    the folder's order (class by class, files sorted), so both give the same split."""
    from sklearn.datasets import load_digits

    from edgeloop._tf import tf

    root = tmp_path_factory.mktemp("digits")
    bunch = load_digits()
    pixels = np.round(bunch.images * (255 / 16)).astype(np.uint8)[..., None]
    order = np.lexsort((np.arange(len(pixels)), bunch.target))
    for i in order:
        folder = root / "images" / str(bunch.target[i])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:04d}.png").write_bytes(tf.io.encode_png(pixels[i]).numpy())
    np.savez(root / "digits.npz", x=pixels[order] / 127.5 - 1, y=bunch.target[order])
    return root


@pytest.fixture(scope="module")
def minus_one_model(digits_pixels):
    """tiny_cnn trained on the [-1, 1] .npz (the way a third-party MobileNet is trained)."""
    from edgeloop._tf import keras
    from edgeloop.models import save_model

    data = load_data(digits_pixels / "digits.npz")
    model = tiny_cnn()
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras.utils.set_random_seed(0)
    model.fit(data.x_train, data.y_train, epochs=6, batch_size=32, verbose=0)
    save_model(model, digits_pixels / "minus_one.keras")
    return model


def test_without_preprocess_the_wrong_range_is_stopped_naming_it(digits_pixels, minus_one_model, tmp_path):
    out = tmp_path / "m.tflite"
    proc = run_cli("convert", digits_pixels / "minus_one.keras", "--int8", "--data", digits_pixels / "images", "-o", out)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and not out.exists()
    (line,) = proc.stderr.strip().splitlines()
    assert "as the data is fed (pixels 0–255 mapped to [0, 1])" in line
    assert "likely cause: preprocessing range — with pixels 0–255 mapped to [-1, 1]" in line and "--force" in line


def test_with_the_preprocess_the_folder_path_equals_the_npz_path(digits_pixels, minus_one_model):
    from edgeloop.pipeline.convert_file import convert_file

    folder = load_data(digits_pixels / "images", preprocess="tf")
    npz = load_data(digits_pixels / "digits.npz")
    np.testing.assert_allclose(folder.x_val, npz.x_val, atol=1e-6)
    assert folder.class_names == tuple(str(i) for i in range(10))
    from_folder = convert_file(minus_one_model, "int8", "int8", True, folder, samples=100)
    from_npz = convert_file(minus_one_model, "int8", "int8", True, npz, samples=100)
    assert from_folder.accuracy["float"] > 0.85
    assert from_folder.accuracy == from_npz.accuracy
    assert from_folder.fidelity["top1_agreement"] > 0.97


def test_folded_file_takes_uint8_pixels_and_predicts_the_same(digits_pixels, minus_one_model, tmp_path):
    from edgeloop.converters.metadata import read_metadata
    from edgeloop.device.interpreter import TFLiteModel
    from edgeloop.models.fold import fold_preprocessing

    data = load_data(digits_pixels / "images", preprocess=RANGE)
    pixels = np.round(data.raw(data.x_val))
    # Keras: the folded model on raw pixels gives the unfolded model's outputs on the preprocessed ones.
    folded = fold_preprocessing(minus_one_model, data.preprocess)
    np.testing.assert_allclose(folded.predict(pixels, verbose=0), minus_one_model.predict(data.x_val, verbose=0),
                               atol=1e-5)
    out = tmp_path / "raw.tflite"
    proc = run_cli("convert", digits_pixels / "minus_one.keras", "--int8", "--io-type", "uint8", "--data",
                   digits_pixels / "images", "--preprocess", "{range: [-1, 1]}", "--fold-preprocessing", "-o", out,
                   "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["input"].startswith("raw 0–255 pixels as uint8 (scale 1, zero point 0)")
    assert {c["name"]: c["passed"] for c in result["checks"]}["fold_equivalent"]
    raw_model = TFLiteModel(out)
    assert raw_model.input_details[0]["dtype"] == np.uint8
    assert raw_model.input_details[0]["quantization"] == (1.0, 0)
    direct = raw_model.interpreter  # the camera's bytes, no quantization step of ours in between
    predictions = []
    for image in pixels.astype(np.uint8):
        direct.set_tensor(raw_model.input_details[0]["index"], image[None])
        direct.invoke()
        predictions.append(direct.get_tensor(raw_model.output_details[0]["index"])[0].argmax())
    accuracy = float(np.mean(np.asarray(predictions) == data.y_val))
    assert abs(accuracy - result["accuracy"]["float"]) <= 2 / len(pixels)
    assert read_metadata(out.read_bytes())["folded"] is True


def test_sanity_stops_a_run_before_compression_and_force_goes_on(digits_pixels, minus_one_model, tmp_path):
    from edgeloop.pipeline.runner import run
    from edgeloop.pipeline.sanity import SanityError
    from edgeloop.recipe import from_dict

    recipe = {"name": "s", "model": str(digits_pixels / "minus_one.keras"), "data": str(digits_pixels / "images"),
              "measure_steps": False, "steps": [{"convert": {"calibration_samples": 20, "baseline": False}},
                                                {"evaluate": {"max_drop": None}}]}
    with pytest.raises(SanityError, match=r"preprocessing range — with pixels 0–255 mapped to \[-1, 1\]"):
        run(from_dict(recipe), out=tmp_path / "stopped")
    (stopped,) = (tmp_path / "stopped").iterdir()
    assert not (stopped / "model.tflite").exists()  # stopped before compression
    assert json.loads((stopped / "report.json").read_text())["status"] == "failed"
    forced = run(from_dict(recipe), out=tmp_path / "forced", force=True)
    assert forced.report["status"] == "finished" and forced.report["sanity"]["forced"]
    assert any("--force: going on" in w for w in forced.report["warnings"])
    right = run(from_dict({**recipe, "preprocess": RANGE}), out=tmp_path / "right")
    assert right.report["sanity"]["verdict"] == "ok" and "Sanity before compression" in (right.run_dir / "report.md").read_text()


def test_label_order_and_recorded_accuracy(digits_pixels, minus_one_model, tmp_path):
    import shutil

    from edgeloop.pipeline.sanity import check_baseline

    shutil.copytree(digits_pixels / "images", tmp_path / "images")
    (tmp_path / "images" / "classes.txt").write_text("\n".join(str(i) for i in reversed(range(10))))
    reversed_labels = check_baseline(minus_one_model, load_data(tmp_path / "images", preprocess=RANGE))
    assert reversed_labels["verdict"] == "chance" and "likely cause: label order" in reversed_labels["message"]
    right = load_data(digits_pixels / "images", preprocess=RANGE)
    assert check_baseline(minus_one_model, right)["verdict"] == "ok"
    below = check_baseline(minus_one_model, load_data(digits_pixels / "images"), expected_accuracy=0.99)
    assert below["verdict"] == "below_expected" and "far below the 99.0% its training recorded" in below["message"]
    assert "likely cause: preprocessing range" in below["message"]


def tiny_autoencoder():
    """8x8x1 -> 8x8x1, no classes: "accuracy" means nothing."""
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                             keras.layers.Conv2D(1, 3, padding="same")], name="ae")


def test_label_free_non_classifier_and_a_failed_gate_exit_1(tmp_path):
    from edgeloop.models import save_model

    save_model(tiny_autoencoder(), tmp_path / "ae.keras")
    np.savez(tmp_path / "x.npz", x=load_data("digits").x_train)  # x only: no labels
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: ae\nmodel: {tmp_path / 'ae.keras'}\ndata: {tmp_path / 'x.npz'}\nsteps:\n"
                      "  - convert: {calibration_samples: 50}\n  - evaluate: {min_snr_db: 200}\n"
                      "  - benchmark: {warmup: 1, runs: 5, baseline: false}\n")
    proc = run_cli("optimize", recipe, "--out", tmp_path / "runs", "--json", "-q")
    assert proc.returncode == 1, proc.stderr  # a gate, not bad input
    report = json.loads(proc.stdout)
    assert report["status"] == "gate_failed" and [g["gate"] for g in report["failed_gates"]] == ["output_snr"]
    steps = {e["step"]: e["result"] for e in report["steps"]}
    assert "stats" in steps["benchmark"]["model"]  # the later step still ran
    ev = steps["evaluate"]
    assert ev["task"] == "other" and not ev["labeled"] and "accuracy" not in ev
    fid = ev["fidelity"]["converted_vs_float"]
    assert 15 < fid["snr_db"] < 200 and fid["cosine"] > 0.99 and "changed" not in fid
    assert report["sanity"]["verdict"] == "no_labels"


def test_unlabelled_data_refuses_training_before_the_run(tmp_path):
    from edgeloop.pipeline.runner import run
    from edgeloop.recipe import from_dict

    np.savez(tmp_path / "x.npz", x=np.zeros((20, 8, 8, 1)))
    recipe = from_dict({"name": "t", "model": "zoo:digits_cnn", "data": str(tmp_path / "x.npz"),
                        "steps": [{"train": {"epochs": 1}}]})
    with pytest.raises(EdgeloopError, match="zoo model starts untrained and needs labelled data"):
        run(recipe, out=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
