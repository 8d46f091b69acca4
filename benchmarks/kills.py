"""Kill a run at every crash point and resume it: the resumed ``model.tflite`` must be
byte for byte the one an uninterrupted run writes.

    python -m benchmarks.kills recipes/digits_int8.yaml --out /tmp/kills [--fork]

One uninterrupted run lists the crash points it passes (``EDGELOOP_CRASH_LOG``, see
:mod:`edgeloop._crash`) and writes the reference ``model.tflite``. Then a chain of real
processes: the first runs the recipe and is killed with ``SIGKILL`` at the first point;
each next one resumes that run folder (``edgeloop optimize --resume``) and is killed at
the next point; the last resumes to the end. Every point is thus one real kill of a real
process, followed by a real resume from exactly what the kill left on disk (a kill before
the run folder appears leaves none: the next process starts the recipe again). A point the
chain does not reach, a process that fails instead of dying there, a ``baseline.keras``
rewritten once written, or a final file that differs is a failure.

Each process is a fresh ``python -m edgeloop.cli`` by default; ``--fork`` forks them
from one process that has already imported TensorFlow (saves its ~5-10 s start-up per
point, which the tests need; the process still runs the CLI's own ``main`` and is killed
for real).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from edgeloop._crash import AT_VARIABLE, LOG_VARIABLE

KILLED = -9
ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 1800


class SubprocessLauncher:
    """Each command a fresh ``python -m edgeloop.cli`` process."""

    def run(self, argv: list[str], env: dict[str, str]) -> tuple[int, str]:
        proc = subprocess.run([sys.executable, "-m", "edgeloop.cli", *argv], capture_output=True, text=True,
                              env={**os.environ, **env}, timeout=TIMEOUT_S)
        return proc.returncode, proc.stderr

    def close(self) -> None:
        """Nothing to stop."""


class ForkLauncher:
    """Each command a process forked from one server that has imported TensorFlow
    (:mod:`benchmarks.forkserver`)."""

    def __init__(self) -> None:
        from benchmarks.forkserver import ForkServer

        self.server = ForkServer()

    def run(self, argv: list[str], env: dict[str, str]) -> tuple[int, str]:
        proc = self.server.call(argv, extra_env=env, timeout=TIMEOUT_S)
        return proc.returncode, proc.stderr[-4000:]

    def close(self) -> None:
        """Stop the server."""
        self.server.close()


def _sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _files_sha(folder: Path, names: tuple[str, ...]) -> dict[str, str | None]:
    return {name: _sha(folder / name) for name in names}


COMPARED = ("model.tflite", "baseline_float32.tflite")


def sweep(recipe: Path, out: Path, launcher, progress=lambda message: None) -> dict:
    """The reference run, then the chain of kills (see the module docstring); the figures."""
    out.mkdir(parents=True, exist_ok=True)
    log = out / "points.log"
    log.unlink(missing_ok=True)
    started = time.perf_counter()
    code, err = launcher.run(["optimize", str(recipe), "--out", str(out / "reference"), "-q"], {LOG_VARIABLE: str(log)})
    if code not in (0, 1):
        raise RuntimeError(f"the reference run failed ({code}): {err[-2000:]}")
    reference_seconds = time.perf_counter() - started
    (reference,) = (out / "reference").iterdir()
    points = log.read_text().split()
    progress(f"kills: the reference run passed {len(points)} crash points in {reference_seconds:.0f} s")
    chain_out = out / "chain"
    failures, killed, run_dir, baseline = [], 0, None, None
    chain_started = time.perf_counter()
    for i, point in enumerate(points):
        argv = ["optimize", "--resume", str(run_dir), "-q"] if run_dir else ["optimize", str(recipe), "--out", str(chain_out), "-q"]
        point_started = time.perf_counter()
        code, err = launcher.run(argv, {AT_VARIABLE: point})
        if run_dir is None:  # killed before its run folder appeared: the next process starts the run again
            folders = [p for p in chain_out.iterdir() if not p.name.startswith(".")] if chain_out.is_dir() else []
            run_dir = folders[0] if len(folders) == 1 else None
        if code == KILLED:
            killed += 1
        else:
            failures.append({"point": point, "returncode": code, "stderr": err.strip().splitlines()[-1:] if err else []})
        now = _sha(run_dir / "baseline.keras") if run_dir else None
        if baseline and now != baseline:
            failures.append({"point": point, "error": "baseline.keras was rewritten"})
        baseline = baseline or now
        progress(f"kills: {i + 1}/{len(points)} {point}: {'killed' if code == KILLED else code} "
                 f"({time.perf_counter() - point_started:.1f} s)")
    final_code = None
    if run_dir is not None:
        final_code, err = launcher.run(["optimize", "--resume", str(run_dir), "-q"], {})
        if final_code not in (0, 1):
            failures.append({"point": "final resume", "returncode": final_code, "stderr": err.strip().splitlines()[-1:]})
    want, got = _files_sha(reference, COMPARED), _files_sha(run_dir, COMPARED) if run_dir else {}
    identical = {name: want[name] is not None and want[name] == got.get(name) for name in COMPARED}
    state = json.loads((run_dir / "state.json").read_text()) if run_dir and (run_dir / "state.json").is_file() else {}
    return {
        "recipe": str(recipe),
        "points": len(points),
        "point_names": points,
        "killed": killed,
        "failures": failures,
        "final_status": state.get("status"),
        "final_returncode": final_code,
        "identical": identical,
        "model_bytes": (reference / "model.tflite").stat().st_size if (reference / "model.tflite").is_file() else None,
        "reference_seconds": reference_seconds,
        "chain_seconds": time.perf_counter() - chain_started,
        "processes": len(points) + 2,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: sweep one recipe, print the figures as JSON; 0 when every kill resumed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kills", description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--out", type=Path, default=Path("kills-out"))
    parser.add_argument("--fork", action="store_true", help="fork each process from one that imported TensorFlow")
    args = parser.parse_args(argv)
    launcher = ForkLauncher() if args.fork else SubprocessLauncher()
    try:
        result = sweep(args.recipe, args.out, launcher, progress=lambda m: print(m, file=sys.stderr, flush=True))
    finally:
        launcher.close()
    print(json.dumps({k: v for k, v in result.items() if k != "point_names"}, indent=2))
    ok = not result["failures"] and result["killed"] == result["points"] and all(result["identical"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
