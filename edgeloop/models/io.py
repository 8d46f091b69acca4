"""A model's inputs and outputs by name, whatever it is, and the data bound to them.

A tf_keras Functional model and a :class:`~edgeloop.models.signature.SignatureModel` both
describe their inputs and outputs here as :class:`~edgeloop.models.signature.IOSpec` lists
in the model's order; that order, by name, is the one the converted file keeps.
"""

from __future__ import annotations

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.models.signature import KINDS, IOSpec, SignatureModel


def is_signature_model(model) -> bool:
    """Whether ``model`` is known only by its serving function (no Keras layers)."""
    return isinstance(model, SignatureModel)


def model_inputs(model) -> list[IOSpec]:
    """The model's inputs, in order: name, sample shape (no batch) and type."""
    if isinstance(model, SignatureModel):
        return list(model.inputs)
    return [IOSpec(name, tuple(t.shape[1:]), t.dtype.name) for name, t in zip(model.input_names, model.inputs)]


def model_outputs(model) -> list[IOSpec]:
    """The model's outputs, in order: name, sample shape (no batch) and type."""
    if isinstance(model, SignatureModel):
        return list(model.outputs)
    return [IOSpec(name, tuple(t.shape[1:]), t.dtype.name) for name, t in zip(model.output_names, model.outputs)]


def single_io(model) -> bool:
    """One input and one output: the case every step has always handled."""
    return not isinstance(model, SignatureModel) and len(model.inputs) == 1 and len(model.outputs) == 1


def output_index(model, output: str | None) -> int:
    """Position of the output named ``output`` (the first when ``None``).

    Raises:
        EdgeloopError: no output has that name (the names are listed).
    """
    names = [o.name for o in model_outputs(model)]
    if output is None:
        return 0
    if output not in names:
        raise EdgeloopError(f"the model has no output {output!r}; its outputs: {', '.join(names)}")
    return names.index(output)


def pick_output(pred, index: int) -> np.ndarray:
    """One output of what Keras' ``predict`` returned (an array, or a list for several outputs)."""
    if isinstance(pred, (list, tuple)):
        return np.asarray(pred[index])
    if isinstance(pred, dict):
        return np.asarray(list(pred.values())[index])
    return pred


def check_model_data(data, model, output: str | None = None) -> None:
    """Fail with one line unless ``data`` can feed ``model``; bind several inputs by name.

    A single-input, single-output Keras model is checked exactly as it always was
    (:func:`edgeloop.data.check_compatible`). Otherwise every input is matched to its
    array (:func:`edgeloop.data.bind_inputs`), and the labels to the scored output's size.

    Args:
        data: the data set (changed in place when its arrays are bound to input names).
        model: a tf_keras model or a signature model.
        output: the output the labels are for (the first when ``None``).
    """
    from edgeloop.data import bind_inputs, check_compatible

    outputs = model_outputs(model)
    scored = outputs[output_index(model, output)]
    classes = scored.shape[-1] if scored.shape else None
    if single_io(model):
        return check_compatible(data, model.input_shape, classes)
    bind_inputs(data, [(s.name, s.shape) for s in model_inputs(model)])
    for spec in model_inputs(model):  # integer inputs (ids) take integers
        if spec.dtype.startswith(("int", "uint")) and isinstance(data.x_train, dict):
            data.x_train[spec.name] = data.x_train[spec.name].astype(spec.dtype)
            data.x_val[spec.name] = data.x_val[spec.name].astype(spec.dtype)
    if classes is not None and data.labeled and data.classes > classes:
        raise EdgeloopError(f"data {data.source} has labels up to {data.classes - 1} but output {scored.name} has "
                            f"only {classes} values")


def refuse_layer_steps(model_or_kind, source: str, steps: list[str], allowed: list[str]) -> None:
    """Stop before any work when a step needs Keras layers the model does not have.

    Args:
        model_or_kind: the loaded model, or the kind of model a file holds (``keras3``,
            ``savedmodel``, ``subclassed``; ``None`` when it is a tf_keras model).
        source: where the model comes from (said in the message).
        steps: names of the steps that need a tf_keras Functional or Sequential model.
        allowed: names of the steps that take any model (said in the message).

    Raises:
        EdgeloopError: one line naming the steps and how to rebuild the model.
    """
    kind = model_or_kind.kind if isinstance(model_or_kind, SignatureModel) else model_or_kind
    if not steps or not isinstance(kind, str):
        return
    how = {
        "keras3": "tfmot needs Keras 2: rebuild it with `import tf_keras as keras` (pip install tf-keras) instead of "
                  "`import keras`, reload the weights with model.set_weights(...), and save it again with tf_keras",
        "subclassed": "rebuild it as a Functional model (keras.Model(inputs, outputs)) with tf_keras, copy the "
                      "weights with set_weights, and save that",
        "savedmodel": "give the tf_keras Functional or Sequential model it was made from",
    }[kind]
    takes = ", ".join(allowed[:-1]) + f" and {allowed[-1]}" if len(allowed) > 1 else "".join(allowed)
    raise EdgeloopError(f"{', '.join(steps)} need{'s' if len(steps) == 1 else ''} the model's Keras layers, and "
                        f"{source} is {KINDS[kind]} (only {takes} take it): {how}")
