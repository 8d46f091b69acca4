"""TFLite's sparse tensor format (``SparsityParameters``) back to a dense array.

A sparse constant stores only its non-zero values (``DENSIFY`` expands it at run time):
each level of ``dim_metadata`` walks one dimension in ``traversal_order``, either DENSE
(``dense_size`` entries) or SPARSE_CSR (``array_segments`` / ``array_indices``, compressed
rows); ``block_map`` names the original dimensions split into blocks, whose in-block
positions are the extra levels past the tensor's rank. This follows the format's
description in TFLite's schema (``SparsityParameters``) and its ``FormatConverter``.

Pure numpy over the schema's object API: it runs wherever a ``.tflite`` can be read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeloop.errors import EdgeloopError

DENSE, SPARSE_CSR = 0, 1


@dataclass(frozen=True)
class Level:
    """One level of the traversal: DENSE with ``dense_size``, or CSR segments and indices."""

    format: int
    dense_size: int = 0
    segments: np.ndarray | None = None
    indices: np.ndarray | None = None


def densify(values: np.ndarray, shape: tuple[int, ...], traversal_order: list[int], block_map: list[int],
            levels: list[Level]) -> np.ndarray:
    """The dense array a sparse constant stands for.

    Args:
        values: the stored (non-zero) values, in traversal order.
        shape: the dense shape.
        traversal_order: for each level, the dimension it walks (``>= rank``: a block dimension).
        block_map: the original dimensions that are blocked, in block-dimension order.
        levels: one :class:`Level` per entry of ``traversal_order``.

    Raises:
        EdgeloopError: metadata that does not fit the shape or the stored values.
    """
    rank = len(shape)
    if len(levels) != len(traversal_order):
        raise EdgeloopError(f"sparse tensor: {len(levels)} levels for a traversal order of {len(traversal_order)}")
    block_sizes = {}
    for level, dim in zip(levels, traversal_order):
        if dim >= rank:
            if dim - rank >= len(block_map):
                raise EdgeloopError(f"sparse tensor: block dimension {dim} has no entry in the block map")
            block_sizes[block_map[dim - rank]] = level.dense_size
    dense = np.zeros(shape, dtype=values.dtype)
    coord = [0] * rank
    n_values = len(values)

    def walk(depth: int, position: int) -> None:
        if depth == len(levels):
            if position >= n_values:
                raise EdgeloopError("sparse tensor: metadata points past the stored values")
            dense[tuple(coord)] = values[position]
            return
        level, dim = levels[depth], traversal_order[depth]
        if dim < rank:
            target, stride = dim, block_sizes.get(dim, 1)
        else:
            target, stride = block_map[dim - rank], 1
        saved = coord[target]
        if level.format == DENSE:
            entries = ((i, position * level.dense_size + i) for i in range(level.dense_size))
        else:
            seg, idx = level.segments, level.indices
            if seg is None or idx is None or position + 1 >= len(seg) or seg[position + 1] > len(idx):
                raise EdgeloopError("sparse tensor: CSR segments do not fit their indices")
            entries = ((int(idx[k]), k) for k in range(int(seg[position]), int(seg[position + 1])))
        for i, child in entries:
            coord[target] = saved + i * stride
            if coord[target] >= shape[target]:
                raise EdgeloopError(f"sparse tensor: index {coord[target]} past dimension {target} of size {shape[target]}")
            walk(depth + 1, child)
        coord[target] = saved

    walk(0, 0)
    return dense


def _vector(union) -> np.ndarray | None:
    # Int32Vector / Uint16Vector / Uint8Vector tables all hold ``values``.
    if union is None:
        return None
    values = getattr(union, "values", None)
    return None if values is None else np.asarray(values, dtype=np.int64)


def levels_of(sparsity) -> tuple[list[int], list[int], list[Level]]:
    """Traversal order, block map and levels of a schema ``SparsityParametersT``."""
    levels = [Level(int(d.format), int(d.denseSize), _vector(d.arraySegments), _vector(d.arrayIndices))
              for d in (sparsity.dimMetadata or [])]
    order = [int(v) for v in (sparsity.traversalOrder if sparsity.traversalOrder is not None else [])]
    block_map = [int(v) for v in (sparsity.blockMap if sparsity.blockMap is not None else [])]
    return order, block_map, levels
