"""Multiply-accumulates counted from a Keras graph (one inference, batch 1)."""

from __future__ import annotations

import numpy as np


def layer_macs(layer) -> int:
    """MACs of one layer: convolutions and dense layers; other layers count 0."""
    kind = type(layer).__name__
    while hasattr(layer, "layer"):  # pruning / clustering / QAT wrappers
        layer = layer.layer
        kind = type(layer).__name__
    try:
        out = layer.output_shape
    except AttributeError:
        return 0
    if isinstance(out, list):
        return 0
    spatial = int(np.prod([d for d in out[1:-1] if d])) if len(out) > 2 else 1
    if kind in ("Conv2D", "Conv1D", "Conv2DTranspose"):
        k = layer.kernel.shape
        return int(np.prod(k[:-2])) * int(k[-2]) * int(k[-1]) * spatial // max(1, getattr(layer, "groups", 1))
    if kind == "DepthwiseConv2D":
        k = layer.depthwise_kernel.shape
        return int(np.prod(k[:2])) * int(k[2]) * int(k[3]) * spatial
    if kind == "SeparableConv2D":
        d = layer.depthwise_kernel.shape
        p = layer.pointwise_kernel.shape
        return (int(np.prod(d[:2])) * int(d[2]) * int(d[3]) + int(p[2]) * int(p[3])) * spatial
    if kind == "Dense":
        k = layer.kernel.shape
        return int(k[0]) * int(k[1]) * spatial
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
