"""Keras -> TFLite conversion, ``.tflite`` reading and verification, the Edge TPU.

This package's namespace holds only the TensorFlow-free parts (reading and verifying a
``.tflite`` file also works on a device). The converter itself needs TensorFlow::

    from edgeloop.converters.tflite import convert

The Edge TPU is the sub-package :mod:`edgeloop.converters.edgetpu` (op table, rules,
analyzer, fixes, compiler wrapper, log parser, text, and the one predict -> fix -> compile
path).
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
