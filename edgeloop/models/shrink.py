"""Structured (filter / channel) pruning that physically removes channels.

``shrink(model, {layer: n_channels})`` rebuilds a smaller Keras model: the named layers
that make channels (Conv1D / 2D / 3D, Conv2DTranspose, SeparableConv1D / 2D, Dense: the
layer table's rows with a width) keep their ``n`` filters with the largest L1 norm (a
separable conv's pointwise filters), and every layer that reads those channels
(BatchNormalization, DepthwiseConv2D, a separable conv's depthwise kernel, the next conv or
Dense, across Flatten) loses the matching weights. Channels tied by ``Add`` / ``Multiply``
(residuals, squeeze-excite) are one group: pruned together, ranked by their summed L1
norm. ``Concatenate`` keeps each input's own selection. Weightless layers that keep the
channel axis last and its size (ReLU / ReLU6, Rescaling, padding, pooling, a Reshape to
(H·W, C), whose target shape is rewritten) pass channels through. Channels that reach
the input or an output are never removed; :func:`shrinkable` lists what may be. Unlike
magnitude pruning this makes int8 inference faster: the tensors are smaller, not just
sparser.

How: every tensor's channels are described as ``(group, index)`` pairs. A conv or Dense
output starts a new group; pass-through layers keep their input's pairs; Flatten repeats
them once per spatial position; Concatenate joins them; Add merges the groups of its
inputs. A channel survives when its index is among its group's kept indices.
"""

from __future__ import annotations

import copy

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.layer_table import TABLE, layer_kind

# Layers that make new output channels, and where their width is set: the layer table's.
_PRODUCERS = tuple(name for name, kind in TABLE.items() if kind.width)
_SEPARABLE = ("SeparableConv1D", "SeparableConv2D")
_DEPTHWISE = ("DepthwiseConv1D", "DepthwiseConv2D")
# Layers whose output channels are their input channels (by position).
_PASS_THROUGH = (
    "BatchNormalization", "Normalization", *_DEPTHWISE, "Activation", "ReLU", "LeakyReLU", "PReLU", "Softmax", "Dropout",
    "SpatialDropout2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
    "ZeroPadding2D", "Cropping2D", "UpSampling2D", "LayerNormalization", "GaussianNoise",
)
_MERGE = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
# The same joins written as operators on tensors (``x + y``, ``x * y``): TFOpLambda layers.
_MERGE_OPS = ("__operators__.add", "math.add", "math.subtract", "math.multiply", "math.maximum", "math.minimum")
# Weighted layers whose weights run along the channel axis (a scalar, as Normalization's count, stays).
_CHANNELWISE = ("BatchNormalization", "LayerNormalization", "PReLU", "Normalization")


class _Groups:
    """Union-find over channel groups."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def add(self, g: str) -> str:
        self.parent.setdefault(g, g)
        return g

    def find(self, g: str) -> str:
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def _is_ref(value) -> bool:
    """``[layer, node, tensor(, kwargs)]``: how a config names a tensor."""
    return isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str) and isinstance(value[1], int)


def _tensor_refs(node) -> list[str]:
    """The layers a call reads, in order: its inputs, then tensors passed as keyword
    arguments (``x + y`` as a TFOpLambda carries ``y`` there)."""
    refs = [node] if _is_ref(node) else [r for r in node if _is_ref(r)]
    names = [r[0] for r in refs]
    for r in refs:
        if len(r) > 3 and isinstance(r[3], dict):
            names += [v[0] for v in r[3].values() if _is_ref(v)]
    return names


def _graph(model) -> list[tuple[dict, list[str]]]:
    """(layer config entry, inbound layer names) in topological order."""
    config = model.get_config()
    entries = config["layers"]
    if "input_layers" in config:  # functional
        out = []
        for entry in entries:
            nodes = entry.get("inbound_nodes") or []
            if nodes and _is_ref(nodes):  # a TFOpLambda's one call, written as a bare reference
                nodes = [nodes]
            if len(nodes) > 1:
                raise EdgeloopError(f"layer {entry['config']['name']} is called more than once: cannot shrink shared layers")
            out.append((entry, _tensor_refs(nodes[0]) if nodes else []))
        return out
    out, previous = [], []
    for entry in entries:
        out.append((entry, previous))
        previous = [entry["config"]["name"]]
    return out


def _channel_maps(model, groups: _Groups) -> tuple[dict[str, list], dict[str, list[str]], list]:
    """Each layer's output channels as (group, index) pairs; each layer's inbound names."""
    maps: dict[str, list] = {}
    inbound_of: dict[str, list[str]] = {}
    graph = _graph(model)
    for entry, inbound in graph:
        cfg, kind = entry["config"], entry["class_name"]
        name = cfg["name"]
        inbound_of[name] = inbound
        if kind == "InputLayer":
            shape = cfg["batch_input_shape"]
            maps[name] = [(groups.add(f"input:{name}"), i) for i in range(shape[-1])]
            continue
        ins = [maps[n] for n in inbound]
        if kind in _PRODUCERS:
            if cfg.get("groups", 1) != 1:
                raise EdgeloopError(f"{name}: a grouped {kind} (groups={cfg['groups']}) cannot be shrunk")
            maps[name] = [(groups.add(name), i) for i in range(cfg[layer_kind(kind).width])]
        elif kind in _PASS_THROUGH:
            if kind in _DEPTHWISE and cfg.get("depth_multiplier", 1) != 1:
                raise EdgeloopError(f"{name}: {kind} with depth_multiplier > 1 cannot be shrunk")
            maps[name] = ins[0]
        elif kind == "Flatten":
            positions = int(np.prod(model.get_layer(name).input_shape[1:-1]))
            maps[name] = ins[0] * positions
        elif kind == "Concatenate":
            if cfg.get("axis", -1) not in (-1, len(model.get_layer(name).output_shape) - 1):
                raise EdgeloopError(f"{name}: only Concatenate on the channel axis can be shrunk")
            maps[name] = [pair for m in ins for pair in m]
        elif kind in _MERGE or (kind == "TFOpLambda" and cfg.get("function") in _MERGE_OPS and len(ins) > 1):
            first = ins[0]
            for other in ins[1:]:
                if len(other) != len(first) or any(a[1] != b[1] for a, b in zip(first, other)):
                    raise EdgeloopError(f"{name}: its inputs' channels are not aligned one to one")
                for a, b in zip(first, other):
                    groups.union(a[0], b[0])
            maps[name] = first
        else:
            # Any other weightless layer that keeps the channel axis last and its size
            # (Rescaling, Reshape to (H·W, C), activations …) passes channels through.
            layer = model.get_layer(name)
            if layer.weights:
                raise EdgeloopError(f"{name}: {kind} layers cannot be shrunk through yet")
            if len(ins) > 1:
                raise EdgeloopError(f"{name}: {kind} joins {len(ins)} tensors; shrink cannot follow it")
            if ins and layer.output_shape[-1] != len(ins[0]):
                raise EdgeloopError(f"{name}: {kind} changes the channel count; shrink cannot follow it")
            if kind == "Permute" and cfg["dims"][-1] != len(cfg["dims"]):
                raise EdgeloopError(f"{name}: Permute moves the channel axis; shrink cannot follow it")
            maps[name] = ins[0] if ins else []
    return maps, inbound_of, graph


def _output_roots(maps: dict[str, list], groups: _Groups, outputs: set[str]) -> set[str]:
    return {groups.find(g) for name in outputs for g, _ in maps[name]}


def makes_channels(layer) -> bool:
    """The layer makes new output channels (a conv or Dense: what shrink narrows)."""
    return type(layer).__name__ in _PRODUCERS


def layer_width(layer) -> int:
    """Output channels of a layer that makes them: its ``filters`` or ``units``."""
    return int(layer.get_config()[layer_kind(type(layer).__name__).width])


def _output_kernel(layer) -> tuple[np.ndarray, int]:
    """The kernel that makes the layer's output channels, and its output-channel axis."""
    kind = type(layer).__name__
    weights = layer.get_weights()
    kernel = weights[1] if kind in _SEPARABLE else weights[0]  # separable: [depthwise, pointwise, bias]
    return kernel, layer_kind(kind).kernel_axes[1]


def l1_scores(model) -> dict[str, np.ndarray]:
    """L1 norm of each output filter of every layer that makes channels (Conv, Dense, the
    pointwise kernel of a separable conv)."""
    out = {}
    for layer in model.layers:
        if type(layer).__name__ in _PRODUCERS:
            kernel, axis = _output_kernel(layer)
            out[layer.name] = np.abs(np.moveaxis(kernel, axis, -1)).reshape(-1, kernel.shape[axis]).sum(axis=0)
    return out


def channel_groups(model) -> dict[str, list[str]]:
    """Layers whose output channels are tied (by Add and the like), keyed by the first of them."""
    groups = _Groups()
    _channel_maps(model, groups)
    tied: dict[str, list[str]] = {}
    for g in groups.parent:
        if not g.startswith("input:"):
            tied.setdefault(groups.find(g), []).append(g)
    return tied


def shrinkable(model) -> dict[str, int]:
    """``{layer: output channels}`` for one conv / Dense layer of each channel group that
    :func:`shrink` may narrow (groups tied to the model's input or an output are left out).

    Naming one member of a group narrows the whole group (residual Adds tie them).
    """
    groups = _Groups()
    maps, _, _ = _channel_maps(model, groups)
    fixed = _output_roots(maps, groups, set(model.output_names) | {model.layers[-1].name})
    out: dict[str, int] = {}
    seen: set[str] = set()
    for layer in model.layers:
        if type(layer).__name__ not in _PRODUCERS:
            continue
        root = groups.find(layer.name)
        if root not in seen and root not in fixed and not root.startswith("input:"):
            seen.add(root)
            out[layer.name] = len(maps[layer.name])  # its filters or units; no kernel read
    return out


def shrink(model, channels: dict[str, int]):
    """Rebuild ``model`` keeping ``channels[layer]`` output channels of each named layer.

    Args:
        model: a Sequential or functional tf_keras model.
        channels: ``{conv or Dense layer name: channels to keep}``; the filters with the
            largest L1 norm stay. Layers tied by ``Add`` must be given the same count (or
            only one of them).

    Returns:
        A new model with fewer channels and the kept weights, same inputs and outputs.

    Raises:
        EdgeloopError: unknown layer, a count out of range, tied layers given different
            counts, an output layer, or a graph shrink cannot follow.
    """
    from edgeloop._tf import keras

    groups = _Groups()
    maps, _, graph = _channel_maps(model, groups)
    names = [entry["config"]["name"] for entry, _ in graph]
    outputs = set(model.output_names) | {model.layers[-1].name}
    # Channels that reach an output (through pooling, a final ReLU …) fix the output's width.
    at_output = _output_roots(maps, groups, outputs)
    scores = l1_scores(model)
    want: dict[str, int] = {}
    for name, n in channels.items():
        if name not in scores:
            raise EdgeloopError(f"shrink: {name!r} is not a layer that makes channels (Conv, SeparableConv, Dense); "
                                f"those are: {', '.join(scores)}")
        if name in outputs:
            raise EdgeloopError(f"shrink: {name} is the model's output layer; its width is the output's")
        width = len(scores[name])
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= width:
            raise EdgeloopError(f"shrink: {name} has {width} channels; keep between 1 and {width}, not {n!r}")
        root = groups.find(name)
        if root.startswith("input:") or root in at_output:
            raise EdgeloopError(f"shrink: {name}'s channels are tied to the model's input or output")
        if root in want and want[root] != n:
            tied = [g for g in scores if groups.find(g) == root]
            raise EdgeloopError(f"shrink: {', '.join(tied)} share channels (Add); give them one count, not {want[root]} and {n}")
        want[root] = n
    kept: dict[str, set[int]] = {}
    for root, n in want.items():
        members = [g for g in scores if groups.find(g) == root]
        total = sum(scores[g] / (scores[g].mean() or 1.0) for g in members)  # each member weighs the same
        kept[root] = set(np.sort(np.argsort(-total, kind="stable")[:n]).tolist())

    def keep_positions(pairs) -> np.ndarray:
        return np.array([i for i, (g, j) in enumerate(pairs) if groups.find(g) not in kept or j in kept[groups.find(g)]], dtype=np.int64)

    config = copy.deepcopy(model.get_config())
    for entry in config["layers"]:
        cfg = entry["config"]
        root = groups.find(cfg["name"]) if cfg["name"] in groups.parent else None
        if root in kept:
            cfg[layer_kind(entry["class_name"]).width] = len(kept[root])
        elif entry["class_name"] == "Reshape":  # its target shape names the channel count
            cfg["target_shape"] = [*cfg["target_shape"][:-1], len(keep_positions(maps[cfg["name"]]))]
        entry.pop("build_config", None)
    cls = keras.Sequential if isinstance(model, keras.Sequential) else keras.Model
    new = cls.from_config(config)

    inputs_of = {entry["config"]["name"]: inbound for entry, inbound in graph}
    for name in names:
        old = model.get_layer(name) if name in [layer.name for layer in model.layers] else None
        if old is None or not old.weights:
            continue
        weights = old.get_weights()
        kind = type(old).__name__
        in_keep = keep_positions(maps[inputs_of[name][0]]) if inputs_of[name] else None
        out_keep = keep_positions(maps[name])
        if kind in _SEPARABLE:
            # The pointwise kernel reads the depthwise outputs: depth_multiplier per input channel.
            multiplier = weights[0].shape[-1]
            pointwise_in = (in_keep[:, None] * multiplier + np.arange(multiplier)).reshape(-1)
            weights = [weights[0][..., in_keep, :], weights[1][..., pointwise_in, :][..., out_keep],
                       *[b[out_keep] for b in weights[2:]]]
        elif kind in _PRODUCERS:
            in_axis, out_axis = layer_kind(kind).kernel_axes
            kernel = np.take(np.take(weights[0], in_keep, axis=in_axis), out_keep, axis=out_axis)
            weights = [kernel] + [b[out_keep] for b in weights[1:]]
        elif kind in _DEPTHWISE:
            weights = [weights[0][..., in_keep, :]] + [b[in_keep] for b in weights[1:]]
        elif kind in _CHANNELWISE:
            width = len(maps[inputs_of[name][0]])
            weights = [w[..., in_keep] if w.ndim and w.shape[-1] == width else w for w in weights]
        new.get_layer(name).set_weights(weights)
    return new
