"""Whether the TFLite interpreter takes a model: built from the file and its tensors
allocated (each kernel's ``Prepare`` checks its operands: a stride of 0, a shape too large
to allocate, a tensor read before any op writes it).

The file is crafted or corrupt when this fails, and a crafted file can crash or hang the
interpreter: :func:`check_loads` therefore loads it in a child process (the one the
agent's benchmarks run in, :mod:`edgeloop.device.child`) with a time and memory bound.
Plain builtin kernels are used (no XNNPACK), as the Edge TPU compiler reads the model.
"""

from __future__ import annotations

from pathlib import Path

from edgeloop.errors import EdgeloopError

LOAD_TIMEOUT_S = 30.0
BASE_MEMORY_MB = 768  # the child's Python, numpy and interpreter, with room for the activations
UNRESOLVED = "Encountered unresolved custom op"


def load_report(model: str | Path) -> dict:
    """Build and allocate ``model`` in this process: ``{"loads", "stage", "error", "custom_op"}``.

    A custom op the interpreter has no kernel for (``edgetpu-custom-op`` of a compiled
    model) stops the allocation at that op; the model counts as loading, ``custom_op``
    says so (the ops after it were not prepared).
    """
    from edgeloop.device.interpreter import interpreter_module

    module = interpreter_module()
    try:
        interpreter = module.Interpreter(
            model_path=str(model), experimental_op_resolver_type=module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    except (ValueError, RuntimeError) as exc:
        return {"loads": False, "stage": "build", "error": _first_line(exc), "custom_op": False}
    try:
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        message = _first_line(exc)
        return {"loads": UNRESOLVED in message, "stage": "allocate", "error": message, "custom_op": UNRESOLVED in message}
    return {"loads": True, "stage": "allocate", "error": None, "custom_op": False}


def check_loads(model: str | Path, timeout_s: float = LOAD_TIMEOUT_S) -> dict:
    """Load ``model`` in a child process; its :func:`load_report` when the interpreter takes it.

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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
