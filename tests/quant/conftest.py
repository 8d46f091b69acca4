"""Fixtures of the quantization tests: the checked-in third-party files, a tiny trained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tflite"


@pytest.fixture(scope="session")
def face_short() -> bytes:
    """MediaPipe's short-range face detector: float16 weights, no signature (see fixtures/tflite/README.md)."""
    return (FIXTURES / "face_detection_short_range.tflite").read_bytes()


@pytest.fixture(scope="session")
def face_sparse() -> bytes:
    """MediaPipe's full-range face detector with sparse (DENSIFY) float16 weights."""
    return (FIXTURES / "face_detection_full_range_sparse.tflite").read_bytes()


@pytest.fixture(scope="session")
def face_npz(tmp_path_factory) -> Path:
    """40 inputs for the short-range detector in its [-1, 1] scale (smooth random images)."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(-1, 1, (40, 16, 16, 3)).astype(np.float32)
    x = np.repeat(np.repeat(coarse, 8, 1), 8, 2)
    path = tmp_path_factory.mktemp("face") / "faces.npz"
    np.savez(path, x=x, y=np.zeros(len(x), np.int64))
    return path


@pytest.fixture(scope="session")
def trained_float(digits) -> bytes:
    """The tiny CNN trained 3 epochs on digits, converted to float32 by TensorFlow's converter."""
    from helpers import tiny_cnn

    from edgeloop._tf import keras
    from edgeloop.converters.tflite import convert

    model = tiny_cnn()
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(digits.x_train, digits.y_train, epochs=3, verbose=0)
    return convert(model, mode="float32")
