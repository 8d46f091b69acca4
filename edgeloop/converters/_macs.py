"""Multiply-accumulates of one operator, estimated from the shapes in the file.

Only the ops that do the arithmetic of a network are counted (convolutions,
fully-connected layers, matrix products); element-wise ops, pooling and reshapes count
zero. Layouts are TFLite's: conv filters ``[out, kh, kw, in]``, depthwise filters
``[1, kh, kw, out]``, fully-connected weights ``[units, in]``.
"""

from __future__ import annotations

from math import prod


def op_macs(name: str, inputs: list[tuple[int, ...] | None], outputs: list[tuple[int, ...] | None]) -> int:
    """MACs of op ``name`` given its input and output shapes (``None`` for an absent operand)."""
    out = outputs[0] if outputs else None
    if not out:
        return 0
    if name == "CONV_2D" and _has(inputs, 1, 4):
        _, kh, kw, cin = inputs[1]
        return prod(out) * kh * kw * cin
    if name == "DEPTHWISE_CONV_2D" and _has(inputs, 1, 4):
        _, kh, kw, _ = inputs[1]
        return prod(out) * kh * kw
    if name == "FULLY_CONNECTED" and _has(inputs, 1, 2):
        units, depth = inputs[1]
        return prod(out) * depth if out[-1] == units else 0
    if name == "TRANSPOSE_CONV" and _has(inputs, 1, 4) and _has(inputs, 2, 4):
        cout, kh, kw, _ = inputs[1]
        return prod(inputs[2]) * kh * kw * cout  # every input value scatters a kh x kw x out patch
    if name == "CONV_3D" and _has(inputs, 1, 5):
        kd, kh, kw, cin, _ = inputs[1]
        return prod(out) * kd * kh * kw * cin
    if name == "BATCH_MATMUL" and _has(inputs, 0, 2):
        return prod(out) * inputs[0][-1]
    return 0


def _has(shapes: list[tuple[int, ...] | None], position: int, rank: int) -> bool:
    return len(shapes) > position and shapes[position] is not None and len(shapes[position]) == rank
