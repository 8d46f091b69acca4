"""Malformed ``.tflite`` inputs for the fuzz harness (:mod:`benchmarks.fuzz`), made from a
seed and an index so that any case can be made again on its own.

Four families, from real converted models (the *seed models*):

- ``truncate``: the file cut short at a random byte;
- ``flip``: 1-16 random bits flipped, or an "interesting" 32-bit value (0, -1, 2**31 - 1,
  the file's length …) written over an aligned word, where offsets and lengths live;
- ``crafted``: the model read with the flatbuffers object API of LiteRT's schema
  (``ai_edge_litert.schema_py_generated``), one field set to something absurd (a shape
  of 2**31 - 1 or rank 64, a tensor index of 10**6 or -2, an operator-code or buffer index
  past the end, a buffer shorter than its shape, an external buffer past the file, 1,100
  subgraphs, 40,000 tensors, a cycle, stride 0, an unknown op or type …) and packed again;
- ``special``: a FIFO, a folder, a 64 GiB sparse file, an unreadable file, a symlink
  loop, a dangling symlink, ``/dev/zero``, an empty file.
"""

from __future__ import annotations

import copy
import os
import random
from dataclasses import dataclass
from pathlib import Path

FAMILIES = ("truncate", "flip", "crafted", "special")
WEIGHTS = (0.2, 0.3, 0.45, 0.05)
INTERESTING = (0, 1, -1, 0x7FFFFFFF, -0x80000000, 0xFFFF, 0x10000, 2**31 - 8, 10**6)


@dataclass(frozen=True)
class Case:
    """One input: what made it (``family/variant``), its file, and the seed model it came from."""

    index: int
    kind: str
    path: Path
    seed_model: str | None


def make_case(index: int, seed: int, seeds: dict[str, bytes], folder: Path) -> Case:
    """Case ``index`` of the run seeded ``seed``, written into ``folder``."""
    rng = random.Random(f"{seed}:{index}")
    family = rng.choices(FAMILIES, WEIGHTS)[0]
    folder.mkdir(parents=True, exist_ok=True)
    if family == "special":
        variant = rng.choice(SPECIAL)
        return Case(index, f"special/{variant}", _special(variant, folder / f"case{index}.tflite"), None)
    name = rng.choice(sorted(seeds))
    blob = seeds[name]
    if family == "truncate":
        variant, data = "truncate", blob[: rng.choice((rng.randrange(len(blob)), rng.randrange(16)))]
    elif family == "flip":
        variant, data = _flip(rng, blob)
    else:
        variant = rng.choice(sorted(CRAFTS) + sorted(MANY))
        if variant in MANY:
            data = _many(folder / ".many", name, blob, variant, rng.choice(MANY[variant]))
        else:
            data = craft(variant, blob, rng)
    path = folder / f"case{index}.tflite"
    path.write_bytes(data)
    return Case(index, f"{family}/{variant}", path, name)


def _flip(rng: random.Random, blob: bytes) -> tuple[str, bytes]:
    data = bytearray(blob)
    if rng.random() < 0.5:
        for _ in range(rng.randint(1, 16)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return "bits", bytes(data)
    at = rng.randrange(0, max(1, len(data) - 4)) & ~3
    value = rng.choice(INTERESTING + (len(blob), len(blob) + rng.randint(1, 64)))
    data[at:at + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")
    return "word", bytes(data)


# --- crafted: the object API of LiteRT's schema ------------------------------------------------

def _schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def unpack(blob: bytes):
    """``blob`` as the schema's object tree (``ModelT``), to change and :func:`pack` again."""
    return _schema().ModelT.InitFromPackedBuf(blob, 0)


def pack(model) -> bytes:
    """A ``ModelT`` as ``.tflite`` bytes."""
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _tensor(model, rng):
    graph = model.subgraphs[0]
    return graph.tensors[rng.randrange(len(graph.tensors))]


def _op(model, rng):
    ops = model.subgraphs[0].operators
    return ops[rng.randrange(len(ops))]


def _shape_huge(model, rng):
    t = _tensor(model, rng)
    shape = list(t.shape if t.shape is not None else [1])
    shape[rng.randrange(len(shape))] = rng.choice((2**31 - 1, 10**9, -1, -5, 0, 65536))
    t.shape = shape


def _shape_rank(model, rng):
    _tensor(model, rng).shape = [rng.choice((2, 3, 255))] * rng.choice((9, 33, 64))


def _op_index(model, rng):
    op = _op(model, rng)
    vector = op.inputs if rng.random() < 0.6 and op.inputs is not None else op.outputs
    vector[rng.randrange(len(vector))] = rng.choice((10**6, -2, -10**6, 2**31 - 1, len(model.subgraphs[0].tensors)))


def _graph_io(model, rng):
    graph = model.subgraphs[0]
    value = [rng.choice((10**6, -3, len(graph.tensors), 2**31 - 1))]
    if rng.random() < 0.5:
        graph.inputs = value
    else:
        graph.outputs = value


def _opcode_index(model, rng):
    _op(model, rng).opcodeIndex = len(model.operatorCodes) + rng.choice((0, 1, 1000, 2**31))


def _buffer_index(model, rng):
    _tensor(model, rng).buffer = len(model.buffers) + rng.choice((0, 5, 2**31))


def _constants(model):
    return [t for t in model.subgraphs[0].tensors if t.buffer and model.buffers[t.buffer].data is not None
            and len(model.buffers[t.buffer].data)]


def _buffer_short(model, rng):
    constants = _constants(model)
    if constants:
        buffer = model.buffers[rng.choice(constants).buffer]
        buffer.data = buffer.data[: rng.choice((0, 1, len(buffer.data) // 2, len(buffer.data) - 1))]


def _buffer_offset(model, rng):
    constants = _constants(model)
    if constants:
        buffer = model.buffers[rng.choice(constants).buffer]
        buffer.data = None
        buffer.offset = rng.choice((2, 10**6, 2**40, 2**63))
        buffer.size = rng.choice((1, 10**9, 2**40, 2**63))


# Counts for the "many" variants: under the reader's limits (walked), and over them (refused).
MANY = {"subgraphs": (64, 500, 1_100), "tensors": (10_000, 40_000), "operators": (2_000, 10_000)}


def _many(cache: Path, name: str, blob: bytes, what: str, count: int) -> bytes:
    """Seed model ``name`` with ``count`` subgraphs, tensors or operators (4 operators repeated
    2,500 times make 10,000). Packing that many objects takes seconds, so each file is made
    once per run and kept in ``cache``."""
    path = cache / f"{name}-{what}-{count}.tflite"
    if path.is_file():
        return path.read_bytes()
    model = unpack(blob)
    graph = model.subgraphs[0]
    if what == "subgraphs":
        model.subgraphs = [copy.deepcopy(graph) for _ in range(count)]
    elif what == "tensors":
        graph.tensors = list(graph.tensors) + [copy.deepcopy(graph.tensors[0])] * (count - len(graph.tensors))
    else:
        graph.operators = list(graph.operators) * max(1, count // max(1, len(graph.operators)))
    data = pack(model)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{path.name}.{os.getpid()}"
    tmp.write_bytes(data)
    tmp.replace(path)
    return data


def _cycle(model, rng):
    ops = model.subgraphs[0].operators
    ops[0].inputs[0] = ops[-1].outputs[0]  # the first op reads what the last one writes


def _stride_zero(model, rng):
    schema = _schema()
    for op in model.subgraphs[0].operators:
        options = op.builtinOptions
        if options is not None and hasattr(options, "strideW"):
            options.strideW, options.strideH = rng.choice(((0, 0), (0, 1), (-1, 1), (2**31 - 1, 1)))
            return
        if options is not None and hasattr(options, "filterWidth"):
            options.filterWidth = 0
            return
    model.subgraphs[0].operators[0].builtinOptionsType = schema.BuiltinOptions.Conv2DOptions
    model.subgraphs[0].operators[0].builtinOptions = schema.Conv2DOptionsT()


def _op_version(model, rng):
    code = model.operatorCodes[rng.randrange(len(model.operatorCodes))]
    code.version = rng.choice((0, -1, 1000, 2**31 - 1))


def _op_code(model, rng):
    code = model.operatorCodes[rng.randrange(len(model.operatorCodes))]
    value = rng.choice((127, 210, 255, 1000, -4))
    code.builtinCode = value
    code.deprecatedBuiltinCode = max(-128, min(127, value))


def _options_type(model, rng):
    op = _op(model, rng)
    op.builtinOptionsType = rng.choice((1, 5, 60, 200))


def _quantization(model, rng):
    schema = _schema()
    t = _tensor(model, rng)
    q = t.quantization or schema.QuantizationParametersT()
    choice = rng.randrange(4)
    if choice == 0:
        q.scale, q.zeroPoint = [], [0, 0, 0]
    elif choice == 1:
        q.scale, q.zeroPoint = [float("nan"), float("inf")], [1]
    elif choice == 2:
        q.quantizedDimension = rng.choice((100, -1, 2**31 - 1))
    else:
        q.scale, q.zeroPoint = [0.0] * 1000, [2**40] * 1000
    t.quantization = q


def _dtype(model, rng):
    _tensor(model, rng).type = rng.choice((-1, 17, 100, 127))


def _no_subgraphs(model, rng):
    model.subgraphs = []


def _no_ops(model, rng):
    model.subgraphs[0].operators = []


def _signature(model, rng):
    schema = _schema()
    sig = schema.SignatureDefT()
    tensor = schema.TensorMapT()
    tensor.name, tensor.tensorIndex = b"x", rng.choice((10**6, 2**31 - 1))
    sig.inputs, sig.outputs, sig.signatureKey, sig.subgraphIndex = [tensor], [tensor], b"serving_default", rng.choice((0, 99))
    model.signatureDefs = [sig]


CRAFTS = {
    "shape_huge": _shape_huge, "shape_rank": _shape_rank, "op_index": _op_index, "graph_io": _graph_io,
    "opcode_index": _opcode_index, "buffer_index": _buffer_index, "buffer_short": _buffer_short,
    "buffer_offset": _buffer_offset, "cycle": _cycle, "stride_zero": _stride_zero, "op_version": _op_version,
    "op_code": _op_code, "options_type": _options_type, "quantization": _quantization, "dtype": _dtype,
    "no_subgraphs": _no_subgraphs, "no_ops": _no_ops, "signature": _signature,
}


def craft(variant: str, blob: bytes, rng: random.Random) -> bytes:
    """``blob`` with the absurdity ``variant`` names; the unchanged file where it does not
    apply, or where the schema's packer refuses the value (it range-checks some)."""
    model = unpack(blob)
    try:
        CRAFTS[variant](model, rng)
        return pack(model)
    except (ValueError, OverflowError, TypeError, AttributeError, IndexError, __import__("struct").error):
        return blob


# --- special paths ----------------------------------------------------------------------------

SPECIAL = ("fifo", "folder", "sparse_64gib", "sparse_valid_head", "unreadable", "symlink_loop", "dangling",
           "dev_zero", "empty")


def _special(variant: str, path: Path) -> Path:
    for old in (path,):
        if old.is_symlink() or old.exists():
            if old.is_dir() and not old.is_symlink():
                os.rmdir(old)
            else:
                old.unlink()
    if variant == "fifo":
        os.mkfifo(path)
    elif variant == "folder":
        path.mkdir()
    elif variant in ("sparse_64gib", "sparse_valid_head"):
        with open(path, "wb") as f:
            if variant == "sparse_valid_head":
                f.write(b"\x1c\x00\x00\x00TFL3")
            f.truncate(64 * 2**30)
    elif variant == "unreadable":
        path.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64)
        path.chmod(0)
    elif variant == "symlink_loop":
        path.symlink_to(path)
    elif variant == "dangling":
        path.symlink_to(path.with_name(path.name + ".missing"))
    elif variant == "dev_zero":
        path.symlink_to("/dev/zero")
    else:
        path.write_bytes(b"")
    return path
