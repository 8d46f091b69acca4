"""Section 16: automatic compression against NetAdapt alone and the hand recipes.

A zoo MobileNet on digits (depthwise and pointwise layers: widths, sparsity, clusters and
precision trade off differently per layer) is trained, then searched by ``autocompress``
(NSGA-II over the whole policy space, every trial converted to int8 and timed on this
machine's CPU as the device). In the same run and on the same device: the NetAdapt search
from the same trained model, and the hand recipes ``digits_int8`` and
``digits_everything`` on the same model (their ``train`` steps dropped). The question: at
each comparison's measured latency (and size), does autocompress have a trial at least as
accurate and strictly better on one axis?
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks._common import Progress, table

ROOT = Path(__file__).resolve().parents[1]
MODEL = "zoo:mobilenet_v1?width=0.5"
# The front's trials are rerun with the winner's fine-tune (refine_front), as NetAdapt's final model is.
FULL = {"trials": 24, "time_limit": "40m", "epochs": 3, "final_epochs": 6, "refine_front": 5, "sampler": "nsga2",
        "max_drop": 1.0,
        "seeds": 8, "runs": 100, "netadapt": True,
        "compare": [str(ROOT / "recipes" / "digits_int8.yaml"), str(ROOT / "recipes" / "digits_everything.yaml")]}
QUICK = {"trials": 3, "epochs": 1, "final_epochs": 1, "refine_front": 1, "side_by_side": 2, "seeds": 1, "runs": 30,
         "calibration_samples": 30,
         "compare": [str(ROOT / "recipes" / "digits_int8.yaml")]}
# Trained to its plateau (float accuracy on the held-out digits: 92.2 % after 15 epochs, 95.5 %
# after 40, 94.4 % after 80), so that a comparison's longer fine-tune is not what wins it.
TRAIN_EPOCHS = {False: 40, True: 2}


def run(quick: bool, progress: Progress) -> dict:
    """The search, its comparisons, the dominance check."""
    import json

    from edgeloop.pipeline import runner
    from edgeloop.recipe import from_dict
    from edgeloop.ui import Ui

    options = dict(QUICK if quick else FULL)
    progress(f"autocompress: {MODEL} on digits, {options['trials']} trials, compared with "
             f"{len(options['compare'])} hand recipe(s){' and NetAdapt' if options.get('netadapt') else ''}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgeloop-bench-") as tmp:
        options["store"] = str(Path(tmp) / "latency.sqlite")
        raw = {"name": "autocompress", "model": MODEL, "data": "digits", "seed": 0,
               "steps": [{"train": {"epochs": TRAIN_EPOCHS[quick]}}, {"autocompress": options}]}
        result = runner.run(from_dict(raw, source="benchmark"), out=tmp, ui=Ui(quiet=False))
        report = json.loads((result.run_dir / "autocompress" / "report.json").read_text())
    keep = ("status", "aim", "goal", "start", "trials", "chosen", "winner", "refined", "compare", "side_by_side",
            "dominance", "front", "why")
    return {"model": MODEL, "options": {k: v for k, v in options.items() if k != "store"},
            "wall_seconds": time.perf_counter() - started, "state": {k: report.get(k) for k in keep}}


def plot(f: dict, folder: Path) -> list[str]:
    """autocompress_latency.png and autocompress_size.png."""
    from edgeloop.autocompress.report import plot as front_plot

    return [front_plot(f["state"], axis, folder / f"autocompress_{axis.split('_')[0]}.png").name
            for axis in ("latency_ms", "size_kb")]


def render(f: dict) -> str:
    """Headline, the comparison table with dominance, the winner."""
    s = f["state"]
    done = [t for t in s["trials"] if t.get("figures")]
    start = s["start"]
    out = [f"`{f['model']}` trained {TRAIN_EPOCHS[False]} epochs on digits, then searched: {len(s['trials'])} trials "
           f"({len(done)} finished; {f['options']['epochs']} fine-tune epoch(s) per technique, "
           f"{f['options']['final_epochs']} for the winner and {len(s.get('refined') or [])} other front trial(s) rerun "
           f"with it, as NetAdapt's final model gets) in {f['wall_seconds'] / 60:.1f} minutes for the whole "
           f"section, device: this machine's CPU (LiteRT, 1 thread). Starting model: float "
           f"{start['float_accuracy']:.2%}, int8 {start['int8_accuracy']:.2%}, {start['latency_ms']:.4f} ms.", ""]
    if s.get("winner"):
        w = s["winner"]
        out += [f"Chosen: {s['chosen']['why']} Its recipe rerun with the longer fine-tune: {w['int8_accuracy']:.2%} int8, "
                f"{w['latency_ms']:.4f} ms, {w['size_kb']:.1f} kB gzipped.", ""]
    dom = {(d["name"], d["label"]): d for d in s.get("dominance", [])}
    for axis, what in (("latency_ms", "latency"), ("size_kb", "size")):
        asked = [d for d in s.get("dominance", []) if axis in d]
        hit = [d for d in asked if d[axis]]
        out.append(f"Dominated at {what}: {len(hit)} of {len(asked)} comparison points"
                   + (f" (not: {', '.join(_name(d) for d in asked if not d[axis])})"
                      if len(hit) < len(asked) else "") + ".")
    out.append("")
    from edgeloop.autocompress.report import compared, points

    rows = []
    for c, timed in compared(s):
        for p in timed:
            d = dom.get((c["name"], p["label"]), {})
            rows.append([c["name"], p["label"], f"{p['int8_accuracy']:.2%}", f"{p['latency_ms']:.4f}",
                         f"{p['size_kb']:.1f}" if p.get("size_kb") is not None else "-",
                         d.get("latency_ms") or "no", d.get("size_kb") or ("no" if p.get("size_kb") is not None else "-")])
    front = [p for p in points(s) if p["label"] in s["front"]["latency_ms"]]
    rows += [["autocompress front", p["label"], f"{p['int8_accuracy']:.2%}", f"{p['latency_ms']:.4f}",
              f"{p['size_kb']:.1f}", "", ""] for p in sorted(front, key=lambda p: p["latency_ms"])]
    sbs = s.get("side_by_side") or {}
    timing = (f"every file timed again at the end, all in turn, {len(next(iter(sbs.values()))['passes_ms'])} passes, "
              "the median of each file's passes" if sbs else "each file timed when it was made")
    out += [f"Every point measured on the same device in the same run ({timing}; accuracy of the converted int8 model "
            "on the 359 held-out digits; size gzipped). \"Dominated by\": an autocompress trial at least as accurate "
            "and no worse on that axis, strictly better on one.", "",
            table(["what", "point", "int8 accuracy", "ms", "kB", "dominated at latency by", "at size by"], rows), ""]
    return "\n".join(out)


def _name(d: dict) -> str:
    """A comparison point's name: ``NetAdapt iteration 2``, ``hand: digits_int8``."""
    return d["label"] if d["label"].startswith(d["name"]) else f"{d['name']} {d['label']}"
