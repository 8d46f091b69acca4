"""Delegates: load the one a benchmark asks for, and find out which ones load on this device.

XNNPACK is built into LiteRT and applied to every CPU interpreter by default; the Edge TPU
delegate is ``libedgetpu.so.1`` (Coral's runtime, with a C API that reports its runtime
version and the USB or PCIe devices it sees); the GPU delegate is a separate library
that only some builds ship. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import ctypes
import re

from edgeloop.device.interpreter import interpreter_module, load_interpreter
from edgeloop.errors import EdgeloopError

EDGETPU_LIBRARY = "libedgetpu.so.1"
GPU_LIBRARIES = ("libtensorflowlite_gpu_delegate.so",)
# What the delegate's partitions are called in a report's node counts.
LABELS = {None: "XNNPACK", "xnnpack": "XNNPACK", "edgetpu": "EDGETPU", "gpu": "GPU"}
_ANDROID_ONLY = ("nnapi", "hexagon")
# edgetpu_c.h: enum edgetpu_device_type { EDGETPU_APEX_PCI = 0, EDGETPU_APEX_USB = 1 }.
_EDGETPU_INTERFACES = {0: "pci", 1: "usb"}
# LiteRT applies XNNPACK to every CPU interpreter unless told otherwise; its partitions
# appear in the node list as ops named DELEGATE.
DEFAULT_DELEGATE = "XNNPACK"


class _EdgeTpuDevice(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("path", ctypes.c_char_p)]


def open_delegate(name: str | None) -> tuple[list, bool]:
    """Delegates to give an interpreter for ``name``, and whether to keep the default one.

    Returns:
        ``(delegates, default_delegates)`` for :func:`load_interpreter`.

    Raises:
        EdgeloopError: the delegate does not load here.
    """
    if name in (None, "xnnpack"):
        return [], True
    if name == "none":
        return [], False
    if name in _ANDROID_ONLY:
        raise EdgeloopError(f"the {name} delegate is Android's: measure it with --device adb:SERIAL")
    libraries = (EDGETPU_LIBRARY,) if name == "edgetpu" else GPU_LIBRARIES
    errors = []
    for library in libraries:
        try:
            return [interpreter_module().load_delegate(library)], True
        except (ValueError, OSError, RuntimeError) as exc:
            errors.append(f"{library}: {_first_line(exc)}")
    raise EdgeloopError(f"the {name} delegate does not load here ({'; '.join(errors)})")


def probe() -> dict:
    """Which delegates load here: ``{"xnnpack": {...}, "edgetpu": {...}, "gpu": {...}}``.

    Each entry has ``loads`` and ``error``; the Edge TPU's also ``runtime_version`` (e.g.
    ``"14"``) and ``interface`` (``"usb"``, ``"pci"`` or ``None``). Loading a delegate can
    crash a process: the agent runs this in its child process.
    """
    return {"xnnpack": _probe_xnnpack(), "edgetpu": edgetpu_info(), "gpu": _probe_gpu()}


def _probe_xnnpack() -> dict:
    from edgeloop.device.op_profile import tiny_model

    try:
        interpreter = load_interpreter(tiny_model())
        counts = delegated_nodes(interpreter._get_ops_details())
    except (EdgeloopError, AttributeError) as exc:
        return {"loads": False, "error": _first_line(exc)}
    took = counts.get("XNNPACK", 0) > 0
    return {"loads": took, "error": None if took else "the default delegate took no node of a float ADD"}


def delegated_nodes(ops: list[dict], label: str = DEFAULT_DELEGATE) -> dict[str, int]:
    """How many of the model's nodes the delegate partitions took, and how many stayed on CPU kernels.

    ``ops`` is the interpreter's node list (``_get_ops_details()``): the model's own nodes,
    then one ``DELEGATE`` node per partition a delegate claimed. A partition's nodes are
    found by walking back from the ``DELEGATE`` node's outputs through the nodes that
    produce them until its inputs are reached.

    Returns:
        ``{label: n_delegated, "cpu": n_left}``; ``{"cpu": n}`` when nothing was delegated.
    """
    own = [op for op in ops if op["op_name"] != "DELEGATE"]
    taken = delegated_indices(ops)
    counts = {label: len(taken)} if taken else {}
    counts["cpu"] = len(own) - len(taken)
    return counts


def delegated_indices(ops: list[dict]) -> set[int]:
    """Positions (in the model's own node list) of the nodes a delegate's partitions took."""
    own = [op for op in ops if op["op_name"] != "DELEGATE"]
    producer = {int(t): i for i, op in enumerate(own) for t in op["outputs"]}
    taken: set[int] = set()
    for partition in (op for op in ops if op["op_name"] == "DELEGATE"):
        boundary = {int(t) for t in partition["inputs"]}
        stack = [int(t) for t in partition["outputs"]]
        while stack:
            tensor = stack.pop()
            node = producer.get(tensor)
            if tensor in boundary or node is None or node in taken:
                continue
            taken.add(node)
            stack.extend(int(t) for t in own[node]["inputs"] if t >= 0)
    return taken


def edgetpu_info() -> dict:
    """The Edge TPU runtime here: whether it loads, its runtime version and the devices it sees."""
    entry: dict = {"loads": False, "error": None, "runtime_version": None, "interface": None, "devices": []}
    try:
        lib = ctypes.CDLL(EDGETPU_LIBRARY)
    except OSError as exc:
        entry["error"] = _first_line(exc)
        return entry
    lib.edgetpu_version.restype = ctypes.c_char_p
    version = (lib.edgetpu_version() or b"").decode("utf-8", "replace")
    match = re.search(r"RuntimeVersion\((\d+)\)", version)
    entry["runtime_version"] = match.group(1) if match else None
    entry["version_string"] = version
    lib.edgetpu_list_devices.restype = ctypes.POINTER(_EdgeTpuDevice)
    count = ctypes.c_size_t(0)
    devices = lib.edgetpu_list_devices(ctypes.byref(count))
    found = [{"interface": _EDGETPU_INTERFACES.get(devices[i].type), "path": (devices[i].path or b"").decode()}
             for i in range(count.value)]
    if devices:
        lib.edgetpu_free_devices(devices)
    entry["devices"] = found
    entry["interface"] = found[0]["interface"] if found else None
    entry["loads"] = bool(found)
    entry["error"] = None if found else "libedgetpu loads but sees no Edge TPU (USB or PCIe)"
    return entry


def _probe_gpu() -> dict:
    try:
        open_delegate("gpu")
    except EdgeloopError as exc:
        return {"loads": False, "error": str(exc)}
    return {"loads": True, "error": None}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
