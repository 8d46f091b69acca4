"""Section 8: models from anywhere, converted to verified int8, against the same model in tf_keras.

One CNN for digits is trained by Keras 3 itself (a child process without
``TF_USE_LEGACY_KERAS``) on edgeloop's training split and saved as ``.keras``, ``.h5`` and a ``model.export()`` folder;
the same architecture is built in tf_keras, Functional and subclassed, with the same
weights. Each is loaded with :func:`edgeloop.models.loading.load_any_model` and converted to
full int8 (calibrated on the same 200 samples) and verified, in this process, timed
(median of the repeats): what reading a Keras 3 file through the child costs next to a
tf_keras file, and whether every path gives the same int8 accuracy.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import Progress, table

_KERAS3 = '''
import sys
import numpy as np
import keras

out = sys.argv[1]
keras.utils.set_random_seed(0)
with np.load(out + "/train.npz") as f:  # edgeloop's own training split: the validation split stays unseen
    x, y = f["x"], f["y"]
inp = keras.Input((8, 8, 1), name="image")
h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inp)
h = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
h = keras.layers.MaxPooling2D(name="pool")(h)
h = keras.layers.Flatten(name="flatten")(h)
model = keras.Model(inp, keras.layers.Dense(10, name="logits")(h))
model.compile(keras.optimizers.Adam(0.005), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(x, y, epochs=EPOCHS, batch_size=32, verbose=0)
model.save(out + "/k3.keras")
model.save(out + "/k3.h5")
model.export(out + "/k3_export", verbose=False)
np.savez(out + "/weights.npz", *model.get_weights())
'''


def _tf_keras_twins(folder: Path) -> None:
    """The same CNN in tf_keras, Functional (``.keras``) and subclassed (SavedModel), same weights."""
    from edgeloop._tf import keras

    with np.load(folder / "weights.npz") as f:
        weights = [f[f"arr_{i}"] for i in range(len(f.files))]

    def layers():
        return [keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
                keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
                keras.layers.MaxPooling2D(name="pool"), keras.layers.Flatten(name="flatten"),
                keras.layers.Dense(10, name="logits")]

    inp = keras.Input((8, 8, 1), name="image")
    h = inp
    for layer in layers():
        h = layer(h)
    functional = keras.Model(inp, h)
    functional.set_weights(weights)
    functional.save(folder / "tf_keras.keras")

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.parts = layers()

        def call(self, x, training=False):
            for layer in self.parts:
                x = layer(x)
            return x

    net = Net()
    net(np.zeros((1, 8, 8, 1), np.float32))
    net.set_weights(weights)
    net.save(folder / "subclassed")


SOURCES = (
    ("tf_keras Functional .keras", "tf_keras.keras"),
    ("tf_keras subclassed SavedModel", "subclassed"),
    ("Keras 3 .keras (child process)", "k3.keras"),
    ("Keras 3 .h5 (child process)", "k3.h5"),
    ("Keras 3 model.export() folder", "k3_export"),
)


def _one(path: Path, data) -> dict:
    from edgeloop.converters import read_model, verify
    from edgeloop.converters.tflite import convert
    from edgeloop.device.interpreter import TFLiteModel
    from edgeloop.models.loading import load_any_model

    started = time.perf_counter()
    model = load_any_model(path)
    loaded = time.perf_counter()
    blob = convert(model, "int8", data.representative(200))
    checks = verify(read_model(blob), mode="int8", io_type="int8")
    done = time.perf_counter()
    float_pred = model.predict(data.x_val, verbose=0)
    int8_pred = TFLiteModel(blob).predict(data.x_val)
    return {
        "kind": type(model).__name__ if not hasattr(model, "kind") else model.kind,
        "load_s": loaded - started,
        "convert_s": done - loaded,
        "total_s": done - started,
        "verified_int8": all(c.passed for c in checks),
        "float_accuracy": float(np.mean(float_pred.argmax(-1) == data.y_val)),
        "int8_accuracy": float(np.mean(int8_pred.argmax(-1) == data.y_val)),
        "logits": float_pred[:50],
    }


def run(quick: bool, progress: Progress) -> dict:
    """Build the models, load and convert each ``repeats`` times; the medians and the scores."""
    from edgeloop.data import load_data

    repeats = 1 if quick else 3
    data = load_data("digits")
    with tempfile.TemporaryDirectory(prefix="edgeloop-bench-anywhere-") as tmp:
        folder = Path(tmp)
        np.savez(folder / "train.npz", x=data.x_train, y=data.y_train)
        env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
        script = _KERAS3.replace("EPOCHS", "2" if quick else "8")
        subprocess.run([sys.executable, "-c", script, str(folder)], env=env, check=True, capture_output=True, timeout=900)
        _tf_keras_twins(folder)
        rows = {}
        for label, name in SOURCES:
            runs = []
            for i in range(repeats):
                progress(f"anywhere: {label} ({i + 1}/{repeats})")
                runs.append(_one(folder / name, data))
            reference = rows[SOURCES[0][0]]["logits"] if rows else runs[0]["logits"]
            rows[label] = {
                **{k: runs[0][k] for k in ("kind", "verified_int8", "float_accuracy", "int8_accuracy")},
                **{k: statistics.median(r[k] for r in runs) for k in ("load_s", "convert_s", "total_s")},
                "max_logit_diff_vs_tf_keras": float(np.abs(runs[0]["logits"] - reference).max()),
                "logits": runs[0]["logits"],
            }
    for row in rows.values():
        row.pop("logits")
    base = rows[SOURCES[0][0]]["total_s"]
    for row in rows.values():
        row["total_vs_tf_keras"] = row["total_s"] / base
    return {"repeats": repeats, "rows": rows}


def render(f: dict) -> str:
    """The section's table and what it says."""
    header = ("model", "read as", "load (s)", "convert + verify (s)", "total vs tf_keras", "verified int8",
              "float acc.", "int8 acc.", "max |logit diff| vs tf_keras")
    rows = [(label, r["kind"], f"{r['load_s']:.2f}", f"{r['convert_s']:.2f}", f"{r['total_vs_tf_keras']:.1f}x",
             "yes" if r["verified_int8"] else "NO", f"{r['float_accuracy']:.2%}", f"{r['int8_accuracy']:.2%}",
             f"{r['max_logit_diff_vs_tf_keras']:.1e}") for label, r in f["rows"].items()]
    return (table(header, rows) + "\n\n"
            f"Medians of {f['repeats']} load + convert runs in one process. A Keras 3 `.keras` / `.h5` is read by "
            "Keras 3 in a child process that exports its serving function (most of its load time is that process "
            "importing TensorFlow and Keras 3); everything else is read here.")
