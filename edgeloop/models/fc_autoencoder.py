"""The fully-connected autoencoder: MLPerf Tiny's anomaly detection reference (ToyADMOS).

Banbury et al. 2021, "MLPerf Tiny Benchmark", arXiv:2106.07597 (the anomaly detection
benchmark's "FC-AutoEncoder", 270 KB as int8); the model is ``get_model`` in mlcommons/tiny
``benchmark/training/anomaly_detection/keras_model.py`` (from the DCASE 2020 task 2
baseline): 640 inputs (5 frames x 128 mel bins), four Dense(128) layers, a Dense(8)
bottleneck, four Dense(128) layers and a Dense(640) reconstruction, batch norm and ReLU
after every hidden layer. Parameters: 267,928 trainable (269,992 with batch-norm
statistics, the benchmark's "270 K") counted from that definition; MACs: 264,192, the
reference model's in siliconlabs/mltk ``mltk/models/tinyml/anomaly_detection.py`` ("Total
MACs: 264.192 k").

Not a classifier. With ``classes=None`` (its reference configuration) the output is the
reconstruction, shaped like the input; anomaly scores are reconstruction errors, which
edgeloop's classification pipeline does not compute. With a class count (what a recipe's
``model: zoo:fc_autoencoder`` and a distillation ``student:`` pass, taken from the data) a
Dense layer of logits reads the reconstruction: the network keeps the reference's layers
and cost, plus ``inputs x classes`` MACs, so it trains, distils, converts and benchmarks like
the benchmark model. Samples of any shape are flattened first (digits' 8x8x1 -> 64).
``width`` scales the hidden layers (128) and the bottleneck (8).

Converted to full int8 (8x8x1 digits, classifier head): RESHAPE (the flatten) and
FULLY_CONNECTED (batch norm folded, ReLU fused): expected to map entirely on the Edge TPU.
Shrinkable (the hidden layers); QAT-able.
"""

from __future__ import annotations

import math

from edgeloop.models._blocks import activation, batch_norm, scaled
from edgeloop.models.registry import Paper, Reference, register
from edgeloop.errors import EdgeloopError


@register(
    reference=Reference((640,), None),
    paper=Paper(267_928, 264_192, "MLPerf Tiny (Banbury et al. 2021) anomaly detection reference: "
                "mlcommons/tiny keras_model.py get_model (parameters), siliconlabs/mltk anomaly_detection.py (MACs)"),
    int8_ops=("RESHAPE", "FULLY_CONNECTED"),
)
def fc_autoencoder(input_shape, classes, width: float = 1.0):
    """Fully-connected autoencoder (MLPerf Tiny anomaly detection): 128x4, 8, 128x4, reconstruction.

    Args:
        input_shape: any sample shape (640 in the benchmark); flattened first.
        classes: ``None`` for the reconstruction; a class count adds a Dense layer of logits.
        width: multiplies the hidden layers' units (128) and the bottleneck's (8).
    """
    from edgeloop._tf import keras

    if classes is not None and (isinstance(classes, bool) or not isinstance(classes, int) or classes < 1):
        raise EdgeloopError(f"model fc_autoencoder: classes must be a positive integer or None, got {classes!r}")
    if not input_shape or any(not isinstance(d, int) or d < 1 for d in input_shape):
        raise EdgeloopError(f"model fc_autoencoder: bad sample shape {tuple(input_shape)}")
    layers = keras.layers
    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    units = [scaled(128, width)] * 4 + [scaled(8, width)] + [scaled(128, width)] * 4
    for i, n in enumerate(units, 1):
        x = layers.Dense(n, name=f"dense{i}")(x)
        x = activation(batch_norm(x, f"dense{i}_bn"), "relu", f"dense{i}")
    x = layers.Dense(math.prod(input_shape), name="reconstruction")(x)
    if classes is not None:
        return keras.Model(inputs, layers.Dense(classes, name="logits")(x), name="fc_autoencoder")
    if len(input_shape) > 1:
        x = layers.Reshape(input_shape, name="reshape")(x)
    return keras.Model(inputs, x, name="fc_autoencoder")
