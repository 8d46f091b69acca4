"""Hard-swish in a form XNNPACK runs in int8.

The TFLite converter fuses x · relu6(x + 3) / 6 into one ``HARD_SWISH`` op. XNNPACK runs
it in float but not in int8: every int8 ``HARD_SWISH`` falls out of the XNNPACK
partitions to the built-in reference kernel, splits the graph there, and on an AVX2 CPU
costs ~30x its float time (MobileNetV3-Small: 19 of them, about half the int8 latency).
Written as

    gate = ReLU6(DepthwiseConv2D 1x1 [weight 1, bias 3](x));  y = x · gate / 6

the same function (exactly, in float) becomes a depthwise convolution with a fused
ReLU6, a ``MUL`` and a multiply by a constant (which the converter folds into a following
convolution where it can): int8 ops XNNPACK takes, calibrated like every other op, with
int8 input and output kept. A tensor that is not 4-D is reshaped to 4-D around the
depthwise convolution.

Recognised spellings: edgeloop's zoo (``Rescaling(1, offset=3)`` → ``ReLU(6)`` →
``Rescaling(1/6)`` → ``Multiply([x, ·])``) and ``tf_keras.applications``' MobileNetV3
(``x + 3.0`` → ``ReLU(6)`` → ``· * (1/6)`` → ``Multiply``). The rewritten model is run next
to the original on the caller's samples and refused if the outputs differ.
"""

from __future__ import annotations

import numpy as np

from edgeloop.errors import EdgeloopError, VerificationError

CHOICES = ("auto", "rewrite", "int8")
# Same function, same weights: only float rounding differs (x/6 against x·(1/6)).
TOLERANCE = 1e-4


def _history(tensor):
    """The layer that produced a Keras tensor and its node, or ``(None, None)`` for an input."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None, None
    layer, node_index, _ = history
    return layer, layer._inbound_nodes[node_index]


def _single_input(node):
    inputs = node.keras_inputs
    return inputs[0] if len(inputs) == 1 else None


def _constant_arg(node, name: str):
    """The scalar a ``TFOpLambda`` was called with (``y`` of ``x + 3.0``), or ``None``."""
    value = node.call_kwargs.get(name)
    if value is None and len(node.call_args) > 1:
        value = node.call_args[1]
    return float(value) if isinstance(value, (int, float)) else None


def _step(tensor, kind: str):
    """If ``tensor`` is made by a layer of ``kind`` from one tensor, that tensor; else ``None``."""
    from edgeloop._tf import keras

    layer, node = _history(tensor)
    if layer is None or node is None:
        return None
    source = _single_input(node)
    if source is None:
        return None
    config = layer.get_config()
    if kind == "plus3":
        if isinstance(layer, keras.layers.Rescaling) and config["scale"] == 1 and config["offset"] == 3:
            return source
        if type(layer).__name__ == "TFOpLambda" and config.get("function") in ("__operators__.add", "math.add") \
                and _constant_arg(node, "y") == 3.0:
            return source
    elif kind == "relu6":
        if isinstance(layer, keras.layers.ReLU) and config.get("max_value") == 6 and not config.get("negative_slope") \
                and not config.get("threshold"):
            return source
    elif kind == "div6":
        if isinstance(layer, keras.layers.Rescaling) and abs(config["scale"] - 1 / 6) < 1e-6 and config["offset"] == 0:
            return source
        if type(layer).__name__ == "TFOpLambda" and config.get("function") in ("math.multiply", "__operators__.mul") \
                and abs((_constant_arg(node, "y") or 0) - 1 / 6) < 1e-6:
            return source
    return None


def _hard_swish_input(layer, node):
    """The ``x`` of a ``Multiply`` node computing x · hard_sigmoid(x), or ``None``."""
    from edgeloop._tf import keras

    if not isinstance(layer, keras.layers.Multiply) or len(node.keras_inputs) != 2:
        return None
    for x, gate in (node.keras_inputs, node.keras_inputs[::-1]):
        t = _step(gate, "div6")
        t = _step(t, "relu6") if t is not None else None
        t = _step(t, "plus3") if t is not None else None
        if t is not None and t is x:
            return x
    return None


def count_hard_swish(model) -> int:
    """How many hard-swish activations of ``model`` :func:`rewrite_hard_swish` would rewrite."""
    return sum(1 for layer in getattr(model, "layers", []) for node in layer._inbound_nodes
               if _hard_swish_input(layer, node) is not None)


def rewrite_hard_swish(model, samples: np.ndarray | None = None):
    """``model`` with every hard-swish written as x · ReLU6(DW1x1[w=1, b=3](x)) / 6.

    Args:
        model: a functional tf_keras model (a model without hard-swish comes back as is).
        samples: float inputs (batch first) the two models are compared on; random ones
            in ``[0, 1)`` when ``None``.

    Returns:
        ``(model, report)``; the report has ``rewritten`` (the multiply layers replaced)
        and ``max_difference`` (largest output difference in float, ``None`` if nothing
        was rewritten).

    Raises:
        EdgeloopError: a layer that cannot be copied.
        VerificationError: the rewritten model's outputs differ from the original's.
    """
    if not count_hard_swish(model):
        return model, {"rewritten": [], "max_difference": None}
    try:
        new, rewritten = _rebuild(model)
    except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
        raise EdgeloopError(f"cannot rewrite the hard-swish activations of {model.name}: "
                            f"{(str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]}") from None
    if samples is None:
        shape = (2, *model.inputs[0].shape[1:])
        samples = np.random.default_rng(0).random(shape, dtype=np.float32)
    samples = samples[:8]
    before = _outputs(model, samples)
    after = _outputs(new, samples)
    difference = max(float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(a))))) for a, b in zip(before, after))
    if difference > TOLERANCE:
        raise VerificationError(f"rewriting hard-swish changed {model.name}'s outputs (by up to {difference:.3g})")
    return new, {"rewritten": rewritten, "max_difference": difference}


def _outputs(model, samples) -> list[np.ndarray]:
    from edgeloop._tf import tf

    return [np.asarray(t) for t in tf.nest.flatten(model(samples, training=False))]


def _rebuild(model):
    """Call copies of ``model``'s layers node by node, replacing each hard-swish multiply."""
    from edgeloop._tf import keras, tf

    copies: dict[int, tuple] = {}
    tensors: dict[int, object] = {}
    inputs = []
    for t in model.inputs:
        new_input = keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t._keras_history[0].name)
        tensors[id(t)] = new_input
        inputs.append(new_input)
    taken = {layer.name for layer in model.layers}
    rewritten: list[str] = []

    def mapped(value):
        return tensors[id(value)] if hasattr(value, "_keras_history") else value

    depths = sorted(model._nodes_by_depth, reverse=True)
    for depth in depths:
        for node in model._nodes_by_depth[depth]:
            layer = node.outbound_layer
            if isinstance(layer, keras.layers.InputLayer):
                continue
            x = _hard_swish_input(layer, node)
            if x is not None:
                out = _replacement(tensors[id(x)], layer.name, taken)
                rewritten.append(layer.name)
            else:
                if id(layer) not in copies:
                    copies[id(layer)] = (type(layer).from_config(layer.get_config()), layer)
                args = tf.nest.map_structure(mapped, node.call_args)
                kwargs = tf.nest.map_structure(mapped, node.call_kwargs)
                out = copies[id(layer)][0](*args, **kwargs)
            for old, new in zip(tf.nest.flatten(node.outputs), tf.nest.flatten(out)):
                tensors[id(old)] = new
    outputs = [tensors[id(t)] for t in model.outputs]
    new = keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)
    for copy, layer in copies.values():
        copy.set_weights(layer.get_weights())
    return new, rewritten


def _replacement(x, name: str, taken: set):
    """x · ReLU6(DW1x1[w=1, b=3](x)) / 6, the last layer named ``name`` (the op keeps the layer's name)."""
    from edgeloop._tf import keras

    layers = keras.layers

    def unique(suffix: str) -> str:
        candidate, n = f"{name}_{suffix}", 1
        while candidate in taken:
            n += 1
            candidate = f"{name}_{suffix}{n}"
        taken.add(candidate)
        return candidate

    channels = int(x.shape[-1])
    rank = len(x.shape)
    gate = x
    if rank != 4:  # DepthwiseConv2D takes (batch, height, width, channels)
        if rank < 2 or any(d is None for d in x.shape[1:]):
            raise ValueError(f"hard-swish on a tensor of shape {tuple(x.shape)}")
        gate = layers.Reshape((1, int(np.prod(x.shape[1:-1], dtype=int)), channels), name=unique("to4d"))(gate)
    dw = layers.DepthwiseConv2D(1, name=unique("plus3"))
    gate = dw(gate)
    dw.set_weights([np.ones((1, 1, channels, 1), np.float32), np.full((channels,), 3.0, np.float32)])
    gate = layers.ReLU(6.0, name=unique("relu6"))(gate)
    if rank != 4:
        gate = layers.Reshape(tuple(int(d) for d in x.shape[1:]), name=unique("from4d"))(gate)
    product = layers.Multiply(name=unique("times_gate"))([x, gate])
    return layers.Rescaling(1.0 / 6.0, name=name)(product)
