"""Run ``edgetpu_compiler`` (when installed): argument list, timeout, output files put in place.

The compiler (https://coral.ai/docs/edgetpu/compiler/) writes ``<name>_edgetpu.tflite``
and ``<name>_edgetpu.log`` into ``-o``. Here it writes into a fresh hidden folder beside
the target folder, and the files are renamed into place only when it succeeded, never
over an existing file: a failed or interrupted compile leaves nothing half written.

It cannot be installed on every machine: Coral ships it only in its apt repository, for
x86-64 Debian / Ubuntu. :func:`find_compiler` returns ``None`` then and callers print
:data:`INSTALL_HINT` next to the analyzer's prediction.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edgeloop.converters.edgetpu.log import CompilerReport, parse_compiler_output
from edgeloop.errors import EdgeloopError

COMPILER = "edgetpu_compiler"
INSTALL_HINT = ("edgetpu_compiler is not installed (Coral ships it only for x86-64 Debian/Ubuntu: add Coral's apt "
                "repository, then `sudo apt-get install edgetpu-compiler`, see https://coral.ai/docs/edgetpu/compiler/); "
                "showing the analyzer's prediction instead")
# Exit status of `edgeloop compile` when the compiler is missing (0: all mapped, 1: ops on the
# CPU, 2: bad input or a compiler error).
COMPILER_MISSING_EXIT = 3


@dataclass
class CompilerOptions:
    """The compiler's options, by the names its ``--help`` gives them.

    Attributes:
        min_runtime_version: ``-m``: the oldest Edge TPU runtime the model must run on
            (the device's; see :func:`runtime_version_from_info`). ``None``: the
            compiler's default, the newest runtime it knows.
        show_operations: ``-s``: print the per-op table (parsed into the report).
        multiple_subgraphs: ``-a``: map supported ops after an unsupported one too.
        num_segments: ``-n``: split the model for a pipeline of that many Edge TPUs.
        intermediate_tensors: ``-i``: tensors to end the Edge TPU part at.
        timeout_s: give up (and stop the compiler) after this many seconds.
    """

    min_runtime_version: int | None = None
    show_operations: bool = True
    multiple_subgraphs: bool = False
    num_segments: int | None = None
    intermediate_tensors: list[str] = field(default_factory=list)
    timeout_s: float = 300.0

    def __post_init__(self) -> None:
        if self.min_runtime_version is not None and self.min_runtime_version < 10:
            raise ValueError(f"min_runtime_version must be 10 or more, got {self.min_runtime_version}")
        if self.num_segments is not None and self.num_segments < 1:
            raise ValueError(f"num_segments must be at least 1, got {self.num_segments}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")


@dataclass(frozen=True)
class CompileResult:
    """One compiler run: the command as run (``-o`` is the hidden work folder), what it
    printed, the parsed report, and the files it wrote, moved into place."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    report: CompilerReport
    files: tuple[Path, ...]

    def to_dict(self) -> dict:
        """Plain data for reports and ``--json``."""
        return {"args": list(self.args), "returncode": self.returncode, "files": [str(f) for f in self.files],
                **self.report.to_dict()}


def find_compiler(compiler: str | os.PathLike | None = None) -> str | None:
    """The compiler to run: ``compiler`` if given (must exist), else ``edgetpu_compiler`` on PATH."""
    if compiler is not None:
        found = shutil.which(str(compiler))
        if found is None:
            raise EdgeloopError(f"compiler not found or not executable: {compiler}")
        return found
    return shutil.which(COMPILER)


def compiler_args(compiler: str, models: list[Path], out_dir: Path, options: CompilerOptions) -> list[str]:
    """The argument list for one compiler run (models after the options, as its usage says)."""
    args = [compiler, "-o", str(out_dir)]
    if options.min_runtime_version is not None:
        args += ["-m", str(options.min_runtime_version)]
    if options.show_operations:
        args.append("-s")
    if options.multiple_subgraphs:
        args.append("-a")
    if options.num_segments is not None:
        args += ["-n", str(options.num_segments)]
    if options.intermediate_tensors:
        args += ["-i", ",".join(options.intermediate_tensors)]
    return args + [str(m) for m in models]


def compile_models(models: list[str | os.PathLike], out_dir: str | os.PathLike, options: CompilerOptions | None = None,
                   compiler: str | None = None) -> CompileResult:
    """Compile one model, or several co-compiled to share the parameter cache.

    Args:
        models: the ``.tflite`` files (full-integer, static shapes).
        out_dir: where ``<name>_edgetpu.tflite`` and ``<name>_edgetpu.log`` go.
        options: the compiler's options.
        compiler: the executable (default: ``edgetpu_compiler`` on PATH).

    Raises:
        EdgeloopError: no compiler, a missing model, a timeout, an output that would
            overwrite a file, or the compiler refused / failed (its reason in the message).
    """
    options = options or CompilerOptions()
    exe = find_compiler(compiler)
    if exe is None:
        raise EdgeloopError(INSTALL_HINT)
    paths = [Path(m).resolve() for m in models]
    for path in paths:
        if not path.is_file():
            raise EdgeloopError(f"model not found: {path}")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".edgetpu-", dir=out))
    try:
        args = compiler_args(exe, paths, work, options)
        code, stdout, stderr = _run(args, options.timeout_s)
        report = parse_compiler_output(stdout)
        if code != 0 or not report.success:
            reason = report.error or (stderr.strip().splitlines() or [f"exit status {code}"])[-1]
            detail = f" ({report.messages[0]})" if report.messages else ""
            raise EdgeloopError(f"edgetpu_compiler failed on {', '.join(p.name for p in paths)}: {reason}{detail}")
        files = _place(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return CompileResult(tuple(args), code, stdout, stderr, report, files)


def _run(args: list[str], timeout_s: float) -> tuple[int, str, str]:
    # Its own session, so a timeout stops the compiler and the child it forks for the work.
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise EdgeloopError(f"edgetpu_compiler did not finish within {timeout_s:g} s and was stopped "
                            "(raise timeout_s for a large model)") from None
    return proc.returncode, stdout, stderr


def _place(work: Path, out: Path) -> tuple[Path, ...]:
    produced = sorted(p for p in work.iterdir() if p.is_file())
    clash = [p.name for p in produced if (out / p.name).exists()]
    if clash:
        raise EdgeloopError(f"{out / clash[0]} exists; remove it or compile into another folder")
    for p in produced:
        os.replace(p, out / p.name)
    return tuple(out / p.name for p in produced)


def runtime_version_from_info(info: dict | None) -> int | None:
    """The Edge TPU runtime version a device agent reports, for ``-m``.

    ``info`` is the agent's ``GET /v1/info`` answer, whose
    ``info["delegates"]["edgetpu"]`` is ``{"loads": bool, "error": str | None,
    "runtime_version": "14" | None, "interface": "usb" | "pci" | None}``. ``None`` when the
    device has no working Edge TPU or does not say (libedgetpu reports e.g.
    ``"BuildLabel(...), RuntimeVersion(14)"``: the number is taken).
    """
    try:
        entry = info["delegates"]["edgetpu"]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    if not isinstance(entry, dict) or not entry.get("loads"):
        return None
    version = entry.get("runtime_version")
    found = re.findall(r"RuntimeVersion\((\d+)\)", str(version)) or re.findall(r"\d+", str(version or ""))
    return int(found[0]) if found else None


def choose_runtime_version(explicit: int | None, device_info: dict | None) -> int | None:
    """``-m``: the one asked for, else the device's runtime; refuse one newer than the device's.

    A model compiled for a newer runtime than the device has fails there with "Package
    requires runtime version (14), which is newer than this runtime version (13)".
    """
    device = runtime_version_from_info(device_info)
    if explicit is not None and device is not None and explicit > device:
        raise EdgeloopError(f"min_runtime_version {explicit} is newer than the device's Edge TPU runtime {device}: "
                            f"the compiled model would not load there; use {device} or less")
    return explicit if explicit is not None else device
