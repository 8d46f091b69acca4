"""Keras -> TFLite conversion, ``.tflite`` reading and verification, the Edge TPU.

This package's namespace holds only the TensorFlow-free parts (reading and verifying a
``.tflite`` file also works on a device). The converter itself needs TensorFlow::

    from edgeloop.converters.tflite import convert

The Edge TPU parts: :mod:`~edgeloop.converters.edgetpu_ops` (Coral's op table),
:mod:`~edgeloop.converters.edgetpu` (``analyze``: the prediction, TensorFlow-free),
:mod:`~edgeloop.converters.edgetpu_compiler` (running ``edgetpu_compiler``),
:mod:`~edgeloop.converters.edgetpu_log` (reading its output) and
:mod:`~edgeloop.converters.edgetpu_fix` (the fix-it path).
"""

from edgeloop.converters.inspect import (
    ModelInfo,
    OpInfo,
    SubgraphInfo,
    TensorInfo,
    layer_name,
    max_nonzero_per_group,
    op_counts,
    read_model,
    weight_sparsity,
    weight_unique_values,
)
from edgeloop.converters.verify import Check, checks_to_dict, enforce, verify

__all__ = [
    "Check", "ModelInfo", "OpInfo", "SubgraphInfo", "TensorInfo",
    "checks_to_dict", "enforce", "layer_name", "max_nonzero_per_group", "op_counts", "read_model", "verify", "weight_sparsity", "weight_unique_values",
]
