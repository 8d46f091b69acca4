"""Each benchmark in a child process, so a model or delegate that crashes, hangs or eats all
memory costs one error reply and never the agent.

Parent side: :func:`run_in_child` starts ``python -m edgeloop.device.child`` in its own
process group, writes the request as JSON on its stdin, and reads one JSON reply from its
stdout. A child killed by a signal (a segfaulting delegate), one still running at the
time limit (killed, with its group), or one that exits without a reply becomes a
:class:`ChildError` saying which. Child side: :func:`main` caps its own address space
(``RLIMIT_AS``) before loading anything, runs the task and prints the reply.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Callable

from edgeloop.errors import EdgeloopError

# Seconds a child may take beyond the benchmark's own time limit (start-up, imports, reply).
GRACE_S = 10.0


class ChildError(EdgeloopError):
    """The benchmark process failed; ``kind`` is ``crash``, ``timeout``, ``memory`` or ``failed``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def run_in_child(request: dict, timeout_s: float, on_start: Callable[[int | None], None] | None = None) -> dict:
    """Run ``request`` (see :func:`handle`) in a fresh child process; return its result.

    Args:
        request: ``{"task": "benchmark" | "compare" | "probe" | "load", "models": [paths],
            "options": {...}, "memory_limit_mb": int | None}``.
        timeout_s: wall-clock limit; the child and its group are killed past it.
        on_start: called with the child's pid once it runs, and with ``None`` when it is gone.

    Raises:
        ChildError: the child crashed, hung, ran out of memory or reported an error.
    """
    proc = subprocess.Popen([sys.executable, "-m", "edgeloop.device.child"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    if on_start:
        on_start(proc.pid)
    try:
        out, err = proc.communicate(json.dumps(request).encode(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        raise ChildError("timeout", f"the benchmark did not finish within {timeout_s:g} s and was killed "
                                    "(a model that hangs, or a time limit too short for it)") from None
    finally:
        if on_start:
            on_start(None)
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise ChildError("crash", f"the benchmark process died with {name}{_last_line(err)}")
    try:
        reply = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ChildError("crash", f"the benchmark process exited with status {proc.returncode} "
                                  f"and no reply{_last_line(err)}") from None
    if not reply.get("ok"):
        raise ChildError(reply.get("kind", "failed"), reply.get("error", "the benchmark failed"))
    return reply["result"]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _last_line(err: bytes) -> str:
    lines = [line for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
    return f" (last output: {lines[-1].strip()[:200]})" if lines else ""


def handle(request: dict) -> dict:
    """Run one request in this process: a benchmark, an interleaved A/B comparison, a probe, or a
    load check (:mod:`edgeloop.device.loadcheck`)."""
    task = request.get("task")
    if task == "probe":
        from edgeloop.device.delegates import probe

        return probe()
    if task == "load" and len(request.get("models") or []) == 1:
        from edgeloop.device.loadcheck import load_report

        return load_report(request["models"][0])
    from edgeloop.device.options import BenchmarkOptions

    options = BenchmarkOptions.from_dict(request.get("options"))
    models = request.get("models") or []
    if task == "benchmark" and len(models) == 1:
        from edgeloop.device.benchmark import run_benchmark

        return run_benchmark(models[0], options).to_dict()
    if task == "compare" and len(models) == 2:
        from edgeloop.device.gate import run_interleaved

        return run_interleaved(models[0], models[1], options)
    raise EdgeloopError(f"bad child request: task {task!r} with {len(models)} model(s)")


def _limit_memory(limit_mb: int | None) -> None:
    if limit_mb:
        import resource

        limit = int(limit_mb) * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main() -> None:
    """Child entry point: read a request on stdin, print one JSON reply on stdout."""
    request = json.loads(sys.stdin.read())
    _limit_memory(request.get("memory_limit_mb"))
    limit = request.get("memory_limit_mb")
    try:
        reply = {"ok": True, "result": handle(request)}
    except MemoryError:
        reply = {"ok": False, "kind": "memory", "error": f"the model needs more memory than the {limit} MB "
                                                         "a benchmark may use"}
    except EdgeloopError as exc:
        message = str(exc) + (f" (a benchmark may use {limit} MB of memory)" if limit else "")
        reply = {"ok": False, "kind": "failed", "error": message}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
