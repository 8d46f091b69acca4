"""Cross-layer equalization (Nagel et al., "Data-Free Quantization", ICCV 2019), in Keras.

For two weighted layers joined by a ReLU (or nothing), output channel ``i`` of the first
and input channel ``i`` of the second can trade a factor ``s_i`` without changing the
function: ``relu(x / s) = relu(x) / s`` for ``s > 0``. Choosing ``s_i = sqrt(r1_i / r2_i)``
(``r``: the channel's largest |weight|) gives both the same range, so per-tensor and
depthwise weights stop wasting their int8 steps on one wide channel. ReLU6 and hard-swish
are not positively homogeneous: pairs joined by them are left alone (the paper swapped
ReLU6 for ReLU; edgeloop does not change a user's activations).
"""

from __future__ import annotations

import numpy as np

from edgeloop.quant.fold import WEIGHTED, _consumers, _inbound_names, scale_output_channels

_PASSTHROUGH = ("ReLU", "Activation")


def _relu_like(entry: dict) -> bool:
    c = entry["config"]
    if entry["class_name"] == "ReLU":
        return c.get("max_value") is None and not c.get("negative_slope") and not c.get("threshold")
    return entry["class_name"] == "Activation" and c.get("activation") in ("relu", "linear")


def equalizable_pairs(model) -> list[tuple[str, str]]:
    """``(first, second)`` layer names CLE can rescale, in graph order."""
    config = model.get_config()
    if "input_layers" not in config:
        return []
    layers = config["layers"]
    by_name = {e["config"]["name"]: e for e in layers}
    consumers = _consumers(layers)
    pairs = []
    for entry in layers:
        if entry["class_name"] not in WEIGHTED or entry["class_name"] == "Dense":
            continue
        if entry["class_name"] == "DepthwiseConv2D" and entry["config"].get("depth_multiplier", 1) != 1:
            continue
        inbound = _inbound_names(entry)
        if len(inbound) != 1:
            continue
        prev = by_name[inbound[0]]
        if prev["class_name"] in _PASSTHROUGH:
            if not _relu_like(prev) or consumers.get(prev["config"]["name"], 0) != 1:
                continue
            inner = _inbound_names(prev)
            if len(inner) != 1:
                continue
            prev = by_name[inner[0]]
        if prev["class_name"] not in ("Conv2D", "DepthwiseConv2D") or consumers.get(prev["config"]["name"], 0) != 1:
            continue
        if prev["config"].get("activation", "linear") not in ("linear", "relu", None):
            continue
        if prev["class_name"] == "DepthwiseConv2D" and prev["config"].get("depth_multiplier", 1) != 1:
            continue
        pairs.append((prev["config"]["name"], entry["config"]["name"]))
    return pairs


def _out_ranges(class_name: str, kernel: np.ndarray) -> np.ndarray:
    if class_name == "DepthwiseConv2D":
        return np.abs(kernel).reshape(-1, kernel.shape[2] * kernel.shape[3]).max(axis=0)
    return np.abs(kernel).reshape(-1, kernel.shape[-1]).max(axis=0)


def _in_ranges(class_name: str, kernel: np.ndarray) -> np.ndarray:
    if class_name == "DepthwiseConv2D":  # input channel i is output channel i (multiplier 1)
        return np.abs(kernel).reshape(-1, kernel.shape[2]).max(axis=0)
    return np.abs(np.moveaxis(kernel, -2, 0)).reshape(kernel.shape[-2], -1).max(axis=1)


def equalize(model, iterations: int = 4) -> tuple[object, list[tuple[str, str]]]:
    """Equalize every pair of :func:`equalizable_pairs` in place (weights only); return the pairs.

    Run :func:`edgeloop.quant.fold.fold_batch_norms` first: a batch norm between two
    layers hides the pair.
    """
    pairs = equalizable_pairs(model)
    for _ in range(iterations):
        for first, second in pairs:
            l1, l2 = model.get_layer(first), model.get_layer(second)
            w1, w2 = l1.get_weights(), l2.get_weights()
            c1, c2 = type(l1).__name__, type(l2).__name__
            r1, r2 = _out_ranges(c1, w1[0]), _in_ranges(c2, w2[0])
            s = np.where((r1 > 0) & (r2 > 0), np.sqrt(r1 / np.maximum(r2, 1e-12)), 1.0).astype(np.float32)
            w1[0] = scale_output_channels(c1, w1[0], 1.0 / s)
            if len(w1) > 1:
                w1[1] = w1[1] / s
            if c2 == "DepthwiseConv2D":
                w2[0] = w2[0] * s.reshape(1, 1, -1, 1)
            else:
                w2[0] = w2[0] * s.reshape(*([1] * (w2[0].ndim - 2)), -1, 1)
            l1.set_weights(w1)
            l2.set_weights(w2)
    return model, pairs
