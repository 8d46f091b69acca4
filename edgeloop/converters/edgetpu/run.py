"""The one Edge TPU path: predict -> fix -> compile, for ``edgeloop compile`` and the ``compile`` step.

:func:`predict_fix_compile` predicts first, always (the compiler may be missing, and when it
is there its verdict is shown next to the prediction), applies the caller's fixes and
predicts again when they changed anything, then runs the compiler when it is installed.
The command (:func:`compile_file`) fixes only the batch, in the file; the step fixes
layers and I/O too, from the Keras model it has (:mod:`edgeloop.pipeline.compile`).

``edgeloop compile``'s exit statuses: 0 every op maps, 1 some ops run on the CPU, 2 bad
input or a compiler error (raised as :class:`EdgeloopError`), 3 the compiler is not
installed (:data:`COMPILER_MISSING_EXIT`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgeloop import _io
from edgeloop.converters.edgetpu.analyzer import EdgeTpuAnalysis, analyze
from edgeloop.converters.edgetpu.compiler import (
    COMPILER_MISSING_EXIT,
    INSTALL_HINT,
    CompileResult,
    CompilerOptions,
    compile_models,
    find_compiler,
)
from edgeloop.converters.edgetpu.ops import LATEST_RUNTIME
from edgeloop.converters.edgetpu.text import analysis_lines, report_lines
from edgeloop.converters.inspect import ModelInfo, read_model
from edgeloop.errors import EdgeloopError

LOAD_TIMEOUT_S = 30.0
BASE_MEMORY_MB = 768  # the child's Python, numpy and interpreter, with room for the activations

# fix(data, prediction) -> (new data, what changed in sentences); no change: (data, []).
Fix = Callable[[bytes, EdgeTpuAnalysis], tuple[bytes, list[str]]]


@dataclass
class Outcome:
    """What the path did to one model.

    Attributes:
        path: the file compiled (the fixed one when a fix changed anything).
        changes: what the fixes changed, in sentences.
        analysis: the prediction for ``path``.
        compiler: the ``edgetpu_compiler`` found; ``None`` when it is not installed.
        compiled: the compiler's run (``None`` until it ran, or when it is not installed).
    """

    path: Path
    changes: list[str]
    analysis: EdgeTpuAnalysis
    compiler: str | None = None
    compiled: CompileResult | None = None

    @property
    def prediction_matches(self) -> bool | None:
        """Whether the prediction named the op types the compiler left on the CPU (with its
        ``-s`` table), else whether both say "fully mapped"; ``None`` when nothing compiled."""
        if self.compiled is None:
            return None
        report = self.compiled.report
        if report.operators:
            return sorted({v.op for v in self.analysis.ops if not v.mapped}) == sorted(report.on_cpu())
        return self.analysis.fully_mapped == report.fully_mapped


def predict(info: ModelInfo, options: CompilerOptions) -> EdgeTpuAnalysis:
    """The prediction for the runtime ``options`` compile for (the newest when none is asked)."""
    return analyze(info, multiple_subgraphs=options.multiple_subgraphs,
                   runtime_version=options.min_runtime_version or LATEST_RUNTIME)


def predict_fix_compile(path: Path, options: CompilerOptions, out_dir: Path, *, fix: Fix | None = None,
                        save_fixed: Callable[[bytes], Path] | None = None, co_compile=(),
                        compiler: str | None = None,
                        on_prediction: Callable[[Outcome], None] | None = None) -> Outcome:
    """Predict what of ``path`` maps, fix what ``fix`` can, and compile when the compiler is installed.

    Args:
        path: the ``.tflite`` file.
        options: the compiler's options; the prediction is for the same runtime and ``-a``.
        out_dir: where the compiler's files go.
        fix: called with the file and its prediction; ``None``: no fixes.
        save_fixed: writes the fixed file and returns its path (called only when a fix
            changed something; the compiler then reads that file).
        co_compile: other ``.tflite`` files compiled with it (sharing the parameter cache).
        compiler: the ``edgetpu_compiler`` executable (default: the one on PATH).
        on_prediction: called with the outcome so far (prediction, fixes, the compiler
            found or not) before the compiler runs; it may raise to stop there.

    Raises:
        EdgeloopError: unreadable model, or the compiler refused / failed.
    """
    info = read_model(path)  # a missing or corrupt file ends here, in one line
    outcome = Outcome(path, [], predict(info, options))
    if fix is not None:
        data, changes = fix(path.read_bytes(), outcome.analysis)
        if changes:
            outcome = Outcome(save_fixed(data), changes, predict(read_model(data), options))
    outcome.compiler = find_compiler(compiler)
    if on_prediction is not None:
        on_prediction(outcome)
    if outcome.compiler is not None:
        outcome.compiled = compile_models([outcome.path, *co_compile], out_dir, options, compiler)
    return outcome


def compile_file(path: Path, *, out_dir: str | None = None, runtime: int | None = None,
                 multiple_subgraphs: bool = False, num_segments: int | None = None,
                 intermediate_tensors: str | None = None, co_compile: list[str] | None = None,
                 show_operations: bool = True, timeout_s: float = 300.0, fix: bool = False,
                 compiler: str | None = None) -> tuple[int, dict, list[str], str | None]:
    """``edgeloop compile``: predict, optionally fix the batch, and compile ``path``.

    Returns:
        ``(exit status, result as data, lines to print, one-line warning or None)``.

    Raises:
        EdgeloopError: unreadable model, bad options, or the compiler refused / failed.
    """
    read_model(path)  # a missing or corrupt file ends here, in one line
    for model in co_compile or []:
        read_model(Path(model))
    out = Path(out_dir) if out_dir else path.parent
    try:
        options = CompilerOptions(runtime, show_operations, multiple_subgraphs, num_segments,
                                  [t for t in (intermediate_tensors or "").split(",") if t], timeout_s)
    except ValueError as exc:
        raise EdgeloopError(str(exc)) from None

    def fix_batch(data: bytes, _analysis) -> tuple[bytes, list[str]]:
        from edgeloop.converters.edgetpu.fixes import static_batch

        return static_batch(data)

    outcome = predict_fix_compile(path, options, out, fix=fix_batch if fix else None, co_compile=co_compile or [],
                                  save_fixed=lambda data: _write_new(out / f"{path.stem}_fixed.tflite", data),
                                  compiler=compiler)
    lines = [*(f"fixed: {c}" for c in outcome.changes), "prediction:", *analysis_lines(outcome.analysis, str(outcome.path))]
    result: dict = {"model": str(outcome.path), "changes": outcome.changes, "prediction": outcome.analysis.to_dict()}
    if outcome.compiled is None:
        result["compiled"] = False
        return COMPILER_MISSING_EXIT, result, lines, INSTALL_HINT
    compiled = outcome.compiled
    result.update(compiled=True, compiler=compiled.to_dict())
    lines += ["compiler:", *report_lines(compiled.report, [str(f) for f in compiled.files])]
    return (0 if compiled.report.fully_mapped else 1), result, lines, None


def check_file(path: str | Path, *, runtime: int | None = None, multiple_subgraphs: bool = False) -> EdgeTpuAnalysis:
    """``edgeloop check``: the prediction for ``path``, once the interpreter has taken the file.

    Raises:
        EdgeloopError: unreadable model, or one the interpreter refuses (no model to predict for).
    """
    info = read_model(Path(path))
    check_loads(path)
    return analyze(info, multiple_subgraphs=multiple_subgraphs, runtime_version=runtime or LATEST_RUNTIME)


def check_loads(model: str | Path, timeout_s: float = LOAD_TIMEOUT_S) -> dict:
    """Load ``model`` in a child process; its :func:`~edgeloop.device.loadcheck.load_report` when the interpreter takes it.

    Raises:
        EdgeloopError: the interpreter refuses the model, or crashes, hangs or runs out of
            memory on it (one line, naming the file).
    """
    from edgeloop.device.child import ChildError, run_in_child

    size_mb = Path(model).stat().st_size / 2**20
    request = {"task": "load", "models": [str(model)], "memory_limit_mb": int(BASE_MEMORY_MB + 2 * size_mb)}
    try:
        report = run_in_child(request, timeout_s)
    except ChildError as exc:
        raise EdgeloopError(f"the TFLite interpreter cannot load {model}: {exc}") from None
    if not report["loads"]:
        raise EdgeloopError(f"the TFLite interpreter refuses {model} ({report['stage']}): {report['error']}")
    return report


def _write_new(target: Path, data: bytes) -> Path:
    if target.exists():
        raise EdgeloopError(f"{target} exists; remove it or give another --out-dir")
    return _io.write_bytes(target, data)
