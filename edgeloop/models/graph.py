"""Rewrite a Keras model's layer graph through its config, keeping every other weight.

Sequential and functional models both describe their layers as config; splitting one
layer into two is an edit of that config, and the rebuilt model takes the old weights by
layer name. Used by factorization (and by anything else that swaps a layer for a chain).
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np

from edgeloop.errors import EdgeloopError


def _layer_entry(class_name: str, config: dict) -> dict:
    return {"module": "keras.layers", "class_name": class_name, "config": config, "registered_name": None}


def split_layers(model, replacements: dict[str, list[tuple[str, dict, list[np.ndarray]]]]):
    """Replace each named layer by a chain of new layers, applied in order.

    Args:
        model: a Sequential or functional tf_keras model; each replaced layer must be
            called once.
        replacements: ``{layer name: [(class name, layer config, weights), …]}``; the
            last layer of a chain should keep the old layer's name so what follows
            still finds it.

    Returns:
        The rebuilt model: replaced layers carry the given weights, the rest their own.
    """
    from edgeloop._tf import keras

    config = copy.deepcopy(model.get_config())
    layers = config["layers"]
    functional = "input_layers" in config
    names = {entry["config"]["name"] for entry in layers}
    out = []
    for entry in layers:
        name = entry["config"]["name"]
        chain = replacements.get(name)
        if not chain:
            out.append(entry)
            continue
        if functional and len(entry.get("inbound_nodes", [])) != 1:
            raise EdgeloopError(f"layer {name} is called more than once: it cannot be split")
        inbound = entry.get("inbound_nodes")
        for class_name, layer_config, _ in chain:
            new = _layer_entry(class_name, layer_config)
            if layer_config["name"] != name and layer_config["name"] in names:
                raise EdgeloopError(f"a layer named {layer_config['name']} already exists")
            if functional:
                new["name"] = layer_config["name"]
                new["inbound_nodes"] = inbound
                inbound = [[[layer_config["name"], 0, 0, {}]]]
            out.append(new)
    config["layers"] = out
    cls = keras.Sequential if isinstance(model, keras.Sequential) else keras.Model
    rebuilt = cls.from_config(config)
    given = {cfg["name"]: w for chain in replacements.values() for _, cfg, w in chain}
    for layer in rebuilt.layers:
        if layer.name in given:
            layer.set_weights(given[layer.name])
        elif layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return rebuilt


def map_layers(model, fn: Callable) -> dict:
    """``{layer name: fn(layer)}`` for every layer whose ``fn`` is not ``None``."""
    return {layer.name: r for layer in model.layers if (r := fn(layer)) is not None}


def inbound_layers(model) -> dict[str, list[str]]:
    """Each layer's inbound layer names (its first call), from the model's config.

    A Sequential model's layers each read the one before. A functional config writes a
    call as a list of ``[layer, node, tensor, kwargs]`` references, or, for a TFOpLambda,
    one bare reference.
    """
    config = model.get_config()
    if "input_layers" not in config:
        names = [layer.name for layer in model.layers]
        return {b: [a] for a, b in zip(names, names[1:])}
    out = {}
    for entry in config["layers"]:
        nodes = entry.get("inbound_nodes") or []
        if nodes:
            node = nodes[0]
            refs = [node] if node and isinstance(node[0], str) else node
            out[entry["config"]["name"]] = [r[0] for r in refs if isinstance(r, list) and r and isinstance(r[0], str)]
    return out


def readers(model) -> dict[str, list[str]]:
    """Each layer's readers: the layers whose first call takes its output."""
    out: dict[str, list[str]] = {}
    for name, sources in inbound_layers(model).items():
        for source in sources:
            out.setdefault(source, []).append(name)
    return out

