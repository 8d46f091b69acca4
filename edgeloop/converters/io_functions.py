"""What the converter takes from a model with several inputs or outputs, or with no Keras graph.

One concrete function with a static batch of 1 for every input, its inputs named after the
model's and its outputs returned as a dict by the model's output names: the converter
writes those names into the file's signature, and :func:`~edgeloop.converters.io_order.order_io`
puts the graph's inputs and outputs in the model's order by them. Calibration samples go in
as dicts by input name, which the calibrator matches through the same signature.

The single-input, single-output Keras model keeps its own path in
:mod:`edgeloop.converters.tflite` (its files stay byte for byte what they were).
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.models.io import model_inputs, model_outputs
from edgeloop.models.signature import SignatureModel


def traced_function(model):
    """The model's function with batch 1 for every input and outputs by name.

    Raises:
        EdgeloopError: an input has a dimension of unknown size besides the batch.
    """
    from edgeloop._tf import tf

    if isinstance(model, SignatureModel):
        return model.traced(batch=1)
    inputs, names = model_inputs(model), [o.name for o in model_outputs(model)]
    for spec in inputs:
        if any(d is None for d in spec.shape):
            raise EdgeloopError(f"the model's input {spec.name} has shape {(None, *spec.shape)}: sizes besides the "
                                "batch must be fixed to convert it")
    specs = [tf.TensorSpec([1, *s.shape], s.dtype, name=s.name) for s in inputs]

    def call(*xs):
        result = model(list(xs) if len(xs) > 1 else xs[0], training=False)
        return dict(zip(names, result if isinstance(result, (list, tuple)) else [result]))

    return tf.function(call).get_concrete_function(*specs)


def variables_holder(function):
    """A bare ``tf.Module`` holding the variables ``function`` captures (see
    :func:`edgeloop.converters.tflite.variables_holder` for why not the model itself)."""
    from edgeloop._tf import tf

    holder = tf.Module()
    holder.variables_ = list(function.variables)
    return holder


def as_named(model, samples) -> dict[str, np.ndarray]:
    """Calibration samples as ``input name -> (N, *shape)`` arrays, checked against the model.

    Args:
        model: the model being converted.
        samples: an array (one input) or a dict by input name.

    Raises:
        EdgeloopError: a missing input, or samples of the wrong shape.
    """
    inputs = model_inputs(model)
    if not isinstance(samples, dict):
        if len(inputs) != 1:
            raise EdgeloopError(f"the model takes {len(inputs)} inputs ({', '.join(s.name for s in inputs)}); "
                                "calibration samples must be a dict by input name")
        samples = {inputs[0].name: samples}
    missing = [s.name for s in inputs if s.name not in samples]
    if missing:
        raise EdgeloopError(f"calibration samples have no array for input(s) {', '.join(missing)}")
    named = {}
    for spec in inputs:
        array = np.asarray(samples[spec.name])
        if tuple(array.shape[1:]) != tuple(spec.shape):
            raise EdgeloopError(f"calibration samples of input {spec.name} have shape {tuple(array.shape[1:])}, "
                                f"the model takes {tuple(spec.shape)}")
        named[spec.name] = array
    counts = {len(a) for a in named.values()}
    if len(counts) != 1 or not counts.pop():
        raise EdgeloopError("calibration samples must hold as many samples (at least one) for every input")
    return named


def named_representative(model, named: dict[str, np.ndarray],
                         progress: Callable[[int, int], None] | None) -> Callable[[], Iterator[dict]]:
    """The converter's ``representative_dataset``: one dict by input name per sample."""
    inputs = model_inputs(model)
    total = len(next(iter(named.values())))

    def gen() -> Iterator[dict]:
        for i in range(total):
            yield {s.name: named[s.name][i][None, ...].astype(s.dtype) for s in inputs}
            if progress:
                progress(i + 1, total)

    return gen
