"""The float-model transforms ``convert`` can run before quantizing, in order.

Batch norms are folded first (so the weights are the file's), then cross-layer
equalization, bias correction and AdaRound as asked. The user's model is not touched:
the transforms work on a copy, and what they changed is recorded.
"""

from __future__ import annotations

import numpy as np


def wants_transforms(o) -> bool:
    """Whether the ``convert`` options ask for any float-model transform."""
    return bool(o.equalize or o.bias_correction or o.adaround)


def _copy(model):
    from edgeloop._tf import keras
    from edgeloop.models.loading import register_custom_classes

    register_custom_classes()
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _functional(model):
    """A Sequential model as the same layers called functionally (the transforms read a layer graph)."""
    from edgeloop._tf import keras

    if not isinstance(model, keras.Sequential):
        return model
    x = inputs = keras.Input(batch_shape=model.input_shape)
    for layer in model.layers:
        x = layer(x)
    return keras.Model(inputs, x, name=model.name)


def transform(model, samples: np.ndarray, o, per_channel: bool = True) -> tuple[object, dict]:
    """A transformed copy of ``model`` and a record of what each transform did."""
    from edgeloop.quant.equalize import equalize
    from edgeloop.quant.fold import fold_batch_norms
    from edgeloop.quant.rounding import adaround, bias_correct

    functional = _functional(model)
    folded_model, folded = fold_batch_norms(functional)
    work = folded_model if folded else _copy(functional)
    record: dict = {"folded_batch_norms": len(folded)}
    if o.equalize:
        _, pairs = equalize(work)
        record["equalized_pairs"] = [list(p) for p in pairs]
    x = samples[: min(len(samples), 64)]
    if o.bias_correction:
        record["bias_corrected"] = bias_correct(work, x, per_channel)
    if o.adaround:
        record["adarounded"] = adaround(work, x, per_channel, iterations=o.adaround_iterations)
    return work, record
