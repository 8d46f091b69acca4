"""Compile one ``.tflite`` file for the Edge TPU the way ``edgeloop compile`` does.

Prediction first, always (the compiler may be missing, and when it is there its verdict
is shown next to the prediction); then the compiler. Exit statuses: 0 every op maps,
1 some ops run on the CPU, 2 bad input or a compiler error (raised as
:class:`EdgeloopError`), 3 the compiler is not installed (:data:`COMPILER_MISSING_EXIT`).
"""

from __future__ import annotations

from pathlib import Path

from edgeloop import _io
from edgeloop.converters.edgetpu import analyze
from edgeloop.converters.edgetpu_compiler import (
    COMPILER_MISSING_EXIT,
    INSTALL_HINT,
    CompilerOptions,
    compile_models,
    find_compiler,
)
from edgeloop.converters.edgetpu_ops import LATEST_RUNTIME
from edgeloop.converters.edgetpu_text import analysis_lines, report_lines
from edgeloop.converters.inspect import read_model
from edgeloop.errors import EdgeloopError

LOAD_TIMEOUT_S = 30.0
BASE_MEMORY_MB = 768  # the child's Python, numpy and interpreter, with room for the activations


def compile_file(path: Path, *, out_dir: str | None = None, runtime: int | None = None,
                 multiple_subgraphs: bool = False, num_segments: int | None = None,
                 intermediate_tensors: str | None = None, co_compile: list[str] | None = None,
                 show_operations: bool = True, timeout_s: float = 300.0, fix: bool = False,
                 compiler: str | None = None) -> tuple[int, dict, list[str], str | None]:
    """Predict, optionally fix the batch, and compile ``path``.

    Returns:
        ``(exit status, result as data, lines to print, one-line warning or None)``.

    Raises:
        EdgeloopError: unreadable model, bad options, or the compiler refused / failed.
    """
    info = read_model(path)  # a missing or corrupt file ends here, in one line
    for model in co_compile or []:
        read_model(Path(model))
    data = path.read_bytes()
    out = Path(out_dir) if out_dir else path.parent
    changes: list[str] = []
    if fix:
        from edgeloop.converters.edgetpu_fix import static_batch

        data, changes = static_batch(data)
        if changes:
            path = _write_new(out / f"{path.stem}_fixed.tflite", data)
    try:
        options = CompilerOptions(runtime, show_operations, multiple_subgraphs, num_segments,
                                  [t for t in (intermediate_tensors or "").split(",") if t], timeout_s)
    except ValueError as exc:
        raise EdgeloopError(str(exc)) from None
    analysis = analyze(read_model(data) if changes else info, multiple_subgraphs=multiple_subgraphs, runtime_version=runtime or LATEST_RUNTIME)
    lines = [*(f"fixed: {c}" for c in changes), "prediction:", *analysis_lines(analysis, str(path))]
    result: dict = {"model": str(path), "changes": changes, "prediction": analysis.to_dict()}
    if find_compiler(compiler) is None:
        result["compiled"] = False
        return COMPILER_MISSING_EXIT, result, lines, INSTALL_HINT
    compiled = compile_models([path, *(co_compile or [])], out, options, compiler)
    result.update(compiled=True, compiler=compiled.to_dict())
    lines += ["compiler:", *report_lines(compiled.report, [str(f) for f in compiled.files])]
    return (0 if compiled.report.fully_mapped else 1), result, lines, None


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
