"""Refuse what is not a TFLite model before any interpreter sees it.

An upload must carry the ``TFL3`` file identifier and parse with the TFLite schema: every
tensor, buffer and operator of the main subgraph is read (the reader that ships with
``ai-edge-litert``). On a board that only has ``tflite_runtime`` (no schema module), the
flatbuffer's structure is walked by hand instead: root table, vtable, schema version 3
and a non-empty subgraph vector, each offset checked against the buffer's bounds.
"""

from __future__ import annotations

import struct

from edgeloop.errors import EdgeloopError

SCHEMA_VERSION = 3


def check_tflite(blob: bytes) -> dict:
    """Check that ``blob`` is a TFLite flatbuffer.

    Returns:
        ``{"ops": n, "tensors": n, "checked_with": "schema" | "structure"}``.

    Raises:
        EdgeloopError: not a TFLite flatbuffer (says why).
    """
    if len(blob) < 8 or blob[4:8] != b"TFL3":
        raise EdgeloopError("not a TFLite model: no TFL3 file identifier")
    import importlib.util

    if importlib.util.find_spec("ai_edge_litert") is None:  # tflite_runtime only: no schema module
        return {**_structure(blob), "checked_with": "structure"}
    from edgeloop.converters.inspect import read_model

    info = read_model(blob)
    if not info.ops:
        raise EdgeloopError("not a usable TFLite model: its main subgraph has no operator")
    return {"ops": len(info.ops), "tensors": len(info.tensors), "checked_with": "schema"}


def _structure(blob: bytes) -> dict:
    def u32(at: int) -> int:
        if at < 0 or at + 4 > len(blob):
            raise EdgeloopError("corrupt TFLite model: an offset points outside the file")
        return struct.unpack_from("<I", blob, at)[0]

    def field(table: int, slot: int) -> int | None:
        """Absolute position of a table's field, or None when absent."""
        vtable = table - struct.unpack_from("<i", blob, table)[0]
        if vtable < 0 or vtable + 4 > len(blob):
            raise EdgeloopError("corrupt TFLite model: bad vtable")
        size = struct.unpack_from("<H", blob, vtable)[0]
        at = 4 + 2 * slot
        if at + 2 > size:
            return None
        offset = struct.unpack_from("<H", blob, vtable + at)[0]
        return table + offset if offset else None

    root = u32(0)
    u32(root)
    version_at = field(root, 0)  # Model.version
    if version_at is None or u32(version_at) != SCHEMA_VERSION:
        raise EdgeloopError(f"not a TFLite model: schema version is not {SCHEMA_VERSION}")
    subgraphs_at = field(root, 2)  # Model.subgraphs
    if subgraphs_at is None:
        raise EdgeloopError("not a usable TFLite model: no subgraph")
    vector = subgraphs_at + u32(subgraphs_at)
    count = u32(vector)
    if count < 1 or vector + 4 + 4 * count > len(blob):
        raise EdgeloopError("corrupt TFLite model: bad subgraph vector")
    return {"ops": None, "tensors": None}
