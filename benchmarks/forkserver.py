"""Real ``edgeloop`` processes without paying TensorFlow's start-up each time.

A command-line run spends ~5-10 s importing TensorFlow, tfmot and LiteRT before it reads
its first argument; the kill sweep starts dozens of processes and the test suite ~80.
:class:`ForkServer` starts one server process that imports them once (and runs no
TensorFlow op: the runtime's thread pools would not survive a fork), then forks one child
per command. Each child is a real, separate process: it takes the request's working
folder and environment, runs ``edgeloop.cli.main`` (or a script, as ``python SCRIPT``
would) with stdin on ``/dev/null`` and its stdout / stderr in files, runs the interpreter's
exit steps (non-daemon threads joined, ``atexit`` handlers) and exits with the command's
status; a signal that kills it is reported as ``-signal``, as :mod:`subprocess` does.

What differs from ``python -m edgeloop.cli``: the modules above are already imported
(environment variables a module reads at import time are the server's), nothing else.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def command_line(argv: list[str], script: str | None = None) -> list[str]:
    """The fresh interpreter's command a forked child stands for: ``python -m edgeloop.cli ARGV``
    or ``python SCRIPT ARGV``."""
    return [sys.executable, *([str(script)] if script else ["-m", "edgeloop.cli"]), *map(str, argv)]


class ForkServer:
    """One server process; :meth:`call` runs a command in a child forked from it."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.forkserver"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=ROOT)
        self._lock = threading.Lock()
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the fork server did not start")

    def call(self, argv: list[str], *, script: str | None = None, env: dict[str, str] | None = None,
             extra_env: dict[str, str] | None = None, cwd: str | None = None, timeout: float | None = None,
             ) -> subprocess.CompletedProcess:
        """``edgeloop ARGV`` (or ``python SCRIPT ARGV``) in a forked child; its status and output.

        ``env`` replaces the child's environment (default: the server's), ``extra_env`` is laid
        over it. Past ``timeout`` seconds the child is killed and :class:`subprocess.TimeoutExpired`
        raised, as :func:`subprocess.run` does.
        """
        request = {"argv": [str(a) for a in argv], "script": script, "env": env, "extra_env": extra_env or {},
                   "cwd": None if cwd is None else str(cwd), "timeout": timeout}
        with self._lock:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the fork server stopped (status {self.proc.poll()})")
        reply = json.loads(line)
        args = command_line(request["argv"], script)
        if reply["timed_out"]:
            raise subprocess.TimeoutExpired(args, timeout, reply["stdout"], reply["stderr"])
        return subprocess.CompletedProcess(args, reply["returncode"], reply["stdout"], reply["stderr"])

    def close(self) -> None:
        """Stop the server (it ends when its stdin closes)."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def _child(request: dict, out_fd: int, err_fd: int) -> None:
    """In the forked child: become the command's process, run it, never return."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        if request["env"] is not None:
            os.environ.clear()
            os.environ.update(request["env"])
        os.environ.update(request["extra_env"])
        if request["cwd"]:
            os.chdir(request["cwd"])
        try:
            if request["script"]:
                import runpy

                sys.argv = [request["script"], *request["argv"]]
                sys.path.insert(0, str(Path(request["script"]).resolve().parent))
                runpy.run_path(request["script"], run_name="__main__")
            else:
                from edgeloop import cli

                sys.argv = [cli.__file__, *request["argv"]]
                cli.main(request["argv"])
            code = 0
        except SystemExit as exc:  # as the interpreter turns ``sys.exit(x)`` into a status
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
        except BaseException:  # what the interpreter prints for an uncaught error
            import traceback

            traceback.print_exc()
        try:
            threading._shutdown()  # the interpreter's own exit order: threads joined, then atexit
        except Exception:  # noqa: BLE001 (a thread's failure at exit does not change the status)
            pass
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
    finally:
        os._exit(code)


def _wait(pid: int, timeout: float | None) -> tuple[int, bool]:
    """The child's status (``-signal`` if a signal ended it) and whether it ran past ``timeout``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    timed_out = False
    while True:
        done, status = os.waitpid(pid, 0 if deadline is None or timed_out else os.WNOHANG)
        if done:
            return (-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)), timed_out
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            timed_out = True
        else:
            time.sleep(0.02)


def serve() -> None:
    """The server: import once, then one forked child per request line on stdin."""
    from edgeloop._tf import keras, tfmot  # noqa: F401  (the expensive imports, done once)
    from edgeloop import cli  # noqa: F401
    import edgeloop.pipeline  # noqa: F401
    from ai_edge_litert import interpreter  # noqa: F401

    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            pid = os.fork()
            if pid == 0:
                _child(request, out.fileno(), err.fileno())
            code, timed_out = _wait(pid, request["timeout"])
            texts = []
            for f in (out, err):
                f.seek(0)
                texts.append(f.read().decode("utf-8", "replace"))
        print(json.dumps({"returncode": code, "timed_out": timed_out, "stdout": texts[0], "stderr": texts[1]}), flush=True)


if __name__ == "__main__":
    serve()
