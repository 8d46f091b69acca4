"""Refuse what is not a TFLite model, cheaply and within bounds, before any interpreter sees it.

The agent checks every upload in its own process, so the check must cost little whatever
the bytes say: a crafted flatbuffer with 2,000 subgraphs once took a full schema parse
112 s and 888 MB. This walk reads only the flatbuffer's skeleton (the ``TFL3`` identifier,
the root table, schema version 3, and the lengths of the subgraph, tensor, operator and
buffer vectors) with every offset checked against the file's bounds, and refuses counts
above :data:`LIMITS` before walking anything whose size they give. Its cost is bounded by
those limits, not by the file. The model itself is then read by the interpreter in the
benchmark's child process (:mod:`edgeloop.device.child`), which has a time and memory limit.

It is written by hand, not with the schema module of ``ai-edge-litert``: the schema's
reader walks every table it is asked for (unbounded work in the agent's process) and is
missing from ``tflite_runtime``-only boards.
"""

from __future__ import annotations

import struct

import numpy as np

from edgeloop.errors import EdgeloopError

SCHEMA_VERSION = 3

# Far above real models (MobileNet: 1 subgraph, ~170 tensors; large language models: tens
# of subgraphs, tens of thousands of tensors), far below what makes the walk or the
# interpreter's allocation expensive.
LIMITS = {"subgraphs": 256, "tensors": 2**20, "ops": 2**20, "buffers": 2**17}

# Field slots (the order of fields in the TFLite schema's tables).
_MODEL_VERSION, _MODEL_SUBGRAPHS, _MODEL_BUFFERS = 0, 2, 4
_SUBGRAPH_TENSORS, _SUBGRAPH_INPUTS, _SUBGRAPH_OUTPUTS, _SUBGRAPH_OPERATORS = 0, 1, 2, 3
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 0, 1, 2


def check_tflite(blob: bytes, limits: dict[str, int] | None = None) -> dict:
    """Check that ``blob`` is a TFLite flatbuffer of bounded size.

    Args:
        blob: the file's bytes.
        limits: most ``subgraphs``, ``tensors`` and ``ops`` (over all subgraphs) and
            ``buffers`` accepted (default :data:`LIMITS`).

    Returns:
        ``{"subgraphs": n, "buffers": n, "ops": n, "tensors": n}``, the last two of the
        main subgraph.

    Raises:
        EdgeloopError: not a TFLite flatbuffer, or one past the limits (says why).
    """
    if len(blob) < 8 or blob[4:8] != b"TFL3":
        raise EdgeloopError("not a TFLite model: no TFL3 file identifier")
    limits = {**LIMITS, **(limits or {})}
    fb = _Flatbuffer(blob)
    root = fb.table(fb.u32(0))
    version_at = fb.field(root, _MODEL_VERSION)
    if version_at is None or fb.u32(version_at) != SCHEMA_VERSION:
        raise EdgeloopError(f"not a TFLite model: schema version is not {SCHEMA_VERSION}")
    subgraphs = fb.vector(root, _MODEL_SUBGRAPHS, 4, "subgraph", limits["subgraphs"])
    if not subgraphs:
        raise EdgeloopError("not a usable TFLite model: no subgraph")
    buffers = fb.vector(root, _MODEL_BUFFERS, 4, "buffer", limits["buffers"])
    totals = {"tensors": 0, "ops": 0}
    main = {}
    for at in subgraphs:
        graph = fb.table(at + fb.u32(at))
        n_tensors = len(fb.vector(graph, _SUBGRAPH_TENSORS, 4, "tensor"))
        n_ops = len(fb.vector(graph, _SUBGRAPH_OPERATORS, 4, "operator"))
        for slot, what in ((_SUBGRAPH_INPUTS, "input"), (_SUBGRAPH_OUTPUTS, "output")):
            fb.indices(graph, slot, n_tensors, f"subgraph {what}")
        totals["tensors"] += n_tensors
        totals["ops"] += n_ops
        for what, total in totals.items():
            if total > limits[what]:
                raise EdgeloopError(f"refused: the model has more than {limits[what]} {what[:-1]}s "
                                    "(this agent's limit)")
        main = main or {"ops": n_ops, "tensors": n_tensors}
    if not main["ops"]:
        raise EdgeloopError("not a usable TFLite model: its main subgraph has no operator")
    for at in buffers:
        _check_buffer(fb, fb.table(at + fb.u32(at)))
    return {"subgraphs": len(subgraphs), "buffers": len(buffers), **main}


def _check_buffer(fb: "_Flatbuffer", buffer: int) -> None:
    fb.vector(buffer, _BUFFER_DATA, 1, "buffer data")  # bounds only
    offset_at, size_at = fb.field(buffer, _BUFFER_OFFSET), fb.field(buffer, _BUFFER_SIZE)
    offset = fb.u64(offset_at) if offset_at is not None else 0
    size = fb.u64(size_at) if size_at is not None else 0
    if offset > 1 and offset + size > len(fb.blob):  # data kept after the flatbuffer (large models)
        raise EdgeloopError("corrupt TFLite model: a buffer's data lies outside the file")


class _Flatbuffer:
    """Bounds-checked reads of a flatbuffer's tables and vectors."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob

    def u32(self, at: int) -> int:
        return self._read("<I", at, 4)

    def u64(self, at: int) -> int:
        return self._read("<Q", at, 8)

    def _read(self, fmt: str, at: int, size: int) -> int:
        if at < 0 or at + size > len(self.blob):
            raise EdgeloopError("corrupt TFLite model: an offset points outside the file")
        return struct.unpack_from(fmt, self.blob, at)[0]

    def table(self, at: int) -> int:
        """``at``, once its vtable is known to lie within the file."""
        vtable = at - struct.unpack("<i", struct.pack("<I", self.u32(at)))[0]
        if vtable < 0 or vtable + 4 > len(self.blob):
            raise EdgeloopError("corrupt TFLite model: bad vtable")
        size = struct.unpack_from("<H", self.blob, vtable)[0]
        if size < 4 or size % 2 or vtable + size > len(self.blob):
            raise EdgeloopError("corrupt TFLite model: bad vtable")
        return at

    def field(self, table: int, slot: int) -> int | None:
        """Absolute position of a table's field, or None when absent."""
        vtable = table - struct.unpack("<i", struct.pack("<I", self.u32(table)))[0]
        size = struct.unpack_from("<H", self.blob, vtable)[0]
        at = 4 + 2 * slot
        if at + 2 > size:
            return None
        offset = struct.unpack_from("<H", self.blob, vtable + at)[0]
        return table + offset if offset else None

    def vector(self, table: int, slot: int, item: int, what: str, limit: int | None = None) -> range:
        """Positions of a vector's items (empty when the field is absent), refused when its
        length is past ``limit`` or past the end of the file, before anything is walked."""
        at = self.field(table, slot)
        if at is None:
            return range(0)
        start = at + self.u32(at)
        count = self.u32(start)
        if limit is not None and count > limit:
            raise EdgeloopError(f"refused: the model has {count} {what}s, more than this agent's limit of {limit}")
        if start + 4 + count * item > len(self.blob):
            raise EdgeloopError(f"corrupt TFLite model: a vector of {count} {what}s does not fit in the file")
        return range(start + 4, start + 4 + count * item, item)

    def indices(self, table: int, slot: int, bound: int, what: str) -> None:
        """Refuse an int vector with an item outside ``[0, bound)``."""
        items = self.vector(table, slot, 4, what)
        if items:
            values = np.frombuffer(self.blob, "<i4", len(items), items.start)
            if values.min() < 0 or values.max() >= bound:
                raise EdgeloopError(f"corrupt TFLite model: a {what} names a tensor that does not exist")
