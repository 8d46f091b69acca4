"""Every compression technique and combination on the digits CNN, through edgeloop's recipes.

For each seed the digits CNN is trained once (the recipe ``train`` step); every technique
then starts from that trained model as its own recipe, ends in ``convert`` + ``evaluate`` +
``benchmark``, and is read from the run's report: the *converted* model's accuracy on the
held-out split, its size raw and gzipped, its median latency. One seed's runs give the
size figures (section 1's digits part); all seeds give accuracy's mean and spread
(section 2); the plots put accuracy against size and latency.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks._common import Progress, fmt_pm, mean_std, table, timer

SEEDS = (0, 1, 2)
TRAIN_EPOCHS = 30
# (label, steps before conversion, conversion mode): fine-tune lengths follow the demo recipe.
_PRUNE50 = {"prune": {"target_sparsity": 0.5, "epochs": 8}}
_PRUNE80 = {"prune": {"target_sparsity": 0.8, "epochs": 8}}
_CLUSTER = {"cluster": {"clusters": 16, "epochs": 3}}
_QAT = {"qat": {"epochs": 10, "batch_size": 16}}
TECHNIQUES = [
    ("float32 (no compression)", [], "float32"),
    ("int8 post-training", [], "int8"),
    ("dynamic range (int8 weights)", [], "dynamic"),
    ("float16", [], "float16"),
    ("int16x8", [], "int16x8"),
    ("QAT", [_QAT], "int8"),
    ("prune 50%", [_PRUNE50], "int8"),
    ("prune 80%", [_PRUNE80], "int8"),
    ("cluster 16", [_CLUSTER], "int8"),
    ("prune 50% + cluster 16", [_PRUNE50, _CLUSTER], "int8"),
    ("prune 50% + QAT (PQAT)", [_PRUNE50, _QAT], "int8"),
    ("cluster 16 + QAT (CQAT)", [_CLUSTER, _QAT], "int8"),
    ("prune 50% + cluster 16 + QAT (PCQAT)", [_PRUNE50, _CLUSTER, _QAT], "int8"),
    ("filter prune 50%", [{"filter_prune": {"keep": 0.5, "epochs": 3, "learning_rate": 0.001}}], "int8"),
    ("distill to a ½-width student", [{"distill": {"student": "zoo:digits_cnn?width=0.5", "epochs": 10}}], "int8"),
    ("factorize (SVD, 90 % energy)", [{"factorize": {"energy": 0.9, "epochs": 3}}], "int8"),
    ("binarize weights", [{"binarize": {"activations": False, "epochs": 10}}], "int8"),
    ("filter prune + distill + prune + cluster + PCQAT", [
        {"filter_prune": {"keep": 0.5, "epochs": 3, "learning_rate": 0.001}},
        {"distill": {"teacher": "baseline", "alpha": 0.3, "epochs": 10, "learning_rate": 0.0005}},
        {"prune": {"target_sparsity": 0.5, "epochs": 4}}, _CLUSTER, _QAT], "int8"),
]
QUICK = ["float32 (no compression)", "int8 post-training", "prune 50%", "cluster 16", "prune 50% + QAT (PQAT)"]
SIZE_ROWS = ["float32 (no compression)", "int8 post-training", "prune 50%", "prune 80%", "cluster 16",
             "prune 50% + cluster 16", "prune 50% + cluster 16 + QAT (PCQAT)"]


def _recipe(name: str, model: str, seed: int, steps: list[dict], mode: str, runs: int, quick: bool) -> dict:
    if quick:  # a smoke run: every step once, as short as it goes
        steps = [{k: {**v, "epochs": 1} if "epochs" in v else v} for s in steps for k, v in s.items()]
    return {
        "name": name, "model": model, "data": "digits", "seed": seed, "measure_steps": False,
        "steps": [*steps, {"convert": {"mode": mode, "baseline": False}}, {"evaluate": {"max_drop": None}},
                  {"benchmark": {"runs": runs, "baseline": False}}],
    }


def run(quick: bool, progress: Progress) -> dict:
    """Train per seed, run every technique from it, collect the reports' figures."""
    from edgeloop.pipeline.runner import run as run_recipe
    from edgeloop.recipe import from_dict

    seeds = SEEDS[:1] if quick else SEEDS
    techniques = [t for t in TECHNIQUES if not quick or t[0] in QUICK]
    runs = 50 if quick else 200
    results: dict[str, list[dict]] = {label: [] for label, _, _ in techniques}
    with tempfile.TemporaryDirectory(prefix="edgeloop-bench-") as tmp:
        out = Path(tmp)
        for seed in seeds:
            progress(f"digits: training the base model (seed {seed})")
            base = run_recipe(from_dict({"name": f"base{seed}", "model": "zoo:digits_cnn", "data": "digits", "seed": seed,
                                         "measure_steps": False,
                                         "steps": [{"train": {"epochs": 2 if quick else TRAIN_EPOCHS}}]}), out=out)
            model_file = str(base.run_dir / base.report["steps"][-1]["model_file"])
            for label, steps, mode in techniques:
                progress(f"digits: {label} (seed {seed})")
                with timer() as t:
                    result = run_recipe(from_dict(_recipe("t", model_file, seed, steps, mode, runs, quick)), out=out)
                s = result.report["summary"]
                key = next(k for k in s["accuracy"] if k.startswith("tflite_"))
                results[label].append({
                    "seed": seed,
                    "mode": mode,
                    "float_accuracy": s["accuracy"]["baseline_float"],
                    "converted_accuracy": s["accuracy"][key],
                    "bytes": s["sizes"]["model"]["bytes"],
                    "gzip_bytes": s["sizes"]["model"]["gzip_bytes"],
                    "latency_median_ms": s["latency_median_ms"]["model"],
                    "seconds": t["seconds"],
                    "n_val": result.report["steps"][-2]["result"]["n_val"],
                })
    return {"seeds": list(seeds), "latency_runs": runs, "train_epochs": 2 if quick else TRAIN_EPOCHS,
            "techniques": results}


def render_sizes(figures: dict) -> str:
    """Section 1's digits part: sizes against the unpruned float32 model (seed 0)."""
    tech = figures["techniques"]
    base = tech["float32 (no compression)"][0]
    rows = []
    for label in SIZE_ROWS:
        if label not in tech:
            continue
        r = tech[label][0]
        rows.append([label, f"{r['bytes']:,}", f"{r['gzip_bytes']:,}", f"{base['bytes'] / r['bytes']:.2f}x",
                     f"{base['gzip_bytes'] / r['gzip_bytes']:.2f}x", f"{r['converted_accuracy']:.2%}"])
    return table(["digits CNN", "bytes", "gzipped bytes", "vs float32 raw", "vs float32 gzipped", "converted accuracy"], rows)


def render_accuracy(figures: dict) -> str:
    """Section 2: converted accuracy, mean ± std over the seeds, next to the float model."""
    rows = []
    for label, runs in figures["techniques"].items():
        rows.append([label, runs[0]["mode"], fmt_pm([r["float_accuracy"] for r in runs]),
                     fmt_pm([r["converted_accuracy"] for r in runs]),
                     fmt_pm([r["converted_accuracy"] - r["float_accuracy"] for r in runs]),
                     f"{mean_std([r['gzip_bytes'] for r in runs])[0]:,.0f}",
                     f"{mean_std([r['latency_median_ms'] for r in runs])[0] * 1000:.1f}",
                     f"{mean_std([r['seconds'] for r in runs])[0]:.0f}"])
    n = figures["techniques"]["float32 (no compression)"][0]["n_val"]
    note = (f"Accuracy in %, mean ± sample std over seeds {figures['seeds']} ({n} held-out digits each); "
            f"\"float\" is the trained model before compression, \"converted\" the .tflite file the technique "
            f"produced, run in LiteRT. Latency: median of {figures['latency_runs']} runs, 1 thread, in µs.")
    return note + "\n\n" + table(["technique", "file", "float accuracy", "converted accuracy", "points vs float",
                                  "gzipped bytes", "median µs", "seconds"], rows)


def plot(figures: dict, folder: Path) -> list[str]:
    """accuracy_vs_size.png and accuracy_vs_latency.png (means, with std as error bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    for key, xlabel, fname, scale in (("gzip_bytes", "gzipped .tflite size (KiB, log)", "accuracy_vs_size.png", 1 / 1024),
                                      ("latency_median_ms", "median latency (µs, 1 thread)", "accuracy_vs_latency.png", 1000)):
        fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
        for i, (label, runs) in enumerate(figures["techniques"].items()):
            x = mean_std([r[key] * scale for r in runs])[0]
            y, err = mean_std([100 * r["converted_accuracy"] for r in runs])
            ax.errorbar([x], [y], yerr=[err], fmt="o", ms=5, capsize=3, label=f"{i + 1}. {label}")
            ax.annotate(str(i + 1), (x, y), fontsize=7, textcoords="offset points", xytext=(4, 3))
        if key == "gzip_bytes":
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("converted accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        fig.savefig(folder / fname)
        plt.close(fig)
        names.append(fname)
    return names
