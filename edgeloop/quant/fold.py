"""Batch normalization folded into the convolution or Dense layer before it, in Keras.

TFLite's converter folds batch norms itself, so the converted file is the same; folding
in Keras first gives the transforms that work on the weights the file will hold
(cross-layer equalization, bias correction, AdaRound) those weights to work on. Only a
batch norm that is its layer's sole consumer, after a layer without a fused activation,
is folded: ``w' = w * g``, ``b' = (b - mean) * g + beta`` with ``g = gamma / sqrt(var + eps)``
per output channel.
"""

from __future__ import annotations

import copy

import numpy as np

WEIGHTED = ("Conv2D", "DepthwiseConv2D", "Dense")


def _inbound_names(entry: dict) -> list[str]:
    names = []
    for node in entry.get("inbound_nodes", []):
        for item in node:
            names.append(item[0])
    return names


def _consumers(layers: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in layers:
        for name in _inbound_names(entry):
            counts[name] = counts.get(name, 0) + 1
    return counts


def _rename_inputs(obj, old: str, new: str):
    """``obj`` with every ``[old, node, tensor, kwargs]`` reference pointing at ``new``."""
    if isinstance(obj, list):
        if len(obj) >= 3 and obj[0] == old and isinstance(obj[1], int):
            return [new, *obj[1:]]
        return [_rename_inputs(o, old, new) for o in obj]
    return obj


def scale_output_channels(class_name: str, kernel: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``kernel`` with output channel ``i`` multiplied by ``scale[i]``."""
    if class_name == "DepthwiseConv2D":  # (kh, kw, in, multiplier): output channel = in * multiplier + m
        kh, kw, cin, mult = kernel.shape
        return (kernel.reshape(kh, kw, cin * mult) * scale).reshape(kernel.shape)
    return kernel * scale


def fold_batch_norms(model):
    """A copy of a functional ``model`` with every foldable BatchNormalization folded.

    Returns:
        ``(model, folded)``: the new model and the names of the batch norms folded
        (``model`` itself, unchanged, when none could be).
    """
    from edgeloop._tf import keras
    from edgeloop.models.loading import register_custom_classes

    config = copy.deepcopy(model.get_config())
    if "input_layers" not in config:
        return model, []
    layers = config["layers"]
    by_name = {e["config"]["name"]: e for e in layers}
    consumers = _consumers(layers)
    pairs = {}
    for entry in layers:
        if entry["class_name"] != "BatchNormalization":
            continue
        inbound = _inbound_names(entry)
        if len(inbound) != 1:
            continue
        src = by_name.get(inbound[0])
        if src is None or src["class_name"] not in WEIGHTED or consumers.get(inbound[0], 0) != 1:
            continue
        if src["config"].get("activation", "linear") not in ("linear", None):
            continue
        axis = entry["config"].get("axis", -1)
        if axis not in (-1, 3, [3], [-1]) and not (src["class_name"] == "Dense" and axis in (1, [1])):
            continue
        pairs[entry["config"]["name"]] = inbound[0]
    if not pairs:
        return model, []
    kept = []
    for entry in layers:
        name = entry["config"]["name"]
        if name in pairs:
            continue
        for bn, src in pairs.items():
            entry["inbound_nodes"] = _rename_inputs(entry.get("inbound_nodes", []), bn, src)
        if name in pairs.values():
            entry["config"]["use_bias"] = True
        kept.append(entry)
    config["layers"] = kept
    for bn, src in pairs.items():
        config["output_layers"] = _rename_inputs(config["output_layers"], bn, src)
    register_custom_classes()
    rebuilt = keras.Model.from_config(config)
    for layer in rebuilt.layers:
        if not layer.weights:
            continue
        if layer.name in pairs.values():
            bn = model.get_layer(next(b for b, s in pairs.items() if s == layer.name))
            rebuilt_weights = _folded(model.get_layer(layer.name), bn)
            layer.set_weights(rebuilt_weights)
        else:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return rebuilt, sorted(pairs)


def _folded(layer, bn) -> list[np.ndarray]:
    weights = layer.get_weights()
    kernel = weights[0]
    channels = bn.get_weights()[-1].shape[0]
    bias = weights[1] if len(weights) > 1 else np.zeros(channels, np.float32)
    values = dict(zip([w.name.split("/")[-1].split(":")[0] for w in bn.weights], bn.get_weights()))
    gamma = values.get("gamma", np.ones(channels, np.float32))
    beta = values.get("beta", np.zeros(channels, np.float32))
    g = gamma / np.sqrt(values["moving_variance"] + bn.epsilon)
    kernel = scale_output_channels(type(layer).__name__, kernel, g).astype(np.float32)
    return [kernel, ((bias - values["moving_mean"]) * g + beta).astype(np.float32)]
