"""Weight sparsity read from a Keras model (the converted file is read by the converters)."""

from __future__ import annotations

import numpy as np

_KERNEL_ATTRS = ("kernel", "depthwise_kernel")


def kernel_sparsity(model) -> dict[str, float]:
    """Fraction of exact zeros in each layer's kernel, by the (unwrapped) layer's name.

    Pruning and QAT wrappers are looked through, so the same layer has the same name
    before and after them.
    """
    out: dict[str, float] = {}
    for layer in model.layers:
        inner = layer
        while hasattr(inner, "layer"):  # PruneLowMagnitude, QuantizeWrapper
            inner = inner.layer
        for attr in _KERNEL_ATTRS:
            kernel = getattr(inner, attr, None)
            if kernel is not None:
                values = np.asarray(kernel.numpy() if hasattr(kernel, "numpy") else kernel)
                out[inner.name] = float(np.mean(values == 0))
                break
    return out
