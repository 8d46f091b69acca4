"""How much of a ``.tflite`` file the reader walks, and the checks every index and buffer
length passes before it is used.

A flatbuffer is a web of offsets: a flipped byte turns a vector length into billions, an
index into one past the end (or, in Python, a negative one that silently wraps), and a
few bytes of offsets can make a thousand tensors share one huge buffer or one long
vector. The reader therefore bounds its work before walking (subgraphs, tensors and ops
counted from the vector lengths first; every vector element it reads charged to a budget
proportional to the file's size) and checks each index against what it points into, as
the interpreter's own loader does.
"""

from __future__ import annotations

from math import prod

from edgeloop.errors import EdgeloopError

# A flatbuffer addresses at most 2 GiB (32-bit offsets); edgeloop reads no larger file.
MAX_MODEL_BYTES = 2**31 - 1
# Far above real edge models (a large detector has ~2,000 ops and ~4,000 tensors), and low
# enough that walking them stays within seconds in Python's flatbuffers reader (~0.1 ms each).
MAX_SUBGRAPHS = 1_000
MAX_TENSORS = 30_000
MAX_OPS = 30_000
# Constant bytes all tensors together may claim: tensors that share buffers count each
# time; a converter shares small constants, never a file's worth many times over.
SHARED_CONSTANTS_FACTOR = 4


# LiteRT's kernels count a tensor's elements in a 32-bit int (RuntimeShape::FlatSize): a
# shape with more elements overflows it, and allocating such a model crashed the interpreter.
MAX_ELEMENTS = 2**31 - 1
# TFLite's kernels take at most 8 dimensions (TFLITE_RESHAPE_PARAMS_MAX_DIMENSION_COUNT is 8,
# XNNPACK's limit 6); the XNNPACK delegate crashed allocating a model with a rank-11 tensor.
MAX_RANK = 8


class Budget:
    """Vector elements (shapes, indices, scales …) the reader may still read: a quarter of
    the file's bytes (each 32-bit element takes four bytes in a file that does not share
    vectors), plus slack for tiny files."""

    def __init__(self, file_bytes: int) -> None:
        self.left = file_bytes // 4 + 4096

    def take(self, n: int, what: str) -> None:
        """Charge ``n`` elements of ``what``; refuse when the file's vectors overlap past reason."""
        self.left -= n
        if self.left < 0:
            raise EdgeloopError(f"its vectors ({what} …) hold more elements than the file has bytes for: "
                                "they overlap, as only a crafted or corrupt file's do")


def check_counts(subgraphs: int, tensors: int, ops: int) -> None:
    """Refuse a model with more subgraphs, tensors or ops than the reader walks."""
    for count, limit, what in ((subgraphs, MAX_SUBGRAPHS, "subgraphs"), (tensors, MAX_TENSORS, "tensors"),
                               (ops, MAX_OPS, "operators")):
        if count > limit:
            raise EdgeloopError(f"it has {count:,} {what}, more than the {limit:,} edgeloop reads")


def check_index(value: int, size: int, what: str, optional: bool = False) -> int:
    """``value`` as an index into ``size`` things (``-1`` allowed where ``optional``)."""
    if optional and value == -1:
        return value
    if not 0 <= value < size:
        raise EdgeloopError(f"{what} is {value}, outside the {size} there are")
    return value


def check_shape(index: int, shape: tuple[int, ...], where: str) -> None:
    """A tensor's shape must have at most 8 dimensions and count no more elements than the
    interpreter's 32-bit sizes hold."""
    if len(shape) > MAX_RANK:
        raise EdgeloopError(f"{where}, tensor {index}: its shape has {len(shape)} dimensions, more than the "
                            f"{MAX_RANK} TFLite's kernels take")
    if prod(shape) > MAX_ELEMENTS and all(d >= 0 for d in shape):
        raise EdgeloopError(f"{where}, tensor {index}: its shape {list(shape)[:8]}{' …' if len(shape) > 8 else ''} "
                            f"has {prod(shape):,} elements, more than the {MAX_ELEMENTS:,} the interpreter counts")


def check_constant(index: int, name: str, dtype: str, shape: tuple[int, ...], itemsize: int | None,
                   held: int) -> None:
    """A constant's buffer must hold what its shape needs (the interpreter refuses one that
    does not), and its shape must have no negative dimension."""
    if any(d < 0 for d in shape):
        raise EdgeloopError(f"constant tensor {index} ({name}) has a negative dimension in {list(shape)}")
    if itemsize is None:
        return  # strings, int4 … : packed or variable-length
    needed = prod(shape) * itemsize
    if held < needed:
        raise EdgeloopError(f"constant tensor {index} ({name}) holds {held:,} bytes but its {dtype} shape "
                            f"{list(shape)} needs {needed:,}")


def check_shared_constants(claimed: int, file_bytes: int) -> None:
    """Refuse tensors that together claim the file's constants many times over."""
    if claimed > SHARED_CONSTANTS_FACTOR * file_bytes + 2**20:
        raise EdgeloopError(f"its tensors claim {claimed:,} bytes of constants from a {file_bytes:,}-byte file: "
                            "buffers shared past what a converter does")
