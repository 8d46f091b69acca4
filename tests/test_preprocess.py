"""Preprocessing as data: the named conventions equal tf_keras.applications' own, specs round-trip
through recipes, the raw pixels come back, and bad specs are one clear error."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.errors import EdgeloopError
from edgeloop.preprocess import Preprocess, convert_color


@pytest.mark.parametrize("application", ["mobilenet_v2", "inception_v3", "resnet50", "vgg16", "densenet",
                                         "efficientnet", "mobilenet_v3"])
def test_conventions_equal_tf_keras_applications(application):
    import importlib

    pixels = np.random.default_rng(0).uniform(0, 255, (3, 5, 5, 3))
    module = application if application != "resnet50" else "resnet"
    ours = Preprocess.parse(application)
    theirs = importlib.import_module(f"tf_keras.applications.{module}").preprocess_input(pixels.copy())
    np.testing.assert_allclose(ours.normalize(convert_color(pixels, ours.color)), theirs, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("spec", ["torch", "caffe", {"range": [-1, 1], "color": "bgr"}, {"scale": 0.5, "offset": 3},
                                  {"range": [0, 1], "mean": [0.5], "std": [0.25], "size": [4, 4],
                                   "interpolation": "nearest"}])
def test_specs_round_trip_and_the_raw_pixels_come_back(spec):
    ours = Preprocess.parse(spec)
    assert Preprocess.parse(ours.to_dict()) == ours
    pixels = np.random.default_rng(1).integers(0, 256, (2, 3, 3, 3)).astype(np.float64)
    x = ours.normalize(convert_color(pixels, ours.color))
    np.testing.assert_allclose(ours.raw(x), pixels, atol=2e-3)  # RGB camera order, whatever the model takes


def test_text_forms_of_the_command_line(tmp_path):
    assert Preprocess.parse("{range: [-1, 1]}") == Preprocess.parse({"range": [-1, 1]})
    assert Preprocess.parse('{"convention": "torch"}') == Preprocess.parse("torch")
    (tmp_path / "p.yaml").write_text("range: [-1, 1]\ncolor: grayscale\n")
    assert Preprocess.parse(str(tmp_path / "p.yaml")).color == "grayscale"
    assert Preprocess.parse("tf").range == (-1.0, 1.0) and Preprocess.parse("tf").scale == 1 / 127.5


@pytest.mark.parametrize("spec, fragment", [
    ("nope", "unknown convention 'nope'"),
    ({"rang": [0, 1]}, "unknown key 'rang'; valid keys: convention"),
    ({"range": [1, 0]}, "high > low"),
    ({"range": [0, 1], "scale": 2}, "range or scale / offset, not both"),
    ({"convention": "caffe", "color": "rgb"}, "convention caffe sets color"),
    ({"std": [0.0]}, "std must hold finite non-zero numbers"),
    ({"color": "rgb", "mean": [1, 2]}, "mean needs 1 or 3 values"),
    ({"interpolation": "cubic"}, "interpolation must be one of"),
    ({"size": [8]}, "size must be"),
    ("{range: [-1, 1]", "not a convention name or a mapping"),
    ("missing.yaml", "file not found"),
])
def test_bad_specs_are_one_clear_error(spec, fragment):
    with pytest.raises(EdgeloopError, match=fragment.replace("(", r"\(").replace("[", r"\[")):
        Preprocess.parse(spec)
