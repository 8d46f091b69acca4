"""Reliability: malformed files through ``inspect`` / ``check`` / ``bench``, and a run killed at
every crash point.

1. **Fuzz** (:mod:`benchmarks.fuzz`): 10,000 seeded cases (``--quick``: 300) of truncated,
   bit-flipped and crafted ``.tflite`` files and special paths, each given to one command.
   Targets: 0 tracebacks, 0 hangs past 30 s, peak memory under 1 GiB per case, exit status
   in {0, 1, 2, 3}, one error line.
2. **Kills** (:mod:`benchmarks.kills`): ``recipes/digits_int8.yaml`` (``--quick``: a three-step
   recipe on a quarter-width model) killed with SIGKILL at every crash point of a run, each
   kill resumed by the next process. Target: every point killed and resumed, and the final
   ``model.tflite`` byte for byte the uninterrupted run's. The full run starts every process
   fresh (``python -m edgeloop.cli``); ``--quick`` forks them from one that imported
   TensorFlow.

Run: ``python -m benchmarks.reliability [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks import _common

ROOT = Path(__file__).resolve().parents[1]
FULL_CASES, QUICK_CASES = 10_000, 300
QUICK_RECIPE = """\
name: quick
model: zoo:digits_cnn?width=0.25
data: digits
seed: 0
measure_steps: false
steps:
  - train: {epochs: 2, batch_size: 64}
  - qat: {epochs: 1, batch_size: 64}
  - convert: {calibration_samples: 10}
"""


def run(quick: bool = False, progress=None) -> dict:
    """The fuzz run and the kill sweep; their figures."""
    from benchmarks.fuzz import build_seed_models, fuzz
    from benchmarks.kills import ForkLauncher, SubprocessLauncher, sweep

    say = progress or (lambda message: None)
    with tempfile.TemporaryDirectory(prefix="edgeloop-reliability-") as folder:
        work = Path(folder)
        seeds = build_seed_models(work / "seeds")
        say(f"reliability: fuzz, {QUICK_CASES if quick else FULL_CASES} cases")
        fuzzed = fuzz(0, QUICK_CASES if quick else FULL_CASES, 2, work / "fuzz", seeds, progress=say)
        fuzzed["failures"] = fuzzed["failures"][:10]
        if quick:
            recipe = work / "quick.yaml"
            recipe.write_text(QUICK_RECIPE)
            launcher = ForkLauncher()
        else:
            recipe, launcher = ROOT / "recipes" / "digits_int8.yaml", SubprocessLauncher()
        say(f"reliability: kills at every crash point of {recipe.name}")
        try:
            killed = sweep(recipe, work / "kills", launcher, progress=say)
        finally:
            launcher.close()
        killed["recipe"] = recipe.name if quick else "recipes/digits_int8.yaml"
        killed["launcher"] = "fork" if quick else "subprocess"
    return {"fuzz": fuzzed, "kills": killed, "machine": {"load_average": list(_load())}}


def _load() -> tuple[float, ...]:
    import os

    try:
        return os.getloadavg()
    except OSError:
        return ()


def render(figures: dict) -> str:
    """A Markdown section: the fuzz run's counts against the targets, then the kill sweep."""
    f, k = figures["fuzz"], figures["kills"]
    ok = lambda good: "meets" if good else "misses"  # noqa: E731
    modes = ", ".join(f"{n} {m}" for m, n in sorted(f["by_mode"].items()))
    rows = [
        ("cases", f"{f['cases']:,} ({', '.join(f'{n} {c}' for c, n in sorted(f['by_command'].items()))})", ""),
        ("families", ", ".join(f"{n} {c}" for c, n in sorted(f["by_family"].items())), ""),
        ("exit statuses", ", ".join(f"{c}: {n}" for c, n in f["exit_codes"].items()), "in {0, 1, 2, 3}"),
        ("tracebacks", f["tracebacks"], f"0: {ok(f['tracebacks'] == 0)}"),
        ("hangs past 30 s", f["hangs"], f"0: {ok(f['hangs'] == 0)}"),
        ("cases over 1 GiB peak memory", f"{f['over_memory']} (largest peak {f['peak_rss_mb_max']:.0f} MiB, "
                                         f"median {f['peak_rss_mb_median']:.0f} MiB)", f"0: {ok(f['over_memory'] == 0)}"),
        ("cases failing any rule", f["failed"], f"0: {ok(f['failed'] == 0)}"),
        ("seconds per case", f"median {f['seconds_median']:.2f}, p99 {f['seconds_p99']:.2f}, max {f['seconds_max']:.2f}", ""),
        ("wall time", f"{f['wall_seconds'] / 60:.1f} min, {f['jobs']} at a time ({modes})", ""),
    ]
    identical = all(k["identical"].values())
    kill_rows = [
        ("crash points", k["points"], ""),
        ("killed there (SIGKILL)", k["killed"], f"{k['points']}: {ok(k['killed'] == k['points'])}"),
        ("failures (a process that failed, baseline.keras rewritten)", len(k["failures"]), f"0: {ok(not k['failures'])}"),
        ("final run", f"{k['final_status']} (exit {k['final_returncode']})", ""),
        ("byte-identical to the uninterrupted run", ", ".join(f"{n}: {'yes' if v else 'NO'}" for n, v in k["identical"].items()),
         f"model.tflite: {ok(identical)}"),
        ("time", f"reference run {k['reference_seconds'] / 60:.1f} min, chain of {k['processes'] - 1} processes "
                 f"{k['chain_seconds'] / 60:.1f} min ({k['launcher']})", ""),
    ]
    return "\n".join([
        f"Fuzz harness (`python -m benchmarks.fuzz --seed {f['seed']} --count {f['cases']}`), seed models: "
        f"{', '.join(f['seed_models'])}.", "",
        _common.table(("", "measured", "target"), rows), "",
        f"Kills at every crash point of `{k['recipe']}` (`python -m benchmarks.kills`):", "",
        _common.table(("", "measured", "target"), kill_rows), "",
    ] + ([f"First failures: {json.dumps(f['failures'][:3])[:2000]}", ""] if f["failures"] else [])
      + ([f"Kill failures: {json.dumps(k['failures'][:5])[:2000]}", ""] if k["failures"] else []))


def main() -> None:
    """Command line: run and print the section (or the raw figures)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CASES} fuzz cases and a three-step recipe")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args()
    figures = run(quick=args.quick, progress=lambda m: print(m, flush=True))
    print(json.dumps(figures, indent=2) if args.json else render(figures))


if __name__ == "__main__":
    main()
