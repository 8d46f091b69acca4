"""What a converted model expects, written into the ``.tflite`` file itself.

A ``.tflite`` leaves the run folder alone (to a phone, a Coral), and its input tensor's
scale and zero point do not say whether 0–255 pixels go in as they are or after a
normalization. edgeloop adds one entry to the flatbuffer's ``metadata`` table (the place
the converter keeps its own ``min_runtime_version`` and ``CONVERSION_METADATA``):
:data:`NAME`, a JSON object with the preprocessing, whether it is folded into the model,
and the class names. Interpreters and the Edge TPU compiler ignore entries they do not
know; ``edgeloop inspect`` reads it back. Reading needs no TensorFlow.
"""

from __future__ import annotations

import json

import numpy as np

from edgeloop.converters.inspect import tflite_schema

NAME = "edgeloop.input"


def add_metadata(data: bytes, payload: dict) -> bytes:
    """``data`` with :data:`NAME` holding ``payload`` as JSON (replacing an earlier one)."""
    schema = tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    for kept_buffer in model.buffers or []:
        # A buffer the LiteRT quantizer stored after the flatbuffer (offset and size into the
        # file) would point past the end of the repacked file: carry its bytes inline.
        offset, size = getattr(kept_buffer, "offset", 0) or 0, getattr(kept_buffer, "size", 0) or 0
        if offset > 1 and size:
            kept_buffer.data = np.frombuffer(data[offset:offset + size], dtype=np.uint8)
            kept_buffer.offset, kept_buffer.size = 0, 0
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(payload, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    model.buffers = list(model.buffers or [])
    kept = []
    for entry in model.metadata or []:
        if _name(entry.name) == NAME:
            model.buffers[entry.buffer] = buffer
            buffer = None
        kept.append(entry)
    if buffer is not None:
        entry = schema.MetadataT()
        entry.name = NAME
        entry.buffer = len(model.buffers)
        model.buffers.append(buffer)
        kept.append(entry)
    model.metadata = kept
    builder = _AlignedBuilder(len(data) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _aligned_builder_class():
    import flatbuffers

    class AlignedBuilder(flatbuffers.Builder):
        """Keeps every buffer's data 16-byte aligned, as the converter writes it.

        The generated ``BufferT.Pack`` writes a buffer's bytes as a uint8 vector, aligned
        to 1: weights and int32 biases would start anywhere, where kernels and delegates
        read them in place from the mapped file.
        """

        def CreateNumpyVector(self, x):  # noqa: N802 (flatbuffers' name)
            if x.dtype == np.uint8 and x.ndim == 1:
                self.StartVector(1, x.size, 16)
                payload = x.tobytes()
                self.head = self.head - len(payload)
                self.Bytes[self.head:self.head + len(payload)] = payload
                self.vectorNumElems = x.size
                return self.EndVector()
            return super().CreateNumpyVector(x)

    return AlignedBuilder


def _AlignedBuilder(size: int):  # noqa: N802 (built lazily: flatbuffers comes with ai-edge-litert)
    return _aligned_builder_class()(size)


def read_metadata(data: bytes) -> dict | None:
    """The :data:`NAME` entry of a ``.tflite`` file's bytes, or ``None`` when it has none
    (or it is not readable JSON)."""
    schema = tflite_schema()
    try:
        root = schema.Model.GetRootAs(data, 0)
        for i in range(root.MetadataLength()):
            entry = root.Metadata(i)
            if _name(entry.Name()) != NAME:
                continue
            index = entry.Buffer()
            if not 0 <= index < root.BuffersLength():
                return None
            raw = root.Buffers(index).DataAsNumpy()
            return json.loads(bytes(raw).decode("utf-8")) if not isinstance(raw, int) else None
    except Exception:  # a damaged file: inspect reports the damage itself, this only adds a line
        return None
    return None


def input_payload(preprocess: dict | None, folded: bool, class_names: list[str] | None) -> dict:
    """The entry edgeloop writes: ``{"preprocess", "folded", "class_names"}``."""
    return {"preprocess": preprocess, "folded": folded, "class_names": class_names}


def expects(meta: dict | None, dtype: str, scale: float | None, zero_point: int | None) -> str:
    """One line for a user: what to feed the model's input.

    Args:
        meta: the file's :data:`NAME` entry (``None`` when it has none).
        dtype: the input tensor's type.
        scale: its quantization scale (``None`` for float inputs).
        zero_point: its zero point.
    """
    described = _describe(meta.get("preprocess")) if meta and meta.get("preprocess") else None
    if meta and meta.get("folded"):
        if scale is not None and abs(scale - 1.0) < 1e-6:
            return (f"raw 0–255 pixels as {dtype} (scale 1, zero point {zero_point}{': pixel - 128' if dtype == 'int8' else ''}); "
                    f"the preprocessing is folded in ({described})")
        return f"raw 0–255 pixels; the preprocessing is folded in ({described})"
    what = f"inputs preprocessed as: {described}" if described else "the model's inputs"
    if scale is None:
        return f"float32 {what}"
    sign = "-" if zero_point < 0 else "+"
    return f"{what}, quantized: q = round(x / {scale:.6g}) {sign} {abs(zero_point)} ({dtype})"


def _describe(spec: dict) -> str:
    from edgeloop.preprocess import Preprocess

    try:
        return Preprocess.parse(spec).describe()
    except Exception:  # written by another version: show it as it is
        return json.dumps(spec)


def _name(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")
