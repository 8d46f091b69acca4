"""The Edge TPU's supported operations and their constraints, as data.

One :class:`OpSupport` per row of Coral's table "All operations supported by the Edge
TPU and any known limitations" (https://coral.ai/docs/edgetpu/models-intro/#supported-operations).
An op with two rows (``DepthwiseConv2d`` up to runtime 12, and from 13 on) has two
entries with their runtime ranges. ``limits`` name the checks the analyzer runs
(:mod:`edgeloop.converters.edgetpu.analyzer`); ``warns`` name limitations Coral states without a
rule one could check ("depending on input/output size …"). An op absent from this table
is not supported: the compiler reports it as "Operation not supported".

How the table was sourced (the stored copies of coral.ai return only each page's
opening, so the table itself came from copies of it):

- OLD: Coral's table as it stood before runtime 13, two columns (name, known
  limitations), quoted whole at
  https://github.com/dgist-datalab/Datalab_Intern/blob/master/Edge_TPU/convert_model_for_Edge_TPU.md
  Every op in it is marked as available on "All" runtimes.
- AXIS: the current table (runtime 14) as Axis republishes it for its Edge TPU based
  ARTPEC-7 chip, https://developer.axis.com/computer-vision/on-device/system-on-chip/artpec-7/supported-ops/
  (rows Add … ResizeBilinear could be read; the rest of that page could not).
- ISSUE: a Coral maintainer in a google-coral/edgetpu thread.
- NOT FOUND: the "Runtime version" column of the current table could not be read in any
  stored copy. Ops in OLD are marked "All"; ops only in the newer table get the runtime
  a source names (ISSUE: Transpose came with compiler 16 / runtime 14), else the one they
  are remembered with from Coral's table (13 or 14), marked ``since_confirmed=False``.
  Where OLD and AXIS word a limitation differently (Mean, Pad, Squeeze), the OLD wording
  applies up to runtime 12 and the AXIS wording from 13 (the split point is not
  confirmed either). The rows of the current table after ResizeBilinear could not be
  read at all: ops OLD has (Slice, Softmax, SpaceToDepth, Split, Squeeze, StridedSlice,
  Sub, Tanh) keep OLD's text; Rsqrt, SquaredDifference and Sum (``source=NOT_FOUND``)
  and TransposeConv (listed by Coral's table per a user's screenshot in ISSUE 684) are
  entered without limitation text, Sum with the batch-axis rule its siblings have.
"""

from __future__ import annotations

from dataclasses import dataclass

MODELS_INTRO = "https://coral.ai/docs/edgetpu/models-intro/"
OLD = "https://github.com/dgist-datalab/Datalab_Intern/blob/master/Edge_TPU/convert_model_for_Edge_TPU.md"
AXIS = "https://developer.axis.com/computer-vision/on-device/system-on-chip/artpec-7/supported-ops/"
ISSUE_TRANSPOSE = "https://github.com/google-coral/edgetpu/issues/193"  # "Compiler version 16 supports 'Transpose'"
ISSUE_LEAKY = "https://github.com/google-coral/edgetpu/issues/147"  # "give PRELU a go instead [of LeakyRelu]"
ISSUE_TRANSPOSE_CONV = "https://github.com/google-coral/edgetpu/issues/684"  # the table lists Conv2DTranspose
NOT_FOUND = "not found in a stored copy (see the module docstring)"

# The newest Edge TPU runtime (libedgetpu) and the one compiler 16 targets by default.
LATEST_RUNTIME = 14


@dataclass(frozen=True)
class OpSupport:
    """One row of Coral's supported-operations table.

    Attributes:
        op: the TFLite builtin operator (``CONV_2D``).
        coral_name: the name Coral's table uses (``Conv2d``).
        since: first Edge TPU runtime version with this row (``None``: all runtimes).
        until: last runtime version of this row (``None``: still current).
        limits: checks the analyzer runs for this row (keys of its rule table).
        warns: limitations Coral states without a rule that can be checked; the analyzer
            shows the note as a warning (``resize_precision``: "depending on input/output size").
        note: Coral's "known limitations" text for the row.
        source: where the row's text was read.
        since_confirmed: the runtime version was read in a source (see the module doc).
    """

    op: str
    coral_name: str
    since: int | None = None
    until: int | None = None
    limits: tuple[str, ...] = ()
    warns: tuple[str, ...] = ()
    note: str = ""
    source: str = OLD
    since_confirmed: bool = True

    def covers(self, runtime: int) -> bool:
        """This row applies to Edge TPU runtime ``runtime``."""
        return (self.since is None or runtime >= self.since) and (self.until is None or runtime <= self.until)


_NO_ACT = "No fused activation function."
_S = OpSupport
TABLE: tuple[OpSupport, ...] = (
    _S("ADD", "Add"),
    _S("AVERAGE_POOL_2D", "AveragePool2d", limits=("no_fused_activation",), note=_NO_ACT),
    _S("CONCATENATION", "Concatenation", limits=("no_fused_activation", "constant_input_is_zero_pad"),
       note="No fused activation function. If any input is a compile-time constant tensor, there must be only 2 "
            "inputs, and this constant tensor must be all zeroes (effectively, a zero-padding op)."),
    _S("CONV_2D", "Conv2d", limits=("same_dilation",), note="Must use the same dilation in x and y dimensions.",
       source=AXIS),
    _S("DEPTHWISE_CONV_2D", "DepthwiseConv2d", limits=("same_dilation",),
       note="Must use the same dilation in x and y dimensions.", source=AXIS),
    _S("EXPAND_DIMS", "ExpandDims", since=13, source=AXIS, since_confirmed=False),
    _S("FULLY_CONNECTED", "FullyConnected", limits=("default_weights_format", "one_dimensional_output"),
       note="Only the default format is supported for fully-connected weights. Output tensor is one-dimensional."),
    _S("L2_NORMALIZATION", "L2Normalization"),
    _S("LOGISTIC", "Logistic"),
    _S("UNIDIRECTIONAL_SEQUENCE_LSTM", "LSTM", since=14, note="Unidirectional LSTM only.", source=AXIS,
       since_confirmed=False),
    _S("MAXIMUM", "Maximum"),
    _S("MAX_POOL_2D", "MaxPool2d", limits=("no_fused_activation",), note=_NO_ACT),
    _S("MEAN", "Mean", until=12, limits=("reduce_xy_only",),
       note="Supports reduction along x- and/or y-dimensions only.", since_confirmed=False),
    _S("MEAN", "Mean", since=13, limits=("no_batch_axis", "z_reduction_multiple_of_4"),
       note="No reduction in batch dimension. If a z-reduction, the z-dimension must be multiple of 4.",
       source=AXIS, since_confirmed=False),
    _S("MINIMUM", "Minimum"),
    _S("MUL", "Mul"),
    _S("PACK", "Pack", since=13, limits=("no_batch_axis",), note="No packing in batch dimension.", source=AXIS,
       since_confirmed=False),
    _S("PAD", "Pad", until=12, limits=("pad_xy_only",), note="Supports padding along x- and/or y-dimensions only.",
       since_confirmed=False),
    _S("PAD", "Pad", since=13, limits=("no_batch_padding",), note="No padding in batch dimension.", source=AXIS,
       since_confirmed=False),
    _S("PRELU", "PReLU", since=13, limits=("alpha_innermost_only",),
       note="Alpha must be 1-dimensional (only the innermost dimension can be >1 size). If using Keras PReLU with "
            "4D input (batch, height, width, channels), then shared_axes must be [1,2] so each filter has only one "
            "set of parameters.", source=AXIS, since_confirmed=False),
    _S("QUANTIZE", "Quantize", since=13, limits=("integer_input",), source=AXIS, since_confirmed=False,
       note="A float -> int8 Quantize at the input stays on the CPU (models-intro, 'Float input and output tensors')."),
    _S("REDUCE_MAX", "ReduceMax", since=14, limits=("no_batch_axis",), note="Cannot operate on the batch dimension.",
       source=AXIS, since_confirmed=False),
    _S("REDUCE_MIN", "ReduceMin", since=14, limits=("no_batch_axis",), note="Cannot operate on the batch dimension.",
       source=AXIS, since_confirmed=False),
    _S("RELU", "ReLu"),
    _S("RELU6", "ReLu6"),
    _S("RELU_N1_TO_1", "ReLuN1To1"),
    _S("RESHAPE", "Reshape", source=AXIS,
       note="Certain reshapes might not be mapped for large tensor sizes."),
    _S("RESIZE_BILINEAR", "ResizeBilinear", limits=("three_dimensional_io",), warns=("resize_precision",),
       note="Input/output is a 3-dimensional tensor. Depending on input/output size, this operation may not be "
            "mapped to the Edge TPU to avoid loss in precision."),
    _S("RESIZE_NEAREST_NEIGHBOR", "ResizeNearestNeighbor", limits=("three_dimensional_io",),
       warns=("resize_precision",),
       note="Input/output is a 3-dimensional tensor. Depending on input/output size, this operation may not be "
            "mapped to the Edge TPU to avoid loss in precision."),
    _S("RSQRT", "Rsqrt", since=14, source=NOT_FOUND, since_confirmed=False),
    _S("SLICE", "Slice"),
    _S("SOFTMAX", "Softmax", limits=("softmax_1d_16000",),
       note="Supports only 1D input tensor with a max of 16,000 elements."),
    _S("SPACE_TO_DEPTH", "SpaceToDepth"),
    _S("SPLIT", "Split"),
    _S("SQUARED_DIFFERENCE", "SquaredDifference", since=14, source=NOT_FOUND, since_confirmed=False),
    _S("SQUEEZE", "Squeeze", until=12, limits=("squeeze_leading_ones",), since_confirmed=False,
       note="Supported only when input tensor dimensions that have leading 1s (that is, no relayout needed). For "
            "example input tensor with [y][x][z] = 1,1,10 or 1,5,10 is ok. But [y][x][z] = 5,1,10 is not supported."),
    _S("SQUEEZE", "Squeeze", since=13, source=AXIS, since_confirmed=False),
    _S("STRIDED_SLICE", "StridedSlice", limits=("unit_strides_no_masks",),
       note="Supported only when all strides are equal to 1 (that is, effectively a Stride op), and with "
            "ellipsis-axis-mask == 0, and new-axis-max == 0."),
    _S("SUB", "Sub"),
    _S("SUM", "Sum", since=13, limits=("no_batch_axis",), source=NOT_FOUND, since_confirmed=False),
    _S("TANH", "Tanh"),
    _S("TRANSPOSE", "Transpose", since=14, source=ISSUE_TRANSPOSE,
       note="Added with compiler 16 (runtime 14), per a Coral maintainer."),
    _S("TRANSPOSE_CONV", "TransposeConv", since=13, source=ISSUE_TRANSPOSE_CONV, since_confirmed=False),
)

# Op versions the compiler refuses ("Operation version not supported" in its log). TFLite
# gives an op a higher version when it uses a newer option, so the rule names the options
# that raise it (TensorFlow's tensorflow/lite/tools/versioning/op_version.cc: RESIZE_BILINEAR
# is version 3 with half_pixel_centers; RESIZE_NEAREST_NEIGHBOR with half_pixel_centers or
# align_corners; both are version 2 for plain int8). Keras' UpSampling2D and Resizing always
# set half_pixel_centers. Only ops whose limit a source shows are listed.
ISSUE_RESIZE_NN = "https://github.com/google-coral/edgetpu/issues/420"  # RESIZE_NEAREST_NEIGHBOR, TF 2.5, compiler 15
ISSUE_RESIZE_BILINEAR = "https://github.com/google-coral/edgetpu/issues/396"  # RESIZE_BILINEAR, TF 2.3-2.5
ISSUE_RESIZE_BOTH = "https://github.com/google-coral/edgetpu/issues/187"  # both; works with half_pixel_centers=False
OP_VERSION_RULES = "tensorflow/lite/tools/versioning/op_version.cc"


@dataclass(frozen=True)
class VersionLimit:
    """The newest version of an op the Edge TPU compiler takes, and what raises an op past it.

    Attributes:
        max_version: the newest version mapped.
        options: ``(option, value the op must have)`` for each builtin option that raises
            the op's version past ``max_version``.
        fix: how to build the layer so it stays at ``max_version``.
        sources: where the limit was read (Coral issue threads, TensorFlow's versioning).
    """

    max_version: int
    options: tuple[tuple[str, object], ...]
    fix: str
    sources: tuple[str, ...]


_RESIZE_FIX = ("resize with half_pixel_centers=False{corners}: Keras {layer} set it True; use a Lambda layer "
               "calling tf.compat.v1.image.{call}(x, size, align_corners=False, half_pixel_centers=False)")
VERSION_LIMITS: dict[str, VersionLimit] = {
    "RESIZE_BILINEAR": VersionLimit(
        2, (("half_pixel_centers", False),),
        _RESIZE_FIX.format(corners="", layer="Resizing (bilinear) and UpSampling2D(interpolation='bilinear')",
                           call="resize_bilinear"),
        (ISSUE_RESIZE_BILINEAR, ISSUE_RESIZE_BOTH, OP_VERSION_RULES)),
    "RESIZE_NEAREST_NEIGHBOR": VersionLimit(
        2, (("half_pixel_centers", False), ("align_corners", False)),
        _RESIZE_FIX.format(corners=" and align_corners=False", layer="UpSampling2D and Resizing('nearest')",
                           call="resize_nearest_neighbor"),
        (ISSUE_RESIZE_NN, ISSUE_RESIZE_BOTH, OP_VERSION_RULES)),
}


# Model requirements that hold for every op ("Model requirements", models-intro). The page's
# opening, which the stored copies do show, reads "It supports only TensorFlow Lite models
# that are fully 8-bit quantized"; the list is in OLD (in Korean, with the last rule quoted
# in English) and restated in Axis' optimization tips,
# https://developer.axis.com/computer-vision/on-device/system-on-chip/artpec-7/optimization-tips/:
#   - tensor parameters are quantized to 8 bits (int8 / uint8);
#   - tensor sizes are constant at compile time (no dynamic sizes);
#   - model parameters such as bias tensors are constant at compile time;
#   - "If a tensor has more than 3 dimensions, then only the 3 innermost dimensions may
#     have a size greater than 1."
# The analyzer checks them in edgetpu.py (_model_problems, _requirements).

# Layers with no Edge TPU kernel and the equivalent that has one (the fix-it path uses it).
REPLACEMENTS = {
    "LEAKY_RELU": ("LeakyReLU", "PReLU", 13, ISSUE_LEAKY),
}


def rows_for(op: str) -> tuple[OpSupport, ...]:
    """Every row of the table for TFLite op ``op`` (empty: not supported)."""
    return tuple(row for row in TABLE if row.op == op)


def row_for(op: str, runtime: int) -> OpSupport | None:
    """The row for ``op`` on Edge TPU runtime ``runtime``, or ``None``."""
    return next((row for row in rows_for(op) if row.covers(runtime)), None)
