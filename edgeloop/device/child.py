"""Each benchmark in a child process, so a model or delegate that crashes, hangs or eats all
memory costs one error reply and never the agent (or the ``edgeloop`` command running it).

Parent side: :func:`run_in_child` starts ``python -m edgeloop.device.child`` in its own
process group, writes the request as JSON on its stdin, and reads JSON lines from its
stdout: progress lines (when asked for) and one reply. A child killed by a signal (a
segfaulting delegate), one still running at the time limit (killed, with its group), or
one that exits without a reply becomes a :class:`ChildError` saying which. Whatever else
goes wrong in the parent (an interrupt, a bad argument, a callback that raises), the child
and its group are killed before the exception goes on: no child outlives its call.
Child side: :func:`main` caps its own address space (``RLIMIT_AS``) before loading
anything, runs the task and prints the reply.
"""

from __future__ import annotations

import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Callable

from edgeloop.errors import EdgeloopError

# Seconds a child may take beyond the benchmark's own time limit (start-up, imports, reply).
GRACE_S = 10.0
_PROGRESS_EVERY_S = 0.1  # the child reports progress at most this often
_STDERR_TAIL = 64 * 1024  # bytes of the child's stderr kept for the error message


class ChildError(EdgeloopError):
    """The benchmark process failed; ``kind`` is ``crash``, ``timeout``, ``memory`` or ``failed``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def run_in_child(request: dict, timeout_s: float, on_start: Callable[[int | None], None] | None = None,
                 on_progress: Callable[[int, int], None] | None = None) -> dict:
    """Run ``request`` (see :func:`handle`) in a fresh child process; return its result.

    Args:
        request: ``{"task": "benchmark" | "compare" | "probe", "models": [paths],
            "options": {...}, "memory_limit_mb": int | None}``.
        timeout_s: wall-clock limit; the child and its group are killed past it.
        on_start: called with the child's pid once it runs, and with ``None`` when it is gone.
        on_progress: called as ``on_progress(done, total)`` after each warm-up and timed run
            of a benchmark (in the calling thread, a little after the runs themselves).

    Raises:
        ChildError: the child crashed, hung, ran out of memory or reported an error.
        EdgeloopError: ``timeout_s`` is not a positive finite number (no child is started).
    """
    if not (isinstance(timeout_s, (int, float)) and math.isfinite(timeout_s) and timeout_s > 0):
        raise EdgeloopError(f"a benchmark process needs a positive, finite time limit, got {timeout_s!r}")
    request = {**request, "progress": on_progress is not None}
    proc = subprocess.Popen([sys.executable, "-m", "edgeloop.device.child"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    channel = _Channel(proc)
    try:
        if on_start:
            on_start(proc.pid)
        replies, err = channel.exchange(json.dumps(request).encode(), time.monotonic() + timeout_s, on_progress)
    except _Timeout:
        raise ChildError("timeout", f"the benchmark did not finish within {timeout_s:g} s and was killed "
                                    "(a model that hangs, or a time limit too short for it)") from None
    finally:
        # On any way out (a timeout, an interrupt, a callback that raises) the child goes too.
        # Only a child not yet reaped is killed: its group id cannot have been reused then.
        if proc.poll() is None:
            _kill_group(proc)
        proc.wait()
        channel.close()
        if on_start:
            on_start(None)
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise ChildError("crash", f"the benchmark process died with {name}{_last_line(err)}")
    if not replies:
        raise ChildError("crash", f"the benchmark process exited with status {proc.returncode} "
                                  f"and no reply{_last_line(err)}")
    reply = replies[-1]
    if not reply.get("ok"):
        raise ChildError(reply.get("kind", "failed"), reply.get("error", "the benchmark failed"))
    return reply["result"]


class _Timeout(Exception):
    pass


class _Channel:
    """The child's pipes: JSON lines from stdout into a queue, the tail of stderr, each read
    by a thread of its own so that the caller can wait with a deadline."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: queue.Queue = queue.Queue()
        self.err = bytearray()
        self.done = 0
        self.readers = [threading.Thread(target=_pump_lines, args=(proc.stdout, self.lines), daemon=True),
                        threading.Thread(target=_pump_tail, args=(proc.stderr, self.err), daemon=True)]
        for reader in self.readers:
            reader.start()

    def exchange(self, request: bytes, deadline: float,
                 on_progress: Callable[[int, int], None] | None) -> tuple[list[dict], bytes]:
        """Send the request, then read JSON lines until the child closes its stdout and exits;
        progress lines go to ``on_progress`` here, in the caller's thread.

        Raises:
            _Timeout: the deadline passed first.
        """
        try:
            self.proc.stdin.write(request)
            self.proc.stdin.close()
        except BrokenPipeError:  # the child died at once: its exit status says how
            pass
        replies = []
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise _Timeout from None
            if line is None:
                break
            try:
                message = json.loads(line)
            except ValueError:  # a runtime's stray print, not ours
                continue
            if isinstance(message, dict) and "progress" in message:
                if on_progress:  # the child reports every so often; the caller hears of every run
                    done, total = (int(n) for n in message["progress"])
                    for step in range(self.done + 1, done + 1):
                        on_progress(step, total)
                    self.done = max(self.done, done)
            elif isinstance(message, dict):
                replies.append(message)
        try:
            self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:  # stdout closed, but the process lives on
            raise _Timeout from None
        self.readers[1].join(timeout=max(0.0, deadline - time.monotonic()))
        return replies, bytes(self.err)

    def close(self) -> None:
        """Once the child is gone: let the readers reach the end of the pipes, then close them."""
        for reader in self.readers:
            reader.join(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if not stream.closed and not any(r.is_alive() for r in self.readers):
                try:
                    stream.close()
                except OSError:  # stdin's last flush into a pipe the child never read
                    pass


def _pump_lines(stream: IO[bytes], lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _pump_tail(stream: IO[bytes], tail: bytearray) -> None:
    for chunk in iter(lambda: stream.read1(65536), b""):
        tail.extend(chunk)
        del tail[:-_STDERR_TAIL]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # already gone (PermissionError: a reaped pid on macOS)
        pass


def _last_line(err: bytes) -> str:
    lines = [line for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
    return f" (last output: {lines[-1].strip()[:200]})" if lines else ""


def handle(request: dict, progress: Callable[[int, int], None] | None = None) -> dict:
    """Run one request in this process: a benchmark, an interleaved A/B comparison or a probe."""
    task = request.get("task")
    if task == "probe":
        from edgeloop.device.delegates import probe

        return probe()
    from edgeloop.device.options import BenchmarkOptions

    options = BenchmarkOptions.from_dict(request.get("options"))
    models = request.get("models") or []
    if task == "benchmark" and len(models) == 1:
        from edgeloop.device.benchmark import run_benchmark

        return run_benchmark(models[0], options, progress=progress).to_dict()
    if task == "compare" and len(models) == 2:
        from edgeloop.device.gate import run_interleaved

        return run_interleaved(models[0], models[1], options)
    raise EdgeloopError(f"bad child request: task {task!r} with {len(models)} model(s)")


def _limit_memory(limit_mb: int | None) -> None:
    if limit_mb:
        import resource

        limit = int(limit_mb) * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _write(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _progress_writer() -> Callable[[int, int], None]:
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_EVERY_S or done >= total:
            last[0] = now
            _write({"progress": [done, total]})

    return progress


def main() -> None:
    """Child entry point: read a request on stdin, print one JSON reply on stdout."""
    request = json.loads(sys.stdin.read())
    _limit_memory(request.get("memory_limit_mb"))
    limit = request.get("memory_limit_mb")
    try:
        reply = {"ok": True, "result": handle(request, _progress_writer() if request.get("progress") else None)}
    except MemoryError:
        reply = {"ok": False, "kind": "memory", "error": f"the model needs more memory than the {limit} MB "
                                                         "a benchmark may use"}
    except EdgeloopError as exc:
        message = str(exc) + (f" (a benchmark may use {limit} MB of memory)" if limit else "")
        reply = {"ok": False, "kind": "failed", "error": message}
    _write(reply)


if __name__ == "__main__":
    main()
