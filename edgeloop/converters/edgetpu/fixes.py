"""Fixes for the common reasons a model does not map to the Edge TPU; each says what it changed.

- :func:`static_batch`: a file whose batch dimension is dynamic (``-1`` in a shape
  signature; the compiler refuses it) gets batch 1, in the file itself (no TensorFlow).
- :func:`replace_unmappable_layers`: a Keras layer that becomes an op with no Edge TPU
  kernel is replaced by an equivalent that has one, where Coral's table allows it for
  the runtime compiled for (LeakyReLU -> PReLU with the same slope, shared over height
  and width: PReLU maps from runtime 13 with "shared_axes must be [1,2]"; a Coral
  engineer recommends exactly this swap in https://github.com/google-coral/edgetpu/issues/147).
- Float input/output is fixed by converting again with integer I/O (the ``compile``
  step does it: it has the Keras model and the calibration data).

Every fix returns plain sentences, "changed X because Y", for the report.
"""

from __future__ import annotations

import numpy as np

from edgeloop.converters.edgetpu.ops import REPLACEMENTS
from edgeloop.converters.inspect import read_model, tflite_schema
from edgeloop.errors import EdgeloopError

# Coral's row for PReLU: "If using Keras PReLU with 4D input (batch, height, width, channels),
# then shared_axes must be [1,2] so each filter has only one set of parameters."
_PRELU_SINCE = REPLACEMENTS["LEAKY_RELU"][2]


def static_batch(data: bytes) -> tuple[bytes, list[str]]:
    """Set a dynamic batch dimension (``-1`` first in a shape signature) to 1 in the file.

    Returns:
        The new file (the same bytes when nothing was dynamic) and what was changed.

    Raises:
        EdgeloopError: a dimension other than the batch is dynamic: that needs the Keras
            model converted with a fixed input shape.
    """
    info = read_model(data)
    if not any(t.is_dynamic for g in info.subgraphs for t in g.tensors):
        return data, []
    import flatbuffers

    model = tflite_schema().ModelT.InitFromPackedBuf(data, 0)
    fixed = []
    for graph in model.subgraphs:
        for tensor in graph.tensors or []:
            signature = [int(d) for d in tensor.shapeSignature] if tensor.shapeSignature is not None else []
            if -1 not in signature:
                continue
            name = tensor.name.decode("utf-8", "replace") if isinstance(tensor.name, bytes) else str(tensor.name)
            if -1 in signature[1:]:
                raise EdgeloopError(f"tensor {name} has dynamic dimensions besides the batch ({signature}): convert "
                                    "the Keras model with a fixed input shape")
            tensor.shapeSignature = np.asarray([1, *signature[1:]], dtype=np.int32)
            if tensor.shape is not None and len(tensor.shape):
                tensor.shape = np.asarray([1, *[int(d) for d in tensor.shape[1:]]], dtype=np.int32)
            fixed.append(name)
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    out = bytes(builder.Output())
    read_model(out)  # the rewritten file must parse
    shown = ", ".join(fixed[:2]) + (f" and {len(fixed) - 2} more" if len(fixed) > 2 else "")
    return out, [f"changed the batch dimension of {len(fixed)} tensor(s) ({shown}) from dynamic (-1) to 1 because "
                 "the Edge TPU compiler only takes tensors whose sizes are known when it compiles"]


def replace_unmappable_layers(model, runtime_version: int):
    """Swap Keras layers that have no Edge TPU kernel for an equivalent that has one.

    Only LeakyReLU is known here: it becomes PReLU whose alpha is the LeakyReLU slope in
    every channel, shared over height and width (identical outputs). PReLU maps from Edge
    TPU runtime 13, so for older runtimes nothing is changed.

    Returns:
        ``(model, changes)``: the rebuilt model (the same object when nothing changed)
        and one sentence per replaced layer.
    """
    from edgeloop._tf import keras
    from edgeloop.models.graph import split_layers

    if runtime_version < _PRELU_SINCE:
        return model, []
    replacements, changes = {}, []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.LeakyReLU):
            continue
        shape = layer.output_shape
        if not isinstance(shape, tuple) or any(d is None for d in shape[1:]):
            continue  # shared or multi-output layers and unknown sizes are left alone
        slope = float(layer.get_config()["alpha"])
        shared = list(range(1, len(shape) - 1))  # every axis but batch and channels
        alpha = np.full([1 if i + 1 in shared else d for i, d in enumerate(shape[1:])], slope, np.float32)
        config = {"name": layer.name, "shared_axes": shared or None, "trainable": layer.trainable}
        replacements[layer.name] = [("PReLU", config, [alpha])]
        changes.append(f"changed layer `{layer.name}` from LeakyReLU(alpha={slope:g}) to PReLU(alpha={slope:g}, "
                       f"shared_axes={shared}) because the Edge TPU has no LEAKY_RELU kernel and PRELU maps from "
                       f"runtime {_PRELU_SINCE} on; the outputs are the same")
    if not replacements:
        return model, []
    return split_layers(model, replacements), changes
