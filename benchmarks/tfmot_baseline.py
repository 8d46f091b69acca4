"""The digits model compressed the way tfmot's own guides do it: no edgeloop in the loop.

It follows TensorFlow's "Pruning preserving quantization aware training (PQAT) Keras
example" (tensorflow.org/model_optimization/guide/combine/pqat_example): train, fine-tune
with ``prune_low_magnitude`` (``ConstantSparsity``, ``UpdatePruningStep``), ``strip_pruning``,
``quantize_annotate_model`` + ``quantize_apply`` with ``Default8BitPrunePreserveQuantizeScheme``,
fine-tune, then ``TFLiteConverter.from_keras_model`` with ``Optimize.DEFAULT`` (Adam at its
default rate throughout, as the guide compiles with ``optimizer="adam"``). Same data
split, seed, model and epochs as ``recipes/digits_int8.yaml``; the converted file is then
scored, measured and checked with the same tools as edgeloop's own result.
"""

from __future__ import annotations

import warnings

import numpy as np


def run(seed: int = 0, train_epochs: int = 30, prune_epochs: int = 8, qat_epochs: int = 26) -> dict:
    """Run the plain script; return the ``.tflite`` bytes and what it took."""
    import time

    from edgeloop._tf import keras, tf, tfmot
    from edgeloop.data import load_data
    from edgeloop.models import create

    data = load_data("digits", val_fraction=0.2, seed=seed)
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    model = create("digits_cnn", input_shape=data.sample_shape, classes=data.classes)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(), loss=loss, metrics=["accuracy"])
    keras.utils.set_random_seed(seed)
    model.fit(data.x_train, data.y_train, epochs=train_epochs, batch_size=32, verbose=0)

    # Pruning, as the guide: constant 50 % sparsity from step 0, masks updated every 100 steps.
    schedule = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=100)
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
    pruned.compile(optimizer=keras.optimizers.Adam(), loss=loss, metrics=["accuracy"])
    keras.utils.set_random_seed(seed)
    pruned.fit(data.x_train, data.y_train, epochs=prune_epochs, batch_size=32, verbose=0,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)

    # Pruning-preserving QAT, as the guide.
    annotated = tfmot.quantization.keras.quantize_annotate_model(stripped)
    pqat = tfmot.quantization.keras.quantize_apply(annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
    pqat.compile(optimizer=keras.optimizers.Adam(), loss=loss, metrics=["accuracy"])
    keras.utils.set_random_seed(seed)
    pqat.fit(data.x_train, data.y_train, epochs=qat_epochs, batch_size=16, verbose=0)

    converter = tf.lite.TFLiteConverter.from_keras_model(pqat)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    with warnings.catch_warnings():  # the converter's notes on float inputs: what the guide gets too
        warnings.simplefilter("ignore")
        blob = bytes(converter.convert())
    return {"tflite": blob, "seconds": time.perf_counter() - started, "data": data}


def score(blob: bytes, data) -> dict:
    """Accuracy of the converted file, its sizes, and edgeloop's checks on it."""
    from edgeloop.converters import read_model, verify
    from edgeloop.device.interpreter import TFLiteModel
    from edgeloop.pipeline.convert import file_sizes

    pred = TFLiteModel(blob).predict(data.x_val)
    info = read_model(blob)
    io_type = info.tensors[info.inputs[0]].dtype
    checks = verify(info, mode="int8", io_type="int8")
    return {
        "converted_accuracy": float(np.mean(np.argmax(pred, axis=-1) == data.y_val)),
        **file_sizes(blob),
        "io_type": io_type,
        "failed_checks": {c.name: c.detail for c in checks if not c.passed},
    }
