"""``compile``: predict what maps to the Edge TPU, fix what can be fixed, run the compiler.

1. The analyzer predicts, op by op, what ``edgetpu_compiler`` will map
   (:mod:`edgeloop.converters.edgetpu.analyzer`) for the runtime compiled for: the one asked
   (``min_runtime_version``), else the device's (``ctx.state["device_info"]``, a device
   agent's ``/v1/info``), else the newest.
2. With ``fix: true``, what is fixable is fixed and said: a dynamic batch becomes 1, a
   LeakyReLU becomes the equivalent PReLU (runtime 13+), float I/O becomes integer I/O
   (converted again from the Keras model). The fixed file is ``model_fixed.tflite``
   and later steps (evaluate, benchmark) use it.
3. ``edgetpu_compiler`` runs when installed and writes ``<model>_edgetpu.tflite`` next
   to the CPU model; its log is parsed into the report next to the prediction. When it
   is not installed, the step says so in one warning and keeps the prediction.

The order is :func:`edgeloop.converters.edgetpu.run.predict_fix_compile`, the path
``edgeloop compile`` takes too; the step adds the fixes that need the Keras model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from edgeloop import _io
from edgeloop.errors import EdgeloopError
from edgeloop.pipeline.base import Context, Step, register_step

FIXED_FILE = "model_fixed.tflite"


@dataclass
class CompileOptions:
    """Options of ``compile``.

    Attributes:
        target: the accelerator (``edgetpu``).
        min_runtime_version: ``-m``: the Edge TPU runtime of the device (default: the
            device agent's, when the run has one, else the newest).
        multiple_subgraphs: ``-a``: also map the supported ops after an unsupported one.
        num_segments: ``-n``: split for a pipeline of that many Edge TPUs.
        intermediate_tensors: ``-i``: end the Edge TPU part at these tensors.
        co_compile: other ``.tflite`` files compiled together with the model, sharing
            the on-chip parameter cache.
        timeout_s: stop the compiler after this many seconds.
        fix: fix what keeps ops off the TPU where possible, and say what changed.
        io_type: integer I/O type the float-I/O fix converts to.
        calibration_samples: calibration samples when the fix converts again.
        require_compiler: fail when ``edgetpu_compiler`` is not installed (default: warn
            and keep the prediction).
        require_mapped: a gate: when anything falls back to the CPU the run finishes with
            exit status 1 (the report says which gate failed).
        device: an edgeloop agent (``http://HOST:PORT``) whose Edge TPU runtime version
            sets ``-m`` when ``min_runtime_version`` is not given (a ``benchmark`` step on
            an agent earlier in the recipe does the same).
        token_file: the agent's token.
    """

    target: Literal["edgetpu"] = "edgetpu"
    min_runtime_version: int | None = None
    multiple_subgraphs: bool = False
    num_segments: int | None = None
    intermediate_tensors: list[str] = field(default_factory=list)
    co_compile: list[str] = field(default_factory=list)
    timeout_s: float = 300.0
    fix: bool = False
    io_type: Literal["uint8", "int8"] = "uint8"
    calibration_samples: int = 200
    require_compiler: bool = False
    require_mapped: bool = False
    device: str | None = None
    token_file: str | None = None

    def __post_init__(self) -> None:
        if self.calibration_samples < 1:
            raise ValueError(f"calibration_samples must be at least 1, got {self.calibration_samples}")
        self.compiler_options(self.min_runtime_version)  # the compiler wrapper checks its own ranges

    def compiler_options(self, runtime_version: int | None):
        """The options as the compiler wrapper takes them, for ``-m runtime_version``."""
        from edgeloop.converters.edgetpu.compiler import CompilerOptions

        return CompilerOptions(runtime_version, True, self.multiple_subgraphs, self.num_segments,
                               list(self.intermediate_tensors), self.timeout_s)


def device_info(spec: str, token_file: str | None) -> dict:
    """A device's ``/v1/info`` (its fingerprint, delegates and Edge TPU runtime version)."""
    from edgeloop.device.agent import read_token
    from edgeloop.host.devices import open_device

    return open_device(spec, token=read_token(token_file) if token_file else None).info()


@register_step("compile", CompileOptions, takes_any_model=True, needs_labels=False)
class Compile(Step):
    """Predict the Edge TPU mapping, optionally fix the model, and compile it."""

    def apply(self, model, ctx: Context):
        from edgeloop.converters import checks_to_dict
        from edgeloop.converters.edgetpu.compiler import INSTALL_HINT, choose_runtime_version
        from edgeloop.converters.edgetpu.run import predict_fix_compile

        tflite = ctx.state.get("tflite")
        if not tflite:
            raise EdgeloopError("compile needs a converted model: put a convert step before it")
        o = self.options
        if o.device and o.min_runtime_version is None:
            ctx.state["device_info"] = device_info(o.device, o.token_file)
        asked = choose_runtime_version(o.min_runtime_version, ctx.state.get("device_info"))
        options = o.compiler_options(asked)  # the prediction is for the same runtime: asked, else the newest

        def fix(data: bytes, analysis) -> tuple[bytes, list[str]]:
            if not o.fix or analysis.fully_mapped:
                return data, []
            data, io_type, changes = _fix(model, data, analysis, ctx, o, analysis.runtime_version)
            fixed["io_type"] = io_type
            return data, changes

        def save_fixed(data: bytes):
            ctx.state["tflite"] = {**ctx.state["tflite"], "file": FIXED_FILE, "io_type": fixed["io_type"]}
            return _io.write_bytes(ctx.path(FIXED_FILE), data)

        def record_prediction(outcome) -> None:
            ctx.record(target=o.target, file=ctx.state["tflite"]["file"], runtime_version=outcome.analysis.runtime_version,
                       changes=outcome.changes, prediction=outcome.analysis.to_dict())
            if outcome.compiler is None:
                if o.require_compiler:
                    raise EdgeloopError(INSTALL_HINT)
                ctx.warn(INSTALL_HINT)
                ctx.record(compiled=False)

        fixed: dict = {}  # the fixed file's I/O type, for the state
        outcome = predict_fix_compile(ctx.path(tflite["file"]), options, ctx.run_dir, fix=fix, save_fixed=save_fixed,
                                      co_compile=o.co_compile, on_prediction=record_prediction)
        report = None
        if outcome.compiled is not None:
            report = outcome.compiled.report
            ctx.record(compiled=True, compiler=outcome.compiled.to_dict(), prediction_matches=outcome.prediction_matches)
            ctx.state["edgetpu"] = {"files": [f.name for f in outcome.compiled.files]}
        check = _mapping_check(outcome.analysis, report, outcome.changes)
        # With require_mapped an op left on the CPU is a gate: the run goes on, exit status 1.
        ctx.record(checks=[{**c, "gate": o.require_mapped} for c in checks_to_dict([check])])
        return model


def _fix(model, data: bytes, analysis, ctx: Context, o: CompileOptions, runtime: int) -> tuple[bytes, str, list[str]]:
    """The fix-it path: (new file, its I/O type, what changed)."""
    from edgeloop.converters import enforce, read_model, verify
    from edgeloop.converters.metadata import add_metadata
    from edgeloop.converters.edgetpu.fixes import replace_unmappable_layers, static_batch
    from edgeloop.converters.edgetpu.ops import REPLACEMENTS

    io_type = ctx.state["tflite"]["io_type"]
    data, changes = static_batch(data)
    reconvert = None
    from edgeloop.models.io import is_signature_model

    if any(v.op in REPLACEMENTS for v in analysis.ops) and not is_signature_model(model):  # no layers to swap
        model, replaced = replace_unmappable_layers(model, runtime)
        changes += replaced
        reconvert = "the replaced layers" if replaced else None
    float_io = any(v.edge for v in analysis.ops)
    float_inside = any(not v.edge and v.reason.startswith("computes on float") for v in analysis.ops)
    if float_io and float_inside:
        ctx.warn("compile fix: float I/O kept: float ops inside the model (keep_float?) need the CPU anyway")
    elif float_io:
        changes.append(f"changed the input and output from float32 to {o.io_type} because float I/O is quantized and "
                       "dequantized on the CPU, outside the Edge TPU")
        reconvert, io_type = "integer I/O", o.io_type
    if reconvert:
        from edgeloop.converters.metadata import read_metadata
        from edgeloop.converters.tflite import convert
        from edgeloop.pipeline.convert import conversion_inputs

        meta = read_metadata(ctx.path(ctx.state["tflite"]["file"]).read_bytes())
        representative, prefix = conversion_inputs(model, ctx, o.calibration_samples)
        with ctx.progress(f"convert again ({reconvert})", 1) as advance:
            data = convert(model, "int8", representative, io_type=io_type, prefix=prefix)
            advance(1)
        enforce(verify(read_model(data), mode="int8", io_type=io_type))
        if meta:
            data = add_metadata(data, meta)
    return data, io_type, changes


def _mapping_check(analysis, report, changes: list[str]):
    """The compiler's verdict when it ran, else the prediction's; the fixes said in its detail
    (so ``report.md``'s table of checks shows what was changed)."""
    from edgeloop.converters import Check

    check = _verdict(analysis, report)
    return Check(check.name, check.passed, check.detail + (f" after the fixes: {'; '.join(changes)}" if changes else ""))


def _verdict(analysis, report):
    from edgeloop.converters import Check

    if report is not None:
        on_cpu = report.on_cpu()
        detail = ", ".join(f"{op} x{n}" for op, n in on_cpu.items()) or f"{report.ops_on_cpu} op(s)"
        if report.fully_mapped:
            return Check("edgetpu_mapped", True, f"edgetpu_compiler mapped every op ({report.total_ops})")
        return Check("edgetpu_mapped", False, f"edgetpu_compiler left on the CPU: {detail}")
    if analysis.fully_mapped:
        return Check("edgetpu_mapped", True, f"predicted: all {len(analysis.ops)} ops run on the Edge TPU")
    cut = analysis.first_unmapped
    where = f"; cut at {cut.where}" if cut else ""
    return Check("edgetpu_mapped", False, f"predicted: {analysis.ops_on_cpu} of "
                 f"{len(analysis.ops)} ops fall back to the CPU{where}")
