"""Running a converted model like the float one: the model's own quantization, same answers."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.device.interpreter import TFLiteModel, dequantize, load_interpreter, quantize, runtime_name
from edgeloop.errors import EdgeloopError


@pytest.mark.parametrize("name", ["int8", "uint8", "float32"])
def test_predictions_agree_with_the_keras_model(trained_model_and_files, digits, name):
    model, files = trained_model_and_files
    x = digits.x_val[:200]
    want = model.predict(x, verbose=0)
    got = TFLiteModel(files[name]).predict(x)
    assert got.shape == want.shape
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.95
    if name == "float32":
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    else:
        step = TFLiteModel(files[name]).output_details[0]["quantization"][0]
        assert np.median(np.abs(got - want)) < 3 * step


def test_inputs_use_the_models_own_scale_and_zero_point(trained_model_and_files):
    _, files = trained_model_and_files
    detail = TFLiteModel(files["uint8"]).input_details[0]
    scale, zero_point = detail["quantization"]
    assert detail["dtype"] == np.uint8 and scale > 0
    x = np.array([0.0, 0.5, 1.0, 1e6], dtype=np.float32)
    q = quantize(x, detail)
    assert q.dtype == np.uint8
    np.testing.assert_array_equal(q, np.clip(np.round(x / scale + zero_point), 0, 255))
    np.testing.assert_allclose(dequantize(q[:3], detail), x[:3], atol=scale / 2 + 1e-7)


def test_progress_and_shape_mismatch(trained_model_and_files):
    _, files = trained_model_and_files
    m = TFLiteModel(files["int8"])
    seen = []
    m.predict(np.zeros((3, 8, 8, 1), np.float32), progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(EdgeloopError, match=r"shape \(28, 28, 1\) but the model takes \(8, 8, 1\)"):
        m.predict(np.zeros((1, 28, 28, 1), np.float32))


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(EdgeloopError, match="model not found"):
        load_interpreter(tmp_path / "missing.tflite")
    (tmp_path / "junk.tflite").write_bytes(b"junk" * 10)
    with pytest.raises(EdgeloopError, match="cannot load TFLite model"):
        load_interpreter(tmp_path / "junk.tflite")


def test_runtime_is_litert():
    assert runtime_name().startswith("ai-edge-litert ")
