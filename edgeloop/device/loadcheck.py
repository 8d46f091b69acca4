"""Whether the TFLite interpreter takes a model: built from the file and its tensors
allocated (each kernel's ``Prepare`` checks its operands: a stride of 0, a shape too large
to allocate, a tensor read before any op writes it).

The file is crafted or corrupt when this fails, and a crafted file can crash or hang the
interpreter: :func:`load_report` therefore runs in a child process (the one the agent's
benchmarks run in, :mod:`edgeloop.device.child`, task ``load``) with a time and memory
bound; the host asks for it with :func:`edgeloop.converters.edgetpu.run.check_loads`.
Plain builtin kernels are used (no XNNPACK), as the Edge TPU compiler reads the model.
"""

from __future__ import annotations

from pathlib import Path

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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
