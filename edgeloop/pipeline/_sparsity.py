"""Weight sparsity and distinct values read from a Keras model (converters read the file).

Which variables count is the layer table's (:mod:`edgeloop.layer_table`): a layer's
prunable kernels, so a ``SeparableConv2D`` is measured in its pointwise kernel (the one
tfmot prunes) and an ``LSTM`` in its kernel and recurrent kernel together.
"""

from __future__ import annotations

import numpy as np

from edgeloop.layer_table import layer_kind, variable_name


def unwrap(layer):
    """The layer inside tfmot's wrappers (PruneLowMagnitude, ClusterWeights, QuantizeWrapper)."""
    while hasattr(layer, "layer"):
        layer = layer.layer
    return layer


def prunable_kernels(layer) -> dict[str, np.ndarray]:
    """``{variable: values}`` of the layer's prunable kernels, wrappers looked through.

    The kernels are found among the (outer) layer's variables rather than as attributes:
    inside a QAT wrapper the attribute holds the fake-quantized tensor.
    """
    wanted = layer_kind(type(unwrap(layer)).__name__).prunable
    if not wanted:
        return {}
    found = {}
    for variable in layer.weights:
        short = variable_name(variable.name)
        if short in wanted and short not in found:
            found[short] = variable.numpy()
    return found


def layer_kinds(model) -> dict[str, str]:
    """``{layer name: Keras class name}``, wrappers looked through (what the ``.tflite``
    readers need to tell a layer's kernels apart)."""
    return {unwrap(layer).name: type(unwrap(layer)).__name__ for layer in getattr(model, "layers", [])}


def prunable_indices(layer) -> list[int]:
    """Positions of the layer's prunable kernels in ``layer.get_weights()`` (an unwrapped layer)."""
    wanted = layer_kind(type(layer).__name__).prunable
    return [i for i, v in enumerate(layer.weights) if variable_name(v.name) in wanted]


def is_prunable(layer) -> bool:
    """The layer has a kernel tfmot's pruning zeroes (per the layer table)."""
    return bool(prunable_indices(layer))


def is_clusterable(layer) -> bool:
    """The layer has weights tfmot's clustering shares values in (per the layer table)."""
    wanted = layer_kind(type(layer).__name__).clusterable
    return any(variable_name(v.name) in wanted for v in layer.weights)


def _kernels(model):
    """(layer name, its prunable kernels) for every layer that has some."""
    for layer in model.layers:
        kernels = prunable_kernels(layer)
        if kernels:
            yield unwrap(layer).name, list(kernels.values())


def kernel_unique_values(model) -> dict[str, int]:
    """Most distinct values in any one of each layer's prunable kernels (what clustering
    bounds: it clusters each kernel on its own)."""
    return {name: max(int(np.unique(k).size) for k in kernels) for name, kernels in _kernels(model)}


# Rounding of the mask to whole weights can leave a small layer a hair under its target;
# what prune, cluster and convert allow when they check zeros against it.
SPARSITY_TOLERANCE = 0.01


def kernel_sizes(model) -> dict[str, int]:
    """Weights in each layer's prunable kernels, by the (unwrapped) layer's name."""
    return {name: int(sum(k.size for k in kernels)) for name, kernels in _kernels(model)}


def kernel_sparsity(model) -> dict[str, float]:
    """Fraction of exact zeros in each layer's prunable kernels, by the (unwrapped) layer's name.

    Pruning and QAT wrappers are looked through, so the same layer has the same name
    before and after them.
    """
    return {name: float(sum(int(np.sum(k == 0)) for k in kernels) / sum(k.size for k in kernels))
            for name, kernels in _kernels(model)}
