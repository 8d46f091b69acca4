"""Weight sparsity and distinct values read from a Keras model (converters read the file)."""

from __future__ import annotations

import numpy as np

_KERNEL_NAMES = ("kernel", "depthwise_kernel")


def _kernels(model):
    """(layer name, kernel values) for every layer with a kernel, wrappers looked through."""
    for layer in model.layers:
        inner = layer
        while hasattr(inner, "layer"):  # PruneLowMagnitude, ClusterWeights, QuantizeWrapper
            inner = inner.layer
        for variable in layer.weights:
            if variable.name.split("/")[-1].split(":")[0] in _KERNEL_NAMES:
                yield inner.name, variable.numpy()
                break


def kernel_unique_values(model) -> dict[str, int]:
    """Distinct values in each layer's kernel (what clustering bounds)."""
    return {name: int(np.unique(values).size) for name, values in _kernels(model)}


def kernel_sparsity(model) -> dict[str, float]:
    """Fraction of exact zeros in each layer's kernel, by the (unwrapped) layer's name.

    Pruning and QAT wrappers are looked through, so the same layer has the same name
    before and after them. The kernel is found among the layer's variables rather than
    as an attribute: inside a QAT wrapper the attribute holds the fake-quantized tensor.
    """
    return {name: float(np.mean(values == 0)) for name, values in _kernels(model)}
