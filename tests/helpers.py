"""Helpers the tests import: tiny models, the CLI in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tiny_cnn(input_shape=(8, 8, 1), classes=10, softmax=False, seed=0):
    """Conv(8) -> pool -> dense(32) -> dense(classes): ~4.5 k weights, trains in a second.

    The initial weights are seeded, so a test sees the same model every run.
    """
    from edgeloop._tf import keras

    keras.utils.set_random_seed(seed)
    layers = [
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv"),
        keras.layers.MaxPooling2D(name="pool"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(32, activation="relu", name="fc"),
        keras.layers.Dense(classes, activation="softmax" if softmax else None, name="out"),
    ]
    return keras.Sequential(layers, name="tiny_cnn")


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run the real ``edgeloop`` command in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "edgeloop.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )
