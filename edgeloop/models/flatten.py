"""Flatten nested models (a ``tf_keras.applications`` base used as one layer) into one graph.

The transfer-learning pattern, ``x = base(inputs, training=False)`` then a new head, makes
a model whose second layer is a whole model. tfmot refuses to quantize it ("Quantizing a
keras Model inside another keras Model is not supported"), pruning and clustering see one
opaque layer and prune only the head, shrink cannot follow channels into it, and the
converter names every op of the base after the base ("mobilenetv2_1.00_224"), not after
the layer it came from. Flattening rewrites the outer model's config with the inner
model's layers in place of the call, keeps every weight, and checks that the flat model
computes what the nested one did.

A call's keyword arguments carry over: ``training=False`` given to the base goes to each
of its layers that takes ``training`` (BatchNormalization, Dropout), so they stay in
inference mode while the flat model is fine-tuned, as they did inside the base.

    >>> flat, report = flatten_nested(model)          # doctest: +SKIP
    >>> report["flattened"], report["max_difference"]  # doctest: +SKIP
    (['mobilenetv2_0.35_32'], 0.0)
"""

from __future__ import annotations

import copy
import inspect

import numpy as np

from edgeloop.errors import EdgeloopError, VerificationError

# The flat model computes the same function with the same float weights; the only
# difference allowed is summation order.
TOLERANCE = 1e-4


def nested_models(model) -> list[str]:
    """Names of the layers of ``model`` that are themselves models."""
    from edgeloop._tf import keras

    return [layer.name for layer in getattr(model, "layers", []) if isinstance(layer, keras.Model)]


def flatten_nested(model, check: bool = True):
    """``model`` with every nested model replaced by its layers, or ``model`` itself if none.

    Args:
        model: a Sequential or functional tf_keras model.
        check: run both models on the same random batch and refuse a difference.

    Returns:
        ``(flat model, report)``; the report names the models flattened, the layers
        renamed (an inner layer named like an outer one gets ``<inner model>_`` in front)
        and the largest output difference measured (``None`` when nothing was flattened).

    Raises:
        EdgeloopError: a nested model called more than once (shared weights) or a
            subclassed one, which have no graph to inline.
        VerificationError: the flat model's outputs differ from the nested one's.
    """
    from edgeloop._tf import keras

    if not nested_models(model):
        return model, {"flattened": [], "renamed": {}, "max_difference": None}
    source = model if not isinstance(model, keras.Sequential) else _as_functional(model)
    renamed: dict[str, str] = {}
    owners: dict[str, object] = {}
    flattened: list[str] = []
    config = _flat_config(source, renamed, owners, flattened)
    from edgeloop.models.loading import register_custom_classes

    register_custom_classes()
    try:
        flat = keras.Model.from_config(config)
    except (ValueError, TypeError, KeyError) as exc:  # a layer class Keras cannot find by name
        raise EdgeloopError(f"cannot flatten nested model(s) {', '.join(flattened)} into one graph: "
                            f"{(str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]}") from None
    for layer in flat.layers:
        if layer.weights:
            layer.set_weights(owners[layer.name].get_weights())
    difference = _max_difference(model, flat) if check else None
    if difference is not None and difference > TOLERANCE:
        raise VerificationError(f"flattening {', '.join(flattened)} changed the outputs (by up to {difference:.3g})")
    return flat, {"flattened": flattened, "renamed": renamed, "max_difference": difference}


def _as_functional(model):
    """A Sequential model as a functional one calling the same layers."""
    from edgeloop._tf import keras

    if not model.built or not model.inputs:
        raise EdgeloopError(f"model {model.name} is not built: it has no input shape to flatten from")
    inputs = keras.Input(batch_shape=model.inputs[0].shape, dtype=model.inputs[0].dtype, name=model.inputs[0].name.split(":")[0])
    x = inputs
    for layer in model.layers:
        x = layer(x)
    return keras.Model(inputs, x, name=model.name)


def _flat_config(model, renamed: dict, owners: dict, flattened: list) -> dict:
    """The functional config of ``model`` with nested models inlined; ``owners`` maps each
    layer name of the result to the layer object whose weights it takes."""
    from edgeloop._tf import keras

    config = copy.deepcopy(model.get_config())
    if "input_layers" not in config:
        raise EdgeloopError(f"model {model.name} is not functional: it cannot be flattened")
    taken = {entry["config"]["name"] for entry in config["layers"]}
    layers, outputs_of = [], {}  # nested model name -> its output refs
    for entry in config["layers"]:
        name = entry["config"]["name"]
        layer = model.get_layer(name)
        if not isinstance(layer, keras.Model):
            owners[name] = layer
            layers.append(entry)
            continue
        if len(entry.get("inbound_nodes") or []) != 1:
            raise EdgeloopError(f"nested model {name} is called {len(entry.get('inbound_nodes') or [])} times: "
                                "a shared model cannot be flattened into one graph")
        inner_model = layer if not isinstance(layer, keras.Sequential) else _as_functional(layer)
        owners_inner: dict = {}
        inner = _flat_config(inner_model, renamed, owners_inner, flattened)
        call_refs = _top_refs(entry["inbound_nodes"][0])
        call_kwargs = call_refs[0][3] if call_refs and len(call_refs[0]) > 3 else {}
        inputs = {ref[0]: call_refs[i] for i, ref in enumerate(inner["input_layers"])}
        rename = {}
        for inner_entry in inner["layers"]:
            old = inner_entry["config"]["name"]
            if old in inputs:
                continue
            new = old if old not in taken else _unique(f"{name}_{old}", taken)
            taken.add(new)
            rename[old] = new
            if new != old:
                renamed[f"{name}/{old}"] = new
        for inner_entry in inner["layers"]:
            old = inner_entry["config"]["name"]
            if old in inputs:
                continue
            inner_entry["config"]["name"] = rename[old]
            if "name" in inner_entry:
                inner_entry["name"] = rename[old]
            inner_entry["inbound_nodes"] = _rewrite(inner_entry.get("inbound_nodes") or [], rename, inputs)
            if "training" in call_kwargs and _takes_training(owners_inner[old]):
                for ref in _refs(inner_entry["inbound_nodes"]):
                    if len(ref) > 3 and isinstance(ref[3], dict):
                        ref[3].setdefault("training", call_kwargs["training"])
            owners[rename[old]] = owners_inner[old]
            layers.append(inner_entry)
        outputs_of[name] = _rewrite(copy.deepcopy(inner["output_layers"]), rename, inputs)
        flattened.append(name)
    for entry in layers:
        entry["inbound_nodes"] = _point_past(entry.get("inbound_nodes") or [], outputs_of)
    config["layers"] = layers
    config["output_layers"] = _point_past(config["output_layers"], outputs_of)
    return config


def _is_ref(value) -> bool:
    return (isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str)
            and isinstance(value[1], int) and isinstance(value[2], int))


def _top_refs(node) -> list:
    """The references a node calls its layer on (one, or a list of them), kwargs not searched."""
    return [node] if _is_ref(node) else [r for r in node if _is_ref(r)]


def _refs(structure) -> list:
    """Every ``[layer, node, tensor(, kwargs)]`` reference inside a config structure."""
    if _is_ref(structure):
        return [structure] + (_refs(structure[3]) if len(structure) > 3 else [])
    if isinstance(structure, dict):
        return [r for v in structure.values() for r in _refs(v)]
    if isinstance(structure, list):
        return [r for v in structure for r in _refs(v)]
    return []


def _rewrite(structure, rename: dict, inputs: dict):
    """Point references at renamed layers, and references to an inner input at what fed it."""
    if _is_ref(structure):
        name, rest = structure[0], structure[1:]
        kwargs = _rewrite(rest[2], rename, inputs) if len(rest) > 2 else None
        if name in inputs:
            fed = list(inputs[name][:3])
            return fed + ([kwargs] if kwargs is not None else [])
        return [rename.get(name, name), *rest[:2]] + ([kwargs] if kwargs is not None else [])
    if isinstance(structure, dict):
        return {k: _rewrite(v, rename, inputs) for k, v in structure.items()}
    if isinstance(structure, list):
        return [_rewrite(v, rename, inputs) for v in structure]
    return structure


def _point_past(structure, outputs_of: dict):
    """Point references to a nested model's output ``i`` at the inner layer that makes it."""
    if _is_ref(structure):
        name = structure[0]
        kwargs = _point_past(structure[3], outputs_of) if len(structure) > 3 else None
        if name in outputs_of:
            target = outputs_of[name][structure[2]]
            return list(target[:3]) + ([kwargs] if kwargs is not None else [])
        return list(structure[:3]) + ([kwargs] if kwargs is not None else [])
    if isinstance(structure, dict):
        return {k: _point_past(v, outputs_of) for k, v in structure.items()}
    if isinstance(structure, list):
        return [_point_past(v, outputs_of) for v in structure]
    return structure


def _takes_training(layer) -> bool:
    try:
        return "training" in inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return False


def _unique(name: str, taken: set) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def _max_difference(a, b) -> float:
    """Largest absolute difference of the two models' outputs on one random batch, scaled by the outputs' size."""
    if any(d is None for t in a.inputs for d in t.shape[1:]):
        return 0.0  # no fixed shape to draw a batch from: nothing to compare on
    rng = np.random.default_rng(0)
    batch = [rng.random((2, *t.shape[1:]), dtype=np.float32) if t.dtype.is_floating
             else rng.integers(0, 2, (2, *t.shape[1:])).astype(t.dtype.as_numpy_dtype) for t in a.inputs]
    out_a = a(batch if len(batch) > 1 else batch[0], training=False)
    out_b = b(batch if len(batch) > 1 else batch[0], training=False)
    out_a = out_a if isinstance(out_a, (list, tuple)) else [out_a]
    out_b = out_b if isinstance(out_b, (list, tuple)) else [out_b]
    worst = 0.0
    for x, y in zip(out_a, out_b):
        x, y = np.asarray(x), np.asarray(y)
        worst = max(worst, float(np.max(np.abs(x - y)) / (1.0 + np.max(np.abs(x)))))
    return worst
