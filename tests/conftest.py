"""Shared fixtures: the real digits data and tiny tf_keras models that train in seconds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits, split 80/20 with seed 0."""
    from edgeloop.data import load_data

    return load_data("digits", val_fraction=0.2, seed=0)


def tiny_cnn(input_shape=(8, 8, 1), classes=10, softmax=False):
    """Conv(8) -> pool -> dense(32) -> dense(classes): ~4.5 k weights, trains in a second."""
    from edgeloop._tf import keras

    layers = [
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv"),
        keras.layers.MaxPooling2D(name="pool"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(32, activation="relu", name="fc"),
        keras.layers.Dense(classes, activation="softmax" if softmax else None, name="out"),
    ]
    return keras.Sequential(layers, name="tiny_cnn")


@pytest.fixture
def make_tiny_cnn():
    """Factory for fresh tiny CNNs."""
    return tiny_cnn


@pytest.fixture
def ctx(tmp_path, digits):
    """A pipeline context on digits writing into a temp run folder, collecting warnings."""
    import contextlib

    from edgeloop.pipeline import Context

    @contextlib.contextmanager
    def progress(description, total):
        yield lambda n=1: None

    warnings: list[str] = []
    context = Context(data=digits, run_dir=tmp_path, seed=0, progress=progress, warn=warnings.append)
    context.warnings = warnings  # type: ignore[attr-defined]
    return context


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run the real ``edgeloop`` command in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "edgeloop.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(pred, axis=-1) == y))
