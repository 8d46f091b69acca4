"""Models from anywhere, built here once per test session: what users bring that edgeloop did not make.

- a subclassed tf_keras model saved as a SavedModel (no Functional graph);
- Keras 3 models (``import keras`` with TensorFlow 2.21), written by a real Keras 3 in a
  subprocess without ``TF_USE_LEGACY_KERAS``: ``.keras``, ``.h5``, a ``model.export()``
  folder, a two-input / two-output model, and one with a custom layer;
- tf_keras models with two inputs (one or two outputs), with a custom layer (and the
  Python file defining it), and with an ELU in the middle (no int8 kernel);
- ``.npz`` data for the two-input models: digits images plus four features, by input name
  and as ``x0`` / ``x1``.

Every model is trained for a few epochs on digits (8x8), so scores mean something.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EPOCHS = 3

LAYERS_TF_KERAS = '''\
"""A custom layer for tf_keras models: a learned scale."""
import tf_keras as keras


class Scale(keras.layers.Layer):
    """Multiplies its input by one learned value."""

    def build(self, input_shape):
        self.k = self.add_weight(name="k", shape=(), initializer="ones")

    def call(self, x):
        return x * self.k
'''

LAYERS_KERAS3 = LAYERS_TF_KERAS.replace("import tf_keras as keras", "import keras").replace("tf_keras", "Keras 3")

KERAS3_SCRIPT = '''\
import os, sys
import numpy as np
import keras
from sklearn.datasets import load_digits

out = sys.argv[1]
sys.path.insert(0, out)
from k3_layers import Scale

keras.utils.set_random_seed(0)
d = load_digits()
x = (d.images / 16.0).astype("float32")[..., None]
y = d.target
meta = np.stack([x.mean((1, 2, 3)), x[:, :4].mean((1, 2, 3)), x[:, 4:].mean((1, 2, 3)), x.std((1, 2, 3))], 1)

def cnn(custom=False):
    inp = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp)
    if custom:
        h = Scale(name="scale")(h)
    h = keras.layers.MaxPooling2D(name="pool")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    return keras.Model(inp, keras.layers.Dense(10, name="logits")(h))

def fit(model, inputs, targets, loss):
    model.compile(keras.optimizers.Adam(0.005), loss)
    model.fit(inputs, targets, epochs=EPOCHS, batch_size=32, verbose=0)

sce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
m = cnn()
fit(m, x, y, sce)
m.save(os.path.join(out, "k3.keras"))
m.save(os.path.join(out, "k3.h5"))
m.export(os.path.join(out, "k3_export"), verbose=False)

c = cnn(custom=True)
fit(c, x, y, sce)
c.save(os.path.join(out, "k3_custom.keras"))

a, b = keras.Input((8, 8, 1), name="image"), keras.Input((4,), name="meta")
h = keras.layers.Flatten()(keras.layers.Conv2D(8, 3, activation="relu")(a))
h = keras.layers.Concatenate()([h, b])
mm = keras.Model([a, b], [keras.layers.Dense(10, name="cls")(h), keras.layers.Dense(1, name="reg")(h)])
mm.compile(keras.optimizers.Adam(0.005), [sce, "mse"])
mm.fit([x, meta], [y, meta[:, :1]], epochs=EPOCHS, batch_size=32, verbose=0)
mm.save(os.path.join(out, "k3_multi.keras"))
'''.replace("EPOCHS", str(EPOCHS))


def make_keras3_models(folder: Path) -> None:
    """Write the Keras 3 models with Keras 3 itself, in a subprocess (this one runs tf_keras)."""
    (folder / "k3_layers.py").write_text(LAYERS_KERAS3)
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    proc = subprocess.run([sys.executable, "-c", KERAS3_SCRIPT, str(folder)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _meta(x: np.ndarray) -> np.ndarray:
    """Four features of each image (mean, top and bottom half means, spread)."""
    return np.stack([x.mean((1, 2, 3)), x[:, :4].mean((1, 2, 3)), x[:, 4:].mean((1, 2, 3)), x.std((1, 2, 3))], 1)


def _fit(model, x, y, loss) -> None:
    from edgeloop._tf import keras

    model.compile(keras.optimizers.Adam(0.005), loss)
    model.fit(x, y, epochs=EPOCHS, batch_size=32, verbose=0)


def make_tf_keras_models(folder: Path, digits) -> None:
    """The subclassed SavedModel, the two-input models, the custom-layer and the ELU model."""
    from edgeloop._tf import keras, tf

    sce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x, y = digits.x_train, digits.y_train
    keras.utils.set_random_seed(0)

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(8, 3, padding="same", activation="relu")
            self.pool = keras.layers.MaxPooling2D()
            self.flat = keras.layers.Flatten()
            self.fc = keras.layers.Dense(10)

        def call(self, inputs, training=False):
            return self.fc(self.flat(self.pool(self.conv(inputs))))

    net = Net()
    _fit(net, x, y, sce)
    net.save(folder / "subclassed")

    class NoSignature(tf.Module):
        @tf.function
        def double(self, t):
            return t * 2.0

    tf.saved_model.save(NoSignature(), str(folder / "no_signature"))

    def two_inputs(outputs: int):
        a, b = keras.Input((8, 8, 1), name="image"), keras.Input((4,), name="meta")
        h = keras.layers.Flatten(name="flatten")(keras.layers.Conv2D(8, 3, activation="relu", name="conv")(a))
        h = keras.layers.Concatenate(name="join")([h, b])
        outs = [keras.layers.Dense(10, name="cls")(h)] + ([keras.layers.Dense(1, name="reg")(h)] if outputs == 2 else [])
        return keras.Model([a, b], outs, name=f"two_in_{outputs}_out")

    meta = _meta(x)
    multi = two_inputs(2)
    multi.compile(keras.optimizers.Adam(0.005), [sce, "mse"])
    multi.fit([x, meta], [y, meta[:, :1]], epochs=EPOCHS, batch_size=32, verbose=0)
    multi.save(folder / "multi.keras")
    two_inputs(1).save(folder / "multi_in.keras")  # trained by the pipeline's own train step

    (folder / "my_layers.py").write_text(LAYERS_TF_KERAS)
    sys.path.insert(0, str(folder))
    try:
        from my_layers import Scale  # noqa: E402  (the file just written)
    finally:
        sys.path.remove(str(folder))
    inp = keras.Input((8, 8, 1))
    h = Scale(name="scale")(keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp))
    custom = keras.Model(inp, keras.layers.Dense(10, name="logits")(keras.layers.Flatten(name="flatten")(h)))
    _fit(custom, x, y, sce)
    custom.save(folder / "custom.keras")

    inp = keras.Input((8, 8, 1))
    h = keras.layers.ELU(name="elu")(keras.layers.Conv2D(8, 3, padding="same", name="conv")(inp))
    elu = keras.Model(inp, keras.layers.Dense(10, name="logits")(keras.layers.Flatten(name="flatten")(h)))
    _fit(elu, x, y, sce)
    elu.save(folder / "elu.keras")


def make_data(folder: Path, digits) -> None:
    """Two-input data: by input name (``image``, ``meta``), and as ``x0`` / ``x1``."""
    x = np.concatenate([digits.x_train, digits.x_val])
    y = np.concatenate([digits.y_train, digits.y_val])
    np.savez(folder / "multi.npz", image=x, meta=_meta(x), y=y)
    np.savez(folder / "multi_x0x1.npz", x0=x, x1=_meta(x), y=y)
    np.savez(folder / "multi_wrong_names.npz", picture=x, meta=_meta(x), y=y)


@pytest.fixture(scope="session")
def anywhere(tmp_path_factory, digits) -> Path:
    """The folder holding every model and data file above."""
    folder = tmp_path_factory.mktemp("anywhere")
    make_keras3_models(folder)
    make_tf_keras_models(folder, digits)
    make_data(folder, digits)
    return folder
