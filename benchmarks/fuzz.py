"""Fuzz ``edgeloop inspect`` / ``check`` / ``bench`` with malformed files, and judge each run.

    python -m benchmarks.fuzz --seed 1 --count 1000 [--jobs 2] [--out DIR] [--models DIR]

Each case is one malformed input (:mod:`benchmarks.fuzz_cases`) given to one command.
A case passes when its process exits with 0, 1, 2 or 3; prints no traceback; puts at
most one line on stderr, and for exit 2 or 3 exactly one ``edgeloop: error: …``; ends
within 30 s; and peaks under 1 GiB of resident memory (``wait4``'s ``ru_maxrss``, which
counts the process and the children it waited for).

How the cases run: the harness imports the CLI once and forks one process per case,
which runs ``edgeloop.cli.main`` itself (``cli.main`` is what the ``edgeloop`` command
runs; only the interpreter's start-up and imports are shared). Every ``--subprocess-every``
-th case instead execs a fresh ``python -m edgeloop.cli``, the check that forking changes
nothing. A process still running at the time bound is killed with its process group and
counted as a hang. Up to ``--jobs`` cases run at once. The seed models are real converted
models (``--models`` names a folder of ``.tflite`` files; by default tiny Keras models are
converted first, in a separate process so the harness itself never imports TensorFlow).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks.fuzz_cases import Case, make_case

TIME_LIMIT_S = 30.0
MEMORY_LIMIT_BYTES = 2**30
SAFETY_AS_BYTES = 8 * 2**30  # an address-space cap so a runaway case cannot take the machine
COMMANDS = ("inspect", "inspect --json", "check", "check --json", "bench")
COMMAND_WEIGHTS = (1, 1, 1, 1, 2)
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Outcome:
    """What one case did and what was wrong with it (``problems`` empty: it passed)."""

    case: Case
    command: str
    mode: str
    returncode: int
    seconds: float
    peak_rss_bytes: int
    stderr: str
    problems: list[str]

    def to_dict(self) -> dict:
        """Plain data for the report."""
        return {"index": self.case.index, "kind": self.case.kind, "seed_model": self.case.seed_model,
                "file": str(self.case.path), "command": self.command, "mode": self.mode,
                "returncode": self.returncode, "seconds": round(self.seconds, 3),
                "peak_rss_mb": round(self.peak_rss_bytes / 2**20, 1), "stderr": self.stderr[-1500:],
                "problems": self.problems}


def argv_for(command: str, path: Path, store: Path) -> list[str]:
    """The ``edgeloop`` arguments of ``command`` on ``path``."""
    words = command.split()
    if words[0] == "bench":
        return ["bench", str(path), "--runs", "2", "--warmup", "0", "--max-runs", "2", "--time-limit", "5",
                "--fresh", "--store", str(store), "-q"]
    return [words[0], str(path), *words[1:]]


def judge(returncode: int, stdout: str, stderr: str, seconds: float, peak: int, timed_out: bool) -> list[str]:
    """The ways one run broke the rules (see the module docstring)."""
    problems = []
    if timed_out:
        problems.append(f"hang: still running after {TIME_LIMIT_S:g} s")
    elif returncode not in (0, 1, 2, 3):
        problems.append(f"exit status {returncode}")
    if "Traceback (most recent call last)" in stderr or "Traceback (most recent call last)" in stdout:
        problems.append("traceback")
    lines = [line for line in stderr.splitlines() if line.strip()]
    if len(lines) > 1:
        problems.append(f"{len(lines)} lines on stderr")
    if returncode in (2, 3) and not (lines and lines[0].startswith("edgeloop: error: ")):
        problems.append("no `edgeloop: error:` line")
    if peak >= MEMORY_LIMIT_BYTES:
        problems.append(f"peak memory {peak / 2**20:.0f} MiB")
    return problems


def _warm_imports() -> None:
    """Everything the three commands import, loaded once before forking."""
    import edgeloop.cli  # noqa: F401
    import edgeloop.converters.describe  # noqa: F401
    import edgeloop.converters.edgetpu.analyzer  # noqa: F401
    import edgeloop.converters.edgetpu.run  # noqa: F401
    import edgeloop.converters.edgetpu.text  # noqa: F401
    import edgeloop.device.agent  # noqa: F401
    import edgeloop.host.devices  # noqa: F401
    import edgeloop.device.fingerprint  # noqa: F401
    import edgeloop.host.latency  # noqa: F401
    import edgeloop.host.render  # noqa: F401
    import edgeloop.host.store  # noqa: F401
    from edgeloop.device.interpreter import interpreter_module

    interpreter_module()


def _child(argv: list[str], mode: str, out_path: str, err_path: str) -> None:
    """In the forked process: wire stdout / stderr to files, cap memory, run the command."""
    code = 1
    try:
        os.setpgid(0, 0)  # its own group: a hang is killed with whatever it started
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
        os.dup2(os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
        resource.setrlimit(resource.RLIMIT_AS, (SAFETY_AS_BYTES, SAFETY_AS_BYTES))
        if mode == "subprocess":
            os.execv(sys.executable, [sys.executable, "-m", "edgeloop.cli", *argv])
        from edgeloop import cli

        try:
            cli.main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # what the interpreter prints for an uncaught exception
            import traceback

            traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def run_cases(jobs_list: list[tuple[Case, str, str]], jobs: int, work: Path, progress=None) -> list[Outcome]:
    """Run ``(case, command, mode)`` items, ``jobs`` at a time; the outcomes in input order."""
    _warm_imports()
    store = work / "store.sqlite"
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pending = list(reversed(list(enumerate(jobs_list))))
    running: dict[int, tuple] = {}
    outcomes: dict[int, Outcome] = {}
    done = 0
    while pending or running:
        while pending and len(running) < jobs:
            position, (case, command, mode) = pending.pop()
            out_path, err_path = str(logs / f"{position}.out"), str(logs / f"{position}.err")
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(argv_for(command, case.path, store), mode, out_path, err_path)
            running[pid] = (position, case, command, mode, time.monotonic(), out_path, err_path, False)
        pid, status, usage = os.wait4(-1, os.WNOHANG)
        if pid == 0:
            now = time.monotonic()
            for child, item in list(running.items()):
                if now - item[4] > TIME_LIMIT_S and not item[7]:
                    try:
                        os.killpg(child, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    running[child] = (*item[:7], True)
            time.sleep(0.005)
            continue
        if pid not in running:
            continue
        position, case, command, mode, started, out_path, err_path, timed_out = running.pop(pid)
        seconds = time.monotonic() - started
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        stdout = Path(out_path).read_text(errors="replace")
        stderr = Path(err_path).read_text(errors="replace")
        os.unlink(out_path)
        os.unlink(err_path)
        peak = usage.ru_maxrss * 1024
        problems = judge(code, stdout, stderr, seconds, peak, timed_out)
        outcomes[position] = Outcome(case, command, mode, code, seconds, peak, stderr, problems)
        done += 1
        if progress and (done % 100 == 0 or problems):
            progress(f"fuzz: {done}/{len(jobs_list)} done" + (f"; case {case.index} ({case.kind}, {command}): "
                                                                 f"{', '.join(problems)}" if problems else ""))
    return [outcomes[i] for i in range(len(jobs_list))]


def plan(seed: int, count: int, seeds: dict[str, bytes], folder: Path, subprocess_every: int) -> list[tuple[Case, str, str]]:
    """The ``count`` cases of run ``seed``: the input, the command, fork or subprocess."""
    items = []
    for index in range(count):
        case = make_case(index, seed, seeds, folder)
        command = random.Random(f"{seed}:{index}:command").choices(COMMANDS, COMMAND_WEIGHTS)[0]
        mode = "subprocess" if subprocess_every and index % subprocess_every == 0 else "fork"
        items.append((case, command, mode))
    return items


def summarize(outcomes: list[Outcome], wall_seconds: float, jobs: int) -> dict:
    """Counts by command, family and exit status; the failures; time and memory spread."""
    failures = [o for o in outcomes if o.problems]
    seconds = sorted(o.seconds for o in outcomes) or [0.0]
    problems = Counter(p.split(":")[0] for o in failures for p in o.problems)
    return {
        "cases": len(outcomes),
        "passed": len(outcomes) - len(failures),
        "failed": len(failures),
        "tracebacks": sum("traceback" in o.problems for o in outcomes),
        "hangs": sum(any(p.startswith("hang") for p in o.problems) for o in outcomes),
        "over_memory": sum(any(p.startswith("peak memory") for p in o.problems) for o in outcomes),
        "problems": dict(problems),
        "by_command": dict(Counter(o.command.split()[0] for o in outcomes)),
        "by_family": dict(Counter(o.case.kind.split("/")[0] for o in outcomes)),
        "by_mode": dict(Counter(o.mode for o in outcomes)),
        "exit_codes": {str(k): v for k, v in sorted(Counter(o.returncode for o in outcomes).items())},
        "seconds_median": statistics.median(seconds),
        "seconds_p99": seconds[min(len(seconds) - 1, int(0.99 * len(seconds)))],
        "seconds_max": seconds[-1],
        "peak_rss_mb_max": max((o.peak_rss_bytes for o in outcomes), default=0) / 2**20,
        "peak_rss_mb_median": statistics.median([o.peak_rss_bytes / 2**20 for o in outcomes]) if outcomes else 0.0,
        "wall_seconds": wall_seconds,
        "jobs": jobs,
        "failures": [o.to_dict() for o in failures[:50]],
    }


def load_seed_models(folder: Path) -> dict[str, bytes]:
    """Every ``.tflite`` in ``folder`` by name."""
    seeds = {p.stem: p.read_bytes() for p in sorted(folder.glob("*.tflite"))}
    if not seeds:
        raise SystemExit(f"no .tflite seed models in {folder}")
    return seeds


def build_seed_models(folder: Path) -> dict[str, bytes]:
    """Convert the seed models in a separate process (TensorFlow stays out of the harness)."""
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    if not list(folder.glob("*.tflite")):
        subprocess.run([sys.executable, "-m", "benchmarks.fuzz_seeds", str(folder)], check=True, cwd=ROOT,
                       timeout=900)
    return load_seed_models(folder)


def fuzz(seed: int, count: int, jobs: int, out: Path, seeds: dict[str, bytes], subprocess_every: int = 50,
         progress=None) -> dict:
    """Make and run ``count`` cases; the summary (see :func:`summarize`)."""
    out.mkdir(parents=True, exist_ok=True)
    items = plan(seed, count, seeds, out / "cases", subprocess_every)
    started = time.perf_counter()
    outcomes = run_cases(items, jobs, out, progress)
    result = summarize(outcomes, time.perf_counter() - started, jobs)
    result.update(seed=seed, seed_models=sorted(seeds))
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line; prints the summary as JSON; 0 when every case passed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument("--out", type=Path, help="work folder (cases, store; default: a temp folder)")
    parser.add_argument("--models", type=Path, help="folder of seed .tflite models (default: converted now)")
    parser.add_argument("--subprocess-every", type=int, default=50, help="every N-th case in a fresh process")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="edgeloop-fuzz-"))
    seeds = load_seed_models(args.models) if args.models else build_seed_models(out / "seeds")
    result = fuzz(args.seed, args.count, args.jobs, out, seeds, args.subprocess_every,
                  progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=2))
    return 0 if result["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
