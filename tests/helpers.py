"""Helpers the tests import: tiny models, models users bring (nested, Xception-style), the CLI in a subprocess."""

from __future__ import annotations

import atexit
import os
import subprocess
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


def mini_xception(shape=(16, 16, 3), classes=10):
    """The residual mini-Xception module: SeparableConv2D + BN, MaxPool stride 2, a 1x1
    stride-2 Conv2D shortcut, Add; Keras's own layer names, as a user's file holds them
    (the compatibility benchmark's model, at the tests' size)."""
    from benchmarks.compat import mini_xception as build

    return build(shape, classes)


def train_and_save(model, digits, epochs: int, path: Path) -> Path:
    """``model`` trained on ``digits`` (seed 0, batches of 32, Adam 1e-3) and saved at ``path``."""
    from edgeloop._tf import keras
    from edgeloop.pipeline._training import compile_classifier

    compile_classifier(model, 1e-3)
    keras.utils.set_random_seed(0)
    model.fit(digits.x_train, digits.y_train, epochs=epochs, batch_size=32, verbose=0)
    model.save(path)
    return path


def with_step_options(steps: list[dict], options: dict[str, dict]) -> list[dict]:
    """A recipe's ``steps`` (as YAML loads them) with ``options[step]`` laid over each step's own
    (a committed recipe made quicker for a test: its steps and their order unchanged)."""
    return [{name: {**(opts or {}), **options.get(name, {})}} for step in steps for name, opts in step.items()]


def small_base(name="base"):
    """A small 'application' for nesting: conv -> BN -> ReLU -> separable -> add."""
    from edgeloop._tf import keras

    i = keras.Input((8, 8, 3), name="base_input")
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(i)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    y = keras.layers.SeparableConv2D(8, 3, padding="same", name="sep")(x)
    return keras.Model(i, keras.layers.Add(name="add")([x, y]), name=name)


def nested_transfer(sequential=False):
    """The transfer-learning pattern around :func:`small_base`: ``base(x, training=False)``,
    a new head, and a head layer named like one inside the base ("conv")."""
    import numpy as np

    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    base = small_base()
    bn = base.get_layer("bn")  # moving statistics that differ from the initial 0 / 1
    bn.set_weights([w + np.random.default_rng(0).random(w.shape).astype(np.float32) for w in bn.get_weights()])
    head = [keras.layers.GlobalAveragePooling2D(name="pool"), keras.layers.Dense(10, name="conv")]
    if sequential:
        return keras.Sequential([keras.Input((8, 8, 3)), base, *head])
    i = keras.Input((8, 8, 3))
    x = base(i, training=False)
    return keras.Model(i, head[1](head[0](x)))


_SERVER = None


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300, env: dict[str, str] | None = None,
            script: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real ``edgeloop`` command (or ``python SCRIPT``) in a process of its own.

    The process is forked from a server that has imported TensorFlow once
    (:mod:`benchmarks.forkserver`; ~80 commands in the suite would otherwise each spend
    5-10 s on the import); it gets this test's environment (``env`` if given) and working
    folder, and its own status, stdout and stderr. ``EDGELOOP_TEST_FRESH_PROCESSES=1``
    starts a fresh interpreter for each instead.
    """
    from benchmarks.forkserver import ForkServer, command_line

    global _SERVER
    env = dict(os.environ if env is None else env)
    if os.environ.get("EDGELOOP_TEST_FRESH_PROCESSES") == "1":
        return subprocess.run(command_line(args, script), capture_output=True, text=True, cwd=cwd, timeout=timeout,
                              env=env)
    if _SERVER is None or _SERVER.proc.poll() is not None:
        _SERVER = ForkServer()
        atexit.register(_SERVER.close)
    return _SERVER.call(list(args), script=None if script is None else str(script), env=env, cwd=cwd,
                        timeout=timeout)
