"""Weight sparsity read from a Keras model (the converted file is read by the converters)."""

from __future__ import annotations

import numpy as np

_KERNEL_NAMES = ("kernel", "depthwise_kernel")


def kernel_sparsity(model) -> dict[str, float]:
    """Fraction of exact zeros in each layer's kernel, by the (unwrapped) layer's name.

    Pruning and QAT wrappers are looked through, so the same layer has the same name
    before and after them. The kernel is found among the layer's variables rather than
    as an attribute: inside a QAT wrapper the attribute holds the fake-quantized tensor.
    """
    out: dict[str, float] = {}
    for layer in model.layers:
        inner = layer
        while hasattr(inner, "layer"):  # PruneLowMagnitude, QuantizeWrapper
            inner = inner.layer
        for variable in layer.weights:
            short = variable.name.split("/")[-1].split(":")[0]
            if short in _KERNEL_NAMES:
                out[inner.name] = float(np.mean(variable.numpy() == 0))
                break
    return out
