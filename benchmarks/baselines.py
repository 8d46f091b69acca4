"""Section 5: the plain tfmot + converter script against edgeloop's recipe, side by side.

Both start from the same seed, data split, model and epochs (``recipes/digits_int8.yaml``:
train 30, prune to 50 % for 8, sparsity-preserving QAT for 26). Both files are scored on
the same held-out digits and timed in one process, interleaved, with the same interpreter.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks._common import Progress, table

RECIPE = "recipes/digits_int8.yaml"


def run(quick: bool, progress: Progress, seed: int = 0) -> dict:
    """Both pipelines, then both files timed A B A B."""
    from benchmarks import tfmot_baseline
    from edgeloop.device.benchmark import benchmark
    from edgeloop.pipeline.runner import run as run_recipe
    from edgeloop.recipe import load_recipe

    epochs = (2, 1, 1) if quick else (30, 8, 26)
    progress("baselines: plain tfmot script")
    plain = tfmot_baseline.run(seed, *epochs)
    plain_scores = tfmot_baseline.score(plain["tflite"], plain["data"])
    progress("baselines: edgeloop recipe")
    recipe = load_recipe(RECIPE)
    recipe.seed = seed
    recipe.measure_steps = False
    if quick:
        for step in recipe.steps:
            if hasattr(step.options, "epochs"):
                step.options.epochs = 1
    with tempfile.TemporaryDirectory(prefix="edgeloop-bench-") as tmp:
        result = run_recipe(recipe, out=Path(tmp))
        ours = (result.run_dir / "model.tflite").read_bytes()
        seconds = sum(e["seconds"] for e in result.report["steps"])
    s = result.report["summary"]
    runs, rounds = (50, 2) if quick else (200, 5)
    progress("baselines: latency, interleaved")
    times = {"tfmot": [], "edgeloop": []}
    for _ in range(rounds):
        for key, blob in (("tfmot", plain["tflite"]), ("edgeloop", ours)):
            times[key].append(benchmark(blob, warmup=20, runs=runs).stats.median_ms)
    return {
        "seed": seed,
        "epochs": {"train": epochs[0], "prune": epochs[1], "qat": epochs[2]},
        "latency_runs": runs,
        "latency_rounds": rounds,
        "tfmot": {**plain_scores, "seconds": plain["seconds"], "latency_medians_ms": times["tfmot"]},
        "edgeloop": {"converted_accuracy": s["accuracy"]["tflite_int8"], "bytes": s["sizes"]["model"]["bytes"],
                     "gzip_bytes": s["sizes"]["model"]["gzip_bytes"], "io_type": "int8", "failed_checks": {},
                     "seconds": seconds, "latency_medians_ms": times["edgeloop"]},
    }


def render(f: dict) -> str:
    """Both rows, and what the plain script's file fails of edgeloop's checks."""
    import statistics

    rows = []
    for key, label in (("tfmot", "plain tfmot + converter (the PQAT guide's way)"), ("edgeloop", f"edgeloop `{RECIPE}`")):
        r = f[key]
        med = statistics.median(r["latency_medians_ms"]) * 1000
        spread = (max(r["latency_medians_ms"]) - min(r["latency_medians_ms"])) * 1000
        rows.append([label, f"{r['converted_accuracy']:.2%}", f"{r['bytes']:,}", f"{r['gzip_bytes']:,}", r["io_type"],
                     f"{med:.1f} (range {spread:.1f})", f"{r['seconds']:.0f}"])
    e = f["epochs"]
    ratio = statistics.median(f["tfmot"]["latency_medians_ms"]) / statistics.median(f["edgeloop"]["latency_medians_ms"])
    out = [f"Seed {f['seed']}, epochs train {e['train']} / prune {e['prune']} / QAT {e['qat']} on both sides. Latency: "
           f"median over {f['latency_rounds']} interleaved rounds of the median of {f['latency_runs']} runs, 1 thread, µs. "
           f"Accuracy on the same held-out digits.", "",
           table(["pipeline", "converted accuracy", "bytes", "gzipped bytes", "I/O", "median µs", "seconds"], rows), "",
           f"Latency ratio plain / edgeloop: {ratio:.2f}x."]
    failed = f["tfmot"]["failed_checks"]
    if failed:
        out += ["", "What edgeloop's verification finds in the plain script's file:", ""]
        out += [f"- {name}: {detail if len(detail) < 240 else detail[:240] + ' …'}" for name, detail in failed.items()]
    return "\n".join(out)
