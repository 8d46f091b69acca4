"""The checks behind the op table's ``limits``: one function per constraint Coral states.

Each check takes the parsed model and one op and returns ``None`` when the op meets the
constraint, else ``(reason, fix)`` in plain words. Axes follow TFLite's NHWC layout:
batch 0, y 1, x 2, z (channels) 3, the names Coral's table uses.
"""

from __future__ import annotations

from math import prod
from typing import Callable

import numpy as np

from edgeloop.converters.inspect import ModelInfo, OpInfo, TensorInfo

Verdict = tuple[str, str] | None
_AXES = {0: "batch", 1: "y", 2: "x", 3: "z"}


def _input(info: ModelInfo, op: OpInfo, position: int) -> TensorInfo | None:
    if len(op.inputs) <= position or op.inputs[position] < 0:
        return None
    return info.tensors[op.inputs[position]]


def _axes(info: ModelInfo, op: OpInfo, position: int, rank: int) -> set[int] | None:
    """The constant axis operand at ``position``, normalised to non-negative axes."""
    t = _input(info, op, position)
    if t is None or t.data is None:
        return None
    return {int(a) % rank if rank else int(a) for a in np.asarray(t.data).ravel()}


def _only_innermost(shape: tuple[int, ...]) -> bool:
    return prod(shape[:-1]) == 1 if shape else True


def _changed(op: OpInfo, key: str, default):
    """The op's option ``key`` when it is not ``default`` (else ``None``)."""
    value = op.options.get(key, default)
    return None if value == default else value


def no_fused_activation(info: ModelInfo, op: OpInfo) -> Verdict:
    act = _changed(op, "fused_activation_function", "NONE")
    return (f"has the activation {act} fused into it", "put the activation in a layer of its own after it") if act else None


def constant_input_is_zero_pad(info: ModelInfo, op: OpInfo) -> Verdict:
    constants = [info.tensors[i] for i in op.inputs if i >= 0 and info.tensors[i].is_constant]
    if not constants:
        return None
    zero = constants[0].zero_points[0] if constants[0].zero_points else 0
    if len(op.inputs) != 2 or np.any(np.asarray(constants[0].data) != zero):
        return ("concatenates a constant that is not a zero padding of a 2-input concatenation",
                "concatenate only computed tensors, or pad with zeros (ZeroPadding2D) instead")
    return None


def same_dilation(info: ModelInfo, op: OpInfo) -> Verdict:
    h, w = op.options.get("dilation_hfactor", 1), op.options.get("dilation_wfactor", 1)
    if h != w:
        return f"dilates by {h} in y and {w} in x", "use the same dilation_rate in both dimensions"
    return None


def default_weights_format(info: ModelInfo, op: OpInfo) -> Verdict:
    fmt = _changed(op, "weights_format", "DEFAULT")
    return (f"stores its weights in the {fmt} format", "convert without shuffled weights (the default format)") if fmt else None


def one_dimensional_output(info: ModelInfo, op: OpInfo) -> Verdict:
    shape = info.tensors[op.outputs[0]].shape
    if not _only_innermost(shape):
        return (f"produces a {list(shape)} output, not a one-dimensional one",
                "Flatten before the Dense layer so it sees one vector per sample")
    return None


def reduce_xy_only(info: ModelInfo, op: OpInfo) -> Verdict:
    axes = _axes(info, op, 1, _rank_of(info, op, 0))
    if axes is None or not axes <= {1, 2}:
        return (f"reduces over {_names(axes)}, not only x and y",
                "reduce over the spatial axes only (GlobalAveragePooling2D), or compile for runtime 13 or later")
    return None


def no_batch_axis(info: ModelInfo, op: OpInfo) -> Verdict:
    if op.name == "PACK":
        rank = len(info.tensors[op.outputs[0]].shape)
        axes = {int(op.options.get("axis", 0)) % max(rank, 1)}
    elif op.name == "SPLIT":  # inputs: axis, tensor
        axes = _axes(info, op, 0, _rank_of(info, op, 1))
    else:  # MEAN, SUM, REDUCE_*: tensor, axes
        axes = _axes(info, op, 1, _rank_of(info, op, 0))
    if axes is None or 0 in axes:
        return f"works along the batch dimension ({_names(axes)})", "keep the batch axis out of it"
    return None


def z_reduction_multiple_of_4(info: ModelInfo, op: OpInfo) -> Verdict:
    rank = _rank_of(info, op, 0)
    axes = _axes(info, op, 1, rank) or set()
    depth = info.tensors[op.inputs[0]].shape[-1] if rank else 0
    if rank == 4 and 3 in axes and depth % 4:
        return f"reduces over z with {depth} channels, not a multiple of 4", "give the layer before it a multiple of 4 channels"
    return None


def pad_xy_only(info: ModelInfo, op: OpInfo) -> Verdict:
    padded = _padded_axes(info, op)
    if padded is None or not padded <= {1, 2}:
        return f"pads along {_names(padded)}", "pad only height and width, or compile for runtime 13 or later"
    return None


def no_batch_padding(info: ModelInfo, op: OpInfo) -> Verdict:
    padded = _padded_axes(info, op)
    if padded is None or 0 in padded:
        return "pads along the batch dimension", "pad only height, width and channels"
    return None


def alpha_innermost_only(info: ModelInfo, op: OpInfo) -> Verdict:
    alpha = _input(info, op, 1)
    if alpha is None or not _only_innermost(alpha.shape):
        shape = list(alpha.shape) if alpha is not None else "?"
        return f"has alpha of shape {shape}, more than one value per channel", "use PReLU(shared_axes=[1, 2])"
    return None


def integer_input(info: ModelInfo, op: OpInfo) -> Verdict:
    t = _input(info, op, 0)
    if t is None or t.dtype not in ("int8", "uint8"):
        return (f"quantizes a {t.dtype if t else '?'} tensor inside the graph",
                "quantize the whole model (full integer conversion) so no float tensor reaches it")
    return None


def three_dimensional_io(info: ModelInfo, op: OpInfo) -> Verdict:
    for index in (op.inputs[0], op.outputs[0]):
        shape = info.tensors[index].shape
        if len(shape) > 3 and prod(shape[:-3]) != 1:
            return f"resizes a {list(shape)} tensor, not a 3-dimensional one", "resize one image (batch 1) at a time"
    return None


def softmax_1d_16000(info: ModelInfo, op: OpInfo) -> Verdict:
    shape = info.tensors[op.inputs[0]].shape
    if not _only_innermost(shape) or prod(shape) > 16000:
        return (f"takes a {list(shape)} input; the Edge TPU's softmax takes one vector of at most 16,000 values",
                "apply softmax to a flat vector of at most 16,000 classes, or on the CPU after the model")
    return None


def squeeze_leading_ones(info: ModelInfo, op: OpInfo) -> Verdict:
    shape = info.tensors[op.inputs[0]].shape
    dims = {int(d) % len(shape) for d in op.options.get("squeeze_dims", [])} if shape else set()
    squeezed = dims or {i for i, d in enumerate(shape) if d == 1}
    first_real = next((i for i, d in enumerate(shape) if d > 1), len(shape))
    if any(i > first_real for i in squeezed):
        return f"removes a size-1 dimension after a larger one in {list(shape)} (a relayout)", "reshape instead of squeezing"
    return None


def unit_strides_no_masks(info: ModelInfo, op: OpInfo) -> Verdict:
    strides = _input(info, op, 3)
    if strides is None or strides.data is None or np.any(np.asarray(strides.data) != 1):
        return "slices with strides other than 1", "slice with stride 1 (subsample with pooling or a strided conv)"
    if op.options.get("ellipsis_mask", 0) or op.options.get("new_axis_mask", 0):
        return "uses an ellipsis or new-axis mask", "index without ... or None (tf.newaxis)"
    return None


def _padded_axes(info: ModelInfo, op: OpInfo) -> set[int] | None:
    pads = _input(info, op, 1)
    if pads is None or pads.data is None:
        return None
    rows = np.asarray(pads.data).reshape(-1, 2)
    return {i for i, row in enumerate(rows) if np.any(row != 0)}


def _rank_of(info: ModelInfo, op: OpInfo, position: int) -> int:
    t = _input(info, op, position)
    return len(t.shape) if t is not None else 0


def _names(axes: set[int] | None) -> str:
    return "an axis not known at compile time" if axes is None else ", ".join(_AXES.get(a, str(a)) for a in sorted(axes))


CHECKS: dict[str, Callable[[ModelInfo, OpInfo], Verdict]] = {
    fn.__name__: fn
    for fn in (no_fused_activation, constant_input_is_zero_pad, same_dilation, default_weights_format,
               one_dimensional_output, reduce_xy_only, no_batch_axis, z_reduction_multiple_of_4, pad_xy_only,
               no_batch_padding, alpha_innermost_only, integer_input, three_dimensional_io, softmax_1d_16000,
               squeeze_leading_ones, unit_strides_no_masks)
}
