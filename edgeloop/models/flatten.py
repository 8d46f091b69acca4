"""Flatten nested models (a ``tf_keras.applications`` base used as one layer) into one graph.

The transfer-learning pattern, ``x = base(inputs, training=False)`` then a new head, makes
a model whose second layer is a whole model. tfmot refuses to quantize it ("Quantizing a
keras Model inside another keras Model is not supported"), pruning and clustering see one
opaque layer and prune only the head, shrink cannot follow channels into it, and the
converter names every op of the base after the base ("mobilenetv2_1.00_224"), not after
the layer it came from. Flattening rebuilds the graph call by call, following the
models' configs, with a copy of every layer (the inner model's layers in place of its
call), keeps every weight, and checks that the flat model computes what the nested one
did. The layers are rebuilt one by one, as ``clone_model`` does, rather than the whole
model from its config: tf_keras cannot rebuild some applications from their config
(ConvNeXt: "'str' object is not callable").

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
        EdgeloopError: a nested model called more than once (shared weights), or a layer
            that cannot be copied.
        VerificationError: the flat model's outputs differ from the nested one's.
    """
    from edgeloop._tf import keras

    if not nested_models(model):
        return model, {"flattened": [], "renamed": {}, "max_difference": None}
    source = model if not isinstance(model, keras.Sequential) else _as_functional(model)
    rebuild = _Rebuild({layer.name for layer in source.layers if not isinstance(layer, keras.Model)})
    inputs = [keras.Input(batch_shape=t.shape, dtype=t.dtype, name=ref[0])
              for t, ref in zip(source.inputs, source.get_config()["input_layers"])]
    try:
        outputs = rebuild.call(source, inputs, {}, None)
        flat = keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)
    except (ValueError, TypeError, KeyError, NotImplementedError) as exc:  # a layer that cannot be copied
        raise EdgeloopError(f"cannot flatten nested model(s) {', '.join(nested_models(source))} into one graph: "
                            f"{(str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]}") from None
    for new, old in rebuild.copies.values():
        new.set_weights(old.get_weights())
    difference = _max_difference(model, flat) if check else None
    if difference is not None and difference > TOLERANCE:
        raise VerificationError(f"flattening {', '.join(rebuild.flattened)} changed the outputs (by up to {difference:.3g})")
    return flat, {"flattened": rebuild.flattened, "renamed": rebuild.renamed, "max_difference": difference}


def _as_functional(model):
    """A Sequential model as a functional one calling the same layers."""
    from edgeloop._tf import keras

    if not model.built or not model.inputs:
        raise EdgeloopError(f"model {model.name} is not built: it has no input shape to flatten from")
    inputs = keras.Input(batch_shape=model.inputs[0].shape, dtype=model.inputs[0].dtype,
                         name=model.inputs[0].name.split(":")[0])
    x = inputs
    for layer in model.layers:
        x = layer(x)
    return keras.Model(inputs, x, name=model.name)


class _Rebuild:
    """One flattening: the copies made (by the original layer), the names they took."""

    def __init__(self, reserved: set[str]) -> None:
        self.taken = set(reserved)  # the outer model's own layers keep their names
        self.copies: dict[int, tuple] = {}  # id(original) -> (copy, original)
        self.renamed: dict[str, str] = {}
        self.flattened: list[str] = []

    def copy(self, layer, inside: str | None):
        """A fresh copy of ``layer`` (one per original, so a layer called twice stays shared)."""
        if id(layer) not in self.copies:
            name = layer.name
            if inside is not None and name in self.taken:
                name = _unique(f"{inside}_{layer.name}", self.taken)
                self.renamed[f"{inside}/{layer.name}"] = name
            self.taken.add(name)
            config = {**layer.get_config(), "name": name}
            self.copies[id(layer)] = (type(layer).from_config(config), layer)
        return self.copies[id(layer)][0]

    def call(self, model, inputs: list, call_kwargs: dict, inside: str | None) -> list:
        """``model``'s graph called on ``inputs`` with copies of its layers; its outputs.

        ``inside`` names the nested model being inlined (``None`` for the outer one);
        ``call_kwargs`` are the keyword arguments it was called with (``training``).
        """
        from edgeloop._tf import keras, tf

        if isinstance(model, keras.Sequential):
            model = _as_functional(model)
        config = model.get_config()
        # A nested model is called once (checked below); its config numbers that call 0 or 1
        # (tf_keras leaves out a model's own first node), so its node number is not used.
        nested = set(nested_models(model))

        def key(ref) -> tuple:
            return ref[0], 0 if ref[0] in nested else ref[1], ref[2]

        tensors = {key(ref): t for ref, t in zip(config["input_layers"], inputs)}

        def resolve(value):
            if _is_ref(value):
                return value[2] if value[0] == "_CONSTANT_VALUE" else tensors[key(value)]
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            if isinstance(value, list):
                return [resolve(v) for v in value]
            return value

        for entry in config["layers"]:
            name = entry["config"]["name"]
            layer = model.get_layer(name)
            if isinstance(layer, keras.layers.InputLayer):
                continue
            nodes = entry.get("inbound_nodes") or []
            if nodes and _is_ref(nodes):  # a TFOpLambda's one call, written as a bare reference
                nodes = [nodes]
            if isinstance(layer, keras.Model) and len(nodes) != 1:
                raise EdgeloopError(f"nested model {name} is called {len(nodes)} times: a shared model cannot be "
                                    "flattened into one graph")
            for index, node in enumerate(nodes):
                refs = _top_refs(node)
                args = [tensors[key(r)] for r in refs]
                kwargs = dict(resolve(refs[0][3])) if refs and len(refs[0]) > 3 and refs[0][3] else {}
                arg = args[0] if len(args) == 1 else args
                if isinstance(layer, keras.Model):
                    self.flattened.append(name)
                    out = self.call(layer, args, kwargs, name)
                else:
                    if "training" in call_kwargs and _takes_training(layer):
                        kwargs.setdefault("training", call_kwargs["training"])
                    out = tf.nest.flatten(self.copy(layer, inside)(arg, **kwargs))
                for i, t in enumerate(out):
                    tensors[key([name, index, i])] = t
        return [tensors[key(ref)] for ref in config["output_layers"]]


def _is_ref(value) -> bool:
    return (isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str)
            and isinstance(value[1], int) and (isinstance(value[2], int) or value[0] == "_CONSTANT_VALUE"))


def _top_refs(node) -> list:
    """The references a node calls its layer on (one, or a list of them), kwargs not searched."""
    return [node] if _is_ref(node) else [r for r in node if _is_ref(r)]


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
