"""Predict, without the compiler, what of a ``.tflite`` model will run on the Edge TPU.

Pure and TensorFlow-free: it reads a parsed file (:class:`ModelInfo`) against the op table
(:mod:`edgeloop.converters.edgetpu.ops`) and Coral's model requirements, and models the
compiler's partitioning as Coral documents it (https://coral.ai/docs/edgetpu/models-intro/,
"Compiling"): "At the first point in the model graph where an unsupported operation
occurs, the compiler partitions the graph into two parts … as soon as an unsupported
operation occurs, that operation and everything after it executes on the CPU, even if
supported operations occur later." The graph's order is the file's op order (the order
the interpreter runs them). With multiple subgraphs (``-a``) every supported op maps and
each run of them becomes one Edge TPU subgraph. A float model's leading QUANTIZE and
trailing DEQUANTIZE run on the CPU without cutting the graph ("Float input and output
tensors" on the same page).

    >>> from edgeloop.converters import read_model
    >>> from edgeloop.converters.edgetpu.analyzer import analyze
    >>> analysis = analyze(read_model("model.tflite"))        # doctest: +SKIP
    >>> analysis.fully_mapped, analysis.first_unmapped         # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from math import prod

from edgeloop.converters.edgetpu.log import MAPPED
from edgeloop.converters.edgetpu.ops import LATEST_RUNTIME, REPLACEMENTS, VERSION_LIMITS, row_for, rows_for
from edgeloop.converters.edgetpu.rules import CHECKS
from edgeloop.converters.inspect import ModelInfo, OpInfo

# "roughly 8 MB of SRAM" caches parameters; a Coral engineer: "larger(>>8MB) than the EdgeTPU
# SRAM" (github.com/google-coral/edgetpu/issues/663). The compiler first reserves some of it.
CACHE_BYTES = 8 * 1024 * 1024

# The compiler's own status words, as its logs print them (tests/fixtures/edgetpu/).
NOT_SUPPORTED = "Operation not supported"
DATA_TYPE = "Operation is working on an unsupported data type"
RANK = "Tensor has unsupported rank (up to 3 innermost dimensions mapped)"
NOT_CONSTANT = "Filter, bias, or other param is not constant at compile-time"
AFTER_CUT = "More than one subgraph is not supported"
LIMITATION = "Operation is otherwise supported, but not mapped due to some unspecified limitation"
VERSION = "Operation version not supported"
# Our words where the compiler has none that we have seen.
RUNTIME = "Needs a newer Edge TPU runtime"
EDGE = "Runs on the CPU: float input/output conversion"
NOT_COMPILED = "Model not compiled"
COMPILED = "Compiled for the Edge TPU (edgetpu-custom-op)"

# Where each op with parameters takes its filter and bias ("Model parameters (such as bias
# tensors) are constant at compile-time").
_PARAMETERS = {"CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2), "TRANSPOSE_CONV": (1, 3)}
_INTEGER = ("int8", "uint8")


@dataclass(frozen=True)
class OpVerdict:
    """What the analyzer predicts for one op.

    Attributes:
        index: the op's position in the file (execution order).
        op: the TFLite op (``CONV_2D``).
        layer: the Keras layer it came from, when known.
        mapped: runs on the Edge TPU.
        status: the compiler's status words for it (``Mapped to Edge TPU``, ``Operation
            not supported``, ``More than one subgraph is not supported`` …).
        reason: why it is not mapped, in plain words (empty when mapped).
        fix: what to change (empty when mapped or when the fix is elsewhere).
        warnings: limitations that may still keep it off the TPU.
        edge: a float I/O conversion at the graph's edge (on the CPU, cuts nothing).
        segment: the Edge TPU subgraph it belongs to (``None`` on the CPU).
    """

    index: int
    op: str
    layer: str | None
    mapped: bool
    status: str
    reason: str = ""
    fix: str = ""
    warnings: tuple[str, ...] = ()
    edge: bool = False
    segment: int | None = None

    @property
    def where(self) -> str:
        """``op 3 (LEAKY_RELU, Keras layer `leaky`)`` for messages."""
        layer = f", Keras layer `{self.layer}`" if self.layer else ""
        return f"op {self.index} ({self.op}{layer})"


@dataclass(frozen=True)
class EdgeTpuAnalysis:
    """The prediction for a whole model (see :func:`analyze`).

    Attributes:
        ops: one verdict per op, in execution order.
        runtime_version: the Edge TPU runtime it was predicted for (``-m``).
        multiple_subgraphs: predicted as with ``-a`` (``enable_multiple_subgraphs``).
        problems: model-wide problems, each a plain sentence (float model, dynamic shapes).
        first_unmapped: where the graph is cut: the first unmapped op that is not an
            edge conversion (``None`` when none).
        subgraphs: Edge TPU subgraphs the compiler would make.
        parameter_bytes: constant data of the mapped ops (weights, biases).
        cache_bytes: the on-chip parameter cache it is compared with.
        largest: the Keras layers with the most parameter bytes on the TPU, largest first.
    """

    ops: tuple[OpVerdict, ...]
    runtime_version: int
    multiple_subgraphs: bool
    problems: tuple[str, ...]
    first_unmapped: OpVerdict | None
    subgraphs: int
    parameter_bytes: int
    cache_bytes: int = CACHE_BYTES
    largest: tuple[tuple[str, int], ...] = field(default_factory=tuple)

    @property
    def fully_mapped(self) -> bool:
        """Every op runs on the Edge TPU: nothing falls back to the CPU."""
        return not self.problems and all(v.mapped for v in self.ops)

    @property
    def ops_on_edgetpu(self) -> int:
        """Ops the Edge TPU runs."""
        return sum(v.mapped for v in self.ops)

    @property
    def ops_on_cpu(self) -> int:
        """Ops left to the CPU."""
        return len(self.ops) - self.ops_on_edgetpu

    @property
    def mapped_fraction(self) -> float:
        """Share of ops on the Edge TPU (1.0 for a model without ops)."""
        return self.ops_on_edgetpu / len(self.ops) if self.ops else 1.0

    @property
    def streamed_bytes(self) -> int:
        """Parameter bytes over the cache, streamed from host memory every inference."""
        return max(0, self.parameter_bytes - self.cache_bytes)

    @property
    def fixes(self) -> tuple[str, ...]:
        """One fix per distinct problem, the model-wide ones first."""
        seen: dict[str, None] = {}
        for text in (*self.problems, *(f"{v.where}: {v.fix}" for v in self.ops if v.fix)):
            seen.setdefault(text, None)
        if any(v.status == AFTER_CUT for v in self.ops):
            seen.setdefault(f"everything after {self.first_unmapped.where} runs on the CPU: fix that op first, or "
                            "compile with multiple subgraphs (-a) to map the supported ops after it", None)
        if self.streamed_bytes:
            seen.setdefault(_cache_fix(self), None)
        return tuple(seen)

    def to_dict(self) -> dict:
        """Everything as plain data (for ``--json`` and reports)."""
        return {
            "fully_mapped": self.fully_mapped,
            "mapped_fraction": self.mapped_fraction,
            "runtime_version": self.runtime_version,
            "multiple_subgraphs": self.multiple_subgraphs,
            "problems": list(self.problems),
            "first_unmapped": asdict(self.first_unmapped) if self.first_unmapped else None,
            "edgetpu_subgraphs": self.subgraphs,
            "ops_on_edgetpu": self.ops_on_edgetpu,
            "ops_on_cpu": self.ops_on_cpu,
            "parameter_bytes": self.parameter_bytes,
            "cache_bytes": self.cache_bytes,
            "streamed_bytes": self.streamed_bytes,
            "largest_layers": [{"layer": name, "bytes": size} for name, size in self.largest],
            "fixes": list(self.fixes),
            "ops": [asdict(v) for v in self.ops],
        }


def analyze(info: ModelInfo, *, multiple_subgraphs: bool = False, runtime_version: int = LATEST_RUNTIME,
            cache_bytes: int = CACHE_BYTES) -> EdgeTpuAnalysis:
    """Predict op by op what the Edge TPU compiler will map.

    Args:
        info: the parsed ``.tflite`` (:func:`edgeloop.converters.read_model`).
        multiple_subgraphs: predict for ``edgetpu_compiler -a``.
        runtime_version: the Edge TPU runtime to compile for (``-m``); ops that need a
            newer one stay on the CPU.
        cache_bytes: the on-chip parameter cache to compare the parameters with.
    """
    problems = _model_problems(info)
    edges = _edge_ops(info)
    verdicts = [_verdict(info, op, runtime_version, op.index in edges) for op in info.ops]
    if problems:  # the compiler refuses the file: nothing runs on the TPU
        verdicts = [OpVerdict(v.index, v.op, v.layer, False, NOT_COMPILED, v.reason or "the compiler refuses the model")
                    for v in verdicts]
    cut = next((v for v in verdicts if not v.mapped and not v.edge), None)
    if cut is not None and not multiple_subgraphs:
        verdicts = [_off(v, AFTER_CUT, f"it comes after the cut at {cut.where}") if v.index > cut.index else v
                    for v in verdicts]
    verdicts, segments = _segments(verdicts)
    parameters = _parameters(info, verdicts)
    return EdgeTpuAnalysis(tuple(verdicts), runtime_version, multiple_subgraphs, tuple(problems), cut, segments,
                           sum(parameters.values()), cache_bytes,
                           tuple(sorted(parameters.items(), key=lambda kv: -kv[1])[:3]))


def _model_problems(info: ModelInfo) -> list[str]:
    problems = []
    activations = [t for t in info.tensors if not t.is_constant]
    if activations and not any(t.dtype in _INTEGER for t in activations):
        problems.append("Model not quantized: every activation is float; convert with full integer quantization "
                        "(edgeloop convert --int8, or a convert step with mode: int8; from the float .tflite "
                        "itself: edgeloop quantize MODEL.tflite --data D -o OUT.tflite)")
    dynamic = [t for t in info.tensors if t.is_dynamic]
    if dynamic:
        t = dynamic[0]
        problems.append(f"dynamic shape: tensor {t.name} has signature {list(t.shape_signature)} and the compiler "
                        "only takes static sizes; convert again with edgeloop (batch fixed to 1) or run "
                        "`edgeloop compile --fix` on the file")
    return problems


def _edge_ops(info: ModelInfo) -> set[int]:
    """Float -> integer QUANTIZE on a graph input, integer -> float DEQUANTIZE on an output."""
    edges = set()
    for op in info.ops:
        if not op.inputs or not op.outputs:
            continue
        if op.name == "QUANTIZE" and op.inputs[0] in info.inputs and info.tensors[op.inputs[0]].dtype.startswith("float"):
            edges.add(op.index)
        if op.name == "DEQUANTIZE" and op.outputs[0] in info.outputs:
            edges.add(op.index)
    return edges


def _verdict(info: ModelInfo, op: OpInfo, runtime: int, edge: bool) -> OpVerdict:
    base = dict(index=op.index, op=op.name, layer=op.layer)
    if edge:
        return OpVerdict(**base, mapped=False, status=EDGE, edge=True,
                         reason="the model takes or gives float values, converted on the CPU",
                         fix="convert with integer input/output (io_type: uint8 or int8)")
    if op.name == "edgetpu-custom-op":  # a file edgetpu_compiler already compiled
        return OpVerdict(**base, mapped=True, status=COMPILED)
    rows = rows_for(op.name)
    if not rows:
        return OpVerdict(**base, mapped=False, status=NOT_SUPPORTED, reason=f"the Edge TPU has no {op.name} kernel",
                         fix=_replacement_fix(op, runtime))
    row = row_for(op.name, runtime)
    if row is None:
        since = min(r.since or 0 for r in rows)
        return OpVerdict(**base, mapped=False, status=RUNTIME,
                         reason=f"{op.name} maps from Edge TPU runtime {since} on; compiling for runtime {runtime}",
                         fix=f"compile for runtime {since} or later (-m {since}) if the device has it")
    problem = _version(op)
    if problem is None:
        problem = _requirements(info, op)
    if problem is None:
        for key in row.limits:
            found = CHECKS[key](info, op)
            if found:
                problem = (LIMITATION, f"{found[0]} (Coral: {row.note})", found[1])
                break
    if problem:
        return OpVerdict(**base, mapped=False, status=problem[0], reason=problem[1], fix=problem[2])
    warnings = (f"{row.coral_name}: {row.note}",) if row.warns else ()
    return OpVerdict(**base, mapped=True, status=MAPPED, warnings=warnings)


def _version(op: OpInfo) -> tuple[str, str, str] | None:
    """The op's version against the newest the compiler takes, naming the options that raised it."""
    limit = VERSION_LIMITS.get(op.name)
    if limit is None:
        return None
    raised = [f"{key}={op.options[key]}" for key, want in limit.options if key in op.options and op.options[key] != want]
    if op.version <= limit.max_version and not raised:
        return None
    why = f" ({', '.join(raised)})" if raised else ""
    return (VERSION, f"{op.name} version {op.version}{why}: the Edge TPU compiler takes up to version "
                     f"{limit.max_version} ({limit.sources[0]})", limit.fix)


def _requirements(info: ModelInfo, op: OpInfo) -> tuple[str, str, str] | None:
    """Coral's model requirements, checked on one op: (status, reason, fix) or ``None``."""
    operands = [info.tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0]
    floats = [t for t in operands if not t.is_constant and t.dtype not in _INTEGER]
    if floats:
        return (DATA_TYPE, f"computes on {floats[0].dtype} tensor {floats[0].name}",
                "quantize this layer too (full integer conversion, no keep_float)")
    parameters = [op.inputs[p] for p in _PARAMETERS.get(op.name, ()) if p < len(op.inputs) and op.inputs[p] >= 0]
    if any(not info.tensors[i].is_constant for i in parameters):
        return (NOT_CONSTANT, "its weights or bias are computed, not constant",
                "give the layer its own constant weights (no weights fed in as inputs)")
    for t in operands:
        if not t.is_constant and len(t.shape) > 3 and prod(t.shape[:-3]) != 1:
            return (RANK, f"tensor {t.name} of shape {list(t.shape)} has a dimension >1 outside the 3 innermost",
                    "keep batch 1 and at most 3 dimensions larger than 1")
    return None


def _replacement_fix(op: OpInfo, runtime: int) -> str:
    known = REPLACEMENTS.get(op.name)
    if known:
        keras_from, keras_to, since, source = known
        older = f" (compile for runtime {since} or later: -m {since})" if runtime < since else ""
        return (f"replace the {keras_from} layer by {keras_to}(shared_axes=[1, 2]) with alpha fixed to its slope: the "
                f"same function, and {keras_to.upper()} maps from Edge TPU runtime {since}{older}; the compile step's "
                f"`fix: true` does it ({source})")
    return "build the layer from ops the Edge TPU runs, or move it to the end of the model so only it runs on the CPU"


def _off(v: OpVerdict, status: str, reason: str) -> OpVerdict:
    if not v.mapped:
        return v
    return OpVerdict(v.index, v.op, v.layer, False, status, reason, "", v.warnings)


def _segments(verdicts: list[OpVerdict]) -> tuple[list[OpVerdict], int]:
    out, segment, previous = [], -1, False
    for v in verdicts:
        if v.mapped and not previous:
            segment += 1
        previous = v.mapped if not v.edge else previous
        out.append(OpVerdict(v.index, v.op, v.layer, v.mapped, v.status, v.reason, v.fix, v.warnings, v.edge,
                             segment if v.mapped else None))
    return out, segment + 1


def _parameters(info: ModelInfo, verdicts: list[OpVerdict]) -> dict[str, int]:
    """Constant bytes of the mapped ops, by Keras layer (each tensor counted once)."""
    seen: set[int] = set()
    by_layer: dict[str, int] = {}
    for v in verdicts:
        if not v.mapped:
            continue
        for i in info.ops[v.index].inputs:
            if i >= 0 and i not in seen and info.tensors[i].is_constant:
                seen.add(i)
                name = v.layer or v.op
                by_layer[name] = by_layer.get(name, 0) + info.tensors[i].buffer_bytes
    return by_layer


def _cache_fix(a: EdgeTpuAnalysis) -> str:
    mib = 1024 * 1024
    top = ", ".join(f"`{name}` {size / mib:.2f} MiB" for name, size in a.largest)
    return (f"parameters {a.parameter_bytes / mib:.2f} MiB exceed the {a.cache_bytes / mib:.0f} MiB on-chip cache: "
            f"{a.streamed_bytes / mib:.2f} MiB are streamed from host memory every inference; shrink the largest "
            f"layers ({top}), or split the model across Edge TPUs with -n segments")
