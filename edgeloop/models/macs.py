"""Multiply-accumulates counted from a Keras graph (one inference, batch 1).

What counts as a MAC: one multiply-add of a weight with an activation in a convolution
(Conv1D, Conv2D with groups, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D) or a Dense
layer, for every output position. That is what the papers' "mult-adds", "MAdds" and (in
ResNet, ShuffleNet and EfficientNet) "FLOPs" count. Biases, batch norm, activations
(hard-swish included), pooling, element-wise adds and multiplies (residuals,
squeeze-excite's channel gate) count zero, as in those papers; they are a few per cent of
the arithmetic at most. A layer called more than once (shared) is counted for one call, and
not at all if its calls have different output shapes.
"""

from __future__ import annotations

import numpy as np


def _positions(shape) -> int:
    """Output positions of one channel: the product of the dimensions between batch and channels."""
    return int(np.prod([d for d in shape[1:-1] if d])) if len(shape) > 2 else 1


def layer_macs(layer) -> int:
    """MACs of one layer (0 for layers that multiply no weights)."""
    while hasattr(layer, "layer"):  # pruning / clustering / QAT wrappers
        layer = layer.layer
    kind = type(layer).__name__
    try:
        out = layer.output_shape
    except AttributeError:
        return 0
    if isinstance(out, list):
        return 0
    if kind in ("Conv1D", "Conv2D"):
        k = layer.kernel.shape  # (*kernel, in / groups, out)
        return int(np.prod(k[:-2])) * int(k[-2]) * int(k[-1]) * _positions(out)
    if kind == "Conv2DTranspose":
        k = layer.kernel.shape  # (kh, kw, out, in): every input position spreads a kernel
        return int(np.prod(k)) * _positions(layer.input_shape)
    if kind == "DepthwiseConv2D":
        k = layer.depthwise_kernel.shape  # (kh, kw, in, multiplier)
        return int(np.prod(k)) * _positions(out)
    if kind == "SeparableConv2D":
        d, p = layer.depthwise_kernel.shape, layer.pointwise_kernel.shape
        return (int(np.prod(d)) + int(p[2]) * int(p[3])) * _positions(out)
    if kind == "Dense":
        k = layer.kernel.shape
        return int(k[0]) * int(k[1]) * _positions(out)
    return 0


def model_macs(model) -> dict[str, int]:
    """``{layer name: MACs}`` for the layers that do any, plus ``"total"``."""
    per = {}
    for layer in model.layers:
        inner = layer
        while hasattr(inner, "layer"):
            inner = inner.layer
        macs = layer_macs(layer)
        if macs:
            per[inner.name] = macs
    per["total"] = sum(per.values())
    return per
