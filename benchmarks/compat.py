"""Section 8: which architectures go through edgeloop, like timm's model tests.

Every ``tf_keras.applications`` constructor and every zoo model, with random weights at
the smallest square RGB input it builds at (32x32 where it can), 10 classes, each in its
own child process (a converter crash or a large model's memory cannot stop the run):
converted to full int8 and verified, the Edge TPU analyzer's verdict on that file, and the
pre-flight of prune, QAT, cluster and filter_prune (tfmot's wrappers tried on every layer,
the QAT model built). A representative subset also runs prune -> QAT -> int8 for real.

Then the two models users bring that broke, trained here on scikit-learn's digits
upsampled to 32x32 RGB through ``edgeloop optimize`` in a fresh process (train, prune to
50 %, QAT, int8, evaluate): a transfer model around a nested MobileNetV2 base and a
residual mini-Xception loaded from ``.h5``. Last, the pre-flight's own wall time.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks._common import Progress, table

QUICK = ("zoo:resnet8", "zoo:ds_cnn")
PIPELINE = ("keras:MobileNetV2", "keras:MobileNetV3Small", "keras:EfficientNetB0", "zoo:resnet8", "zoo:shufflenet_v2")
# Larger models are built and counted but not converted here (the machine has 24 GiB; the
# largest tf_keras.applications model, ConvNeXtXLarge, has 348 M parameters).
MAX_PARAMS = 400_000_000
TIMEOUT_S = 1800
COLUMNS = ("ptq_int8", "prune", "qat", "cluster", "filter_prune")


def _digits32(folder: Path) -> Path:
    from edgeloop.data import load_data

    d = load_data("digits", val_fraction=0.2, seed=0)
    x = np.concatenate([d.x_train, d.x_val])
    y = np.concatenate([d.y_train, d.y_val])
    path = folder / "digits32.npz"
    np.savez(path, x=np.repeat(np.kron(x, np.ones((1, 4, 4, 1), np.float32)), 3, axis=-1), y=y)
    return path


def mini_xception(shape=(32, 32, 3), classes=10):
    """The residual mini-Xception (Arriaga et al. 2017), two modules, Keras's own layer names
    (the tests build theirs here too, at a smaller input)."""
    from edgeloop._tf import keras

    L = keras.layers
    i = keras.Input(shape)
    x = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(8, 3, use_bias=False)(i)))
    x = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(8, 3, use_bias=False)(x)))
    for filters in (16, 32):
        r = L.BatchNormalization()(L.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x))
        x = L.Activation("relu")(L.BatchNormalization()(L.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)))
        x = L.BatchNormalization()(L.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x))
        x = L.add([L.MaxPooling2D(3, strides=2, padding="same")(x), r])
    x = L.GlobalAveragePooling2D()(L.Conv2D(classes, 3, padding="same")(x))
    return keras.Model(i, x)


def _models(folder: Path) -> dict[str, Path]:
    """The nested MobileNetV2 transfer model and the residual mini-Xception, saved as users save them."""
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None, alpha=0.35)
    for layer in base.layers:  # Keras's 0.999 leaves the moving statistics at their start on 1,437 images
        if type(layer).__name__ == "BatchNormalization":
            layer.momentum = 0.9
    i = keras.Input((32, 32, 3))
    # Random weights: the base is trained with the head (a frozen-statistics base(i, training=False)
    # would keep batch norm at its initial 0 / 1 and not learn from scratch).
    x = keras.layers.GlobalAveragePooling2D()(base(i))
    nested = keras.Model(i, keras.layers.Dense(10)(keras.layers.Dropout(0.2)(x)))
    paths = {"nested MobileNetV2 (alpha 0.35) transfer model": folder / "transfer.keras",
             "mini-Xception (SeparableConv2D, residual adds), from .h5": folder / "mini_xception.h5"}
    nested.save(paths["nested MobileNetV2 (alpha 0.35) transfer model"])
    mini_xception((32, 32, 3)).save(paths["mini-Xception (SeparableConv2D, residual adds), from .h5"])
    return paths


def _edgeloop(*args: str, timeout: int = 3600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeloop.cli", *args], capture_output=True, text=True, timeout=timeout)


def _pipelines(quick: bool, progress: Progress) -> dict:
    epochs = (1, 1, 1) if quick else (30, 4, 4)
    out = {}
    with tempfile.TemporaryDirectory(prefix="edgeloop-compat-") as tmp:
        folder = Path(tmp)
        data = _digits32(folder)
        models = _models(folder)
        for name, path in models.items():
            if quick and not path.suffix == ".h5":  # the smoke run trains the small one only
                continue
            progress(f"compat: doctor and prune -> QAT -> int8 on the {name}")
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            doctor = _edgeloop("doctor", str(path), "--recipe", "edgeloop:prune_qat_int8", "--json")
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            recipe = folder / "r.yaml"
            recipe.write_text(
                f"name: compat\nmodel: {path}\ndata: {data}\nmeasure_steps: false\nsteps:\n"
                f"  - train: {{epochs: {epochs[0]}, learning_rate: 0.002}}\n"
                f"  - prune: {{target_sparsity: 0.5, epochs: {epochs[1]}}}\n"
                f"  - qat: {{epochs: {epochs[2]}, batch_size: 16}}\n"
                "  - convert: {mode: int8}\n  - evaluate: {max_drop: 100}\n")
            run = _edgeloop("optimize", str(recipe), "--out", str(folder / "runs"), "--json", "-q")
            row: dict = {"exit": run.returncode, "doctor_exit": doctor.returncode}
            if doctor.returncode in (0, 1):
                row["doctor_seconds"] = json.loads(doctor.stdout)["seconds"]
                # CPU of the whole command (TensorFlow's start-up included), for a machine shared with others.
                row["doctor_cpu_seconds"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            if run.returncode == 0:
                report = json.loads(run.stdout)
                s = report["summary"]
                convert = next(e["result"] for e in report["steps"] if e["step"] == "convert")
                targets = next(e["result"]["targets"] for e in report["steps"] if e["step"] == "prune")
                qat = next(e["result"] for e in report["steps"] if e["step"] == "qat")
                row.update(accuracy=s["accuracy"], drop_points=s["accuracy_drop_points"],
                           min_sparsity_in_file=min(convert["weight_sparsity"][n] for n in targets),
                           pruned_layers=len(targets),
                           checks_failed=s["checks"]["failed"], qat_scheme=qat["scheme"],
                           seconds={e["step"]: e["seconds"] for e in report["steps"]})
            else:
                row["error"] = (run.stderr.strip().splitlines() or [""])[-1][:300]
            out[name] = row
    return out


def run(quick: bool, progress: Progress) -> dict:
    """Every architecture (``--quick``: two small ones), then the two trained pipelines (``--quick``: the small one)."""
    from edgeloop.doctor.compat import architectures, check_in_child

    names = list(QUICK) if quick else architectures()
    # A full run takes hours on a shared 2-core machine: with EDGELOOP_COMPAT_ROWS set, each
    # architecture's row is kept in that folder as it is measured and a rerun picks up there.
    keep = Path(os.environ["EDGELOOP_COMPAT_ROWS"]) if os.environ.get("EDGELOOP_COMPAT_ROWS") and not quick else None
    rows = []
    for n, name in enumerate(names, 1):
        kept = keep / f"{name.replace(':', '_')}.json" if keep else None
        if kept and kept.is_file():
            rows.append(json.loads(kept.read_text()))
            continue
        progress(f"compat: {name} ({n}/{len(names)})")
        rows.append(check_in_child(name, TIMEOUT_S, pipeline=name in PIPELINE or quick, max_params=MAX_PARAMS))
        if kept:
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(json.dumps(rows[-1]))
    return {"architectures": rows, "pipelines": _pipelines(quick, progress), "max_params": MAX_PARAMS}


def totals(rows: list[dict]) -> dict:
    """How many architectures built, converted, passed each pre-flight, mapped whole."""
    ran = [r for r in rows if r.get("ptq_int8")]
    piped = [r for r in rows if r.get("pipeline")]
    return {
        "architectures": len(rows),
        "build": sum(bool(r.get("builds")) for r in rows),
        "checked": len(ran),
        **{c: sum(r[c]["ok"] for r in ran) for c in COLUMNS},
        "edgetpu_whole": sum(r["edgetpu"]["maps_whole"] for r in ran),
        "pipeline_ran": len(piped),
        "pipeline_ok": sum(bool(r["pipeline"].get("convert")) for r in piped),
    }


def render(f: dict) -> str:
    """The table with a reason for every ✗, its totals, the trained pipelines and the doctor's time."""
    from edgeloop.models.table import format_count

    rows, reasons = [], []

    def mark(ok: bool, why: str) -> str:
        if ok:
            return "✓"
        reasons.append(why)
        return f"✗ [{len(reasons)}]"

    for r in f["architectures"]:
        if not r.get("ptq_int8"):
            why = r.get("why", "")
            cells = [mark(False, why)] + ["-"] * 6 if not r.get("builds") else [f"- ({why})"] + ["-"] * 6
            rows.append([f"`{r['name']}`", f"{r.get('side', '-')}", format_count(r["params"]) if r.get("params") else "-",
                         *cells])
            continue
        tpu = r["edgetpu"]
        tpu_cell = "✓ whole" if tpu["maps_whole"] else mark(False, f"Edge TPU: cut at {tpu['cut']}: {tpu['why']}" if tpu.get("cut")
                                                            else f"Edge TPU: {tpu['why']}")
        pipe = r.get("pipeline")
        pipe_cell = "" if not pipe else (f"✓ {pipe['min_sparsity_in_file']:.0%} zeros in file" if pipe.get("convert")
                                         else mark(False, f"prune -> QAT -> int8: {pipe.get('why', '')}"))
        rows.append([f"`{r['name']}`", f"{r['side']}", format_count(r["params"]),
                     *(mark(r[c]["ok"], f"{c}: {r[c]['why']}") for c in COLUMNS), tpu_cell, pipe_cell])
    t = totals(f["architectures"])
    out = [
        "Every `tf_keras.applications` constructor and every zoo model, random weights, the smallest square RGB input "
        "it builds at, 10 classes, each in a child process. PTQ int8: converted to full int8 (calibrated on random "
        "samples) and verified. prune / QAT / cluster / filter_prune: the step's pre-flight with default options "
        "(tfmot's wrappers tried on every layer, the QAT model built on a clone; nothing trained). Edge TPU: the "
        "analyzer on the int8 file. Last column: prune (50 %) -> QAT -> int8 run for real on a representative subset "
        "(a few optimizer steps on random data) and the zeros measured in the converted file. "
        f"Models over {f['max_params'] / 1e6:.0f} M parameters are built and counted, not converted here.",
        "",
        f"**Totals:** {t['architectures']} architectures; {t['build']} build here; {t['checked']} checked; "
        f"{t['ptq_int8']} convert to verified full int8; pre-flight passes for prune {t['prune']}, QAT {t['qat']}, "
        f"cluster {t['cluster']}, filter_prune {t['filter_prune']}; {t['edgetpu_whole']} map whole on the Edge TPU; "
        f"prune -> QAT -> int8 ran on {t['pipeline_ok']} of {t['pipeline_ran']}.",
        "",
        table(["architecture", "input", "parameters", "PTQ int8", "prune", "QAT", "cluster", "filter_prune", "Edge TPU",
               "prune -> QAT -> int8"], rows),
        "",
        "Reasons:",
        "",
        *[f"{n}. {why}" for n, why in enumerate(reasons, 1)],
        "",
        "### prune -> QAT -> int8 on the models that broke, trained on digits upsampled to 32x32 RGB",
        "",
        "`edgeloop optimize` in a fresh process: train, prune to 50 %, QAT (sparsity-preserving), int8, evaluate on "
        "the 359 held-out digits. Pre-flight: `edgeloop doctor MODEL --recipe edgeloop:prune_qat_int8`, wall time "
        "of the diagnosis and CPU time of the whole command (TensorFlow's start-up included).",
        "",
    ]
    prow = []
    for name, p in f["pipelines"].items():
        if p["exit"] != 0:
            prow.append([name, "failed", p.get("error", ""), "", "", "", "", f"{p.get('doctor_seconds', 0):.1f}"])
            continue
        acc = p["accuracy"]
        prow.append([name, f"{acc['baseline_float']:.2%}", f"{acc['keras']:.2%}", f"{acc['tflite_int8']:.2%}",
                     f"{100 * (acc['tflite_int8'] - acc['keras']):+.2f}",
                     f"{p['min_sparsity_in_file']:.1%} ({p['pruned_layers']} layers)",
                     "all pass" if not p["checks_failed"] else ", ".join(p["checks_failed"]),
                     f"{p.get('doctor_seconds', 0):.1f} / {p.get('doctor_cpu_seconds', 0):.1f}"])
    out += [table(["model", "float, trained", "float after prune + QAT (Keras)", "int8 file", "int8 vs Keras, points",
                   "min sparsity of the pruned layers in the file", "checks", "doctor s (wall / CPU)"], prow)]
    return "\n".join(out)
