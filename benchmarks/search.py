"""Section 7: hardware-aware search on this machine's CPU as the device.

A zoo MobileNet on digits is searched to half its measured int8 latency (NetAdapt on
measured latency, every proposal scored converted), and compared with the field's
baseline, the same architecture at uniform width multipliers trained with the same number
of epochs and measured on the same device. The Pareto table holds both curves.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks._common import Progress, table

MODEL = "zoo:mobilenet_v1?width=1.0"
# Larger steps than the command's defaults (a quarter of the original latency per iteration,
# 15 training epochs, one fine-tune epoch per proposal) keep the section near a quarter of an
# hour on 2 cores; the width-multiplier baseline gets the same number of epochs.
FULL = {"budget": "0.5x", "accuracy_drop": 1.0, "initial_reduction": 0.25, "decay": 1.0, "train_epochs": 15,
        "short_epochs": 1, "long_epochs": 5, "runs": 200}
QUICK = {"budget": "0.5x", "train_epochs": 2, "short_epochs": 1, "long_epochs": 1, "step": 48, "max_iterations": 1,
         "baseline_widths": [0.5], "runs": 50, "calibration_samples": 20}
QUICK_MODEL = "zoo:mobilenet_v1?width=0.25"


def run(quick: bool, progress: Progress) -> dict:
    """One search, its baseline, and the Pareto table's points."""
    from edgeloop.pipeline.options import parse_options
    from edgeloop.search import SearchOptions, search
    from edgeloop.search.pareto import pareto_front, search_points
    from edgeloop.search.report import summary
    from edgeloop.ui import Ui

    model = QUICK_MODEL if quick else MODEL
    options = parse_options(SearchOptions, QUICK if quick else FULL, "benchmark")
    progress(f"search: {model} on digits, budget {options.budget} of its measured int8 latency")
    with tempfile.TemporaryDirectory(prefix="edgeloop-bench-") as tmp:
        session = search(model, "digits", options, device="local", out=tmp, ui=Ui(quiet=False),
                         store=str(Path(tmp) / "latency.sqlite"))
        state = session.state
    figures = {
        "model": model,
        "options": state["options"],
        "summary": summary(state),
        "iterations": [{k: it[k] for k in ("iteration", "target_ms", "chosen", "latency_ms", "int8_accuracy", "seconds")}
                       | {"proposals": len(it["proposals"])} for it in state["iterations"]],
        "search_front": pareto_front(search_points(state)),
        "baseline": state.get("baseline", []),
        "checks": state.get("checks", []),
        # What the plot needs: every proposal evaluated, the kept ones, the baseline.
        "state": {k: state[k] for k in ("original", "iterations", "final", "baseline", "budget_ms", "device")
                  if k in state},
    }
    return figures


def plot(f: dict, folder: Path) -> str:
    """search_pareto.png: accuracy vs measured latency of everything evaluated, both curves."""
    from edgeloop.search.pareto import plot as pareto_plot

    pareto_plot(f["state"], folder / "search_pareto.png")
    return "search_pareto.png"


def render(f: dict) -> str:
    """The search's headline, both curves, the checks."""
    from edgeloop.search.netadapt import points

    s = f["summary"]
    o, fin = s["original"], s.get("final")
    out = [f"`{f['model']}` on digits, device: this machine's CPU (LiteRT, 1 thread, median of "
           f"{f['options']['runs']} runs per measurement); budget {f['options']['budget']} of the original's measured "
           f"int8 latency = {s['budget_ms']:.4f} ms; {s['iterations']} NetAdapt iterations "
           f"({f['options']['short_epochs']} fine-tune epoch(s) per proposal, {f['options']['long_epochs']} for the "
           f"winner); stopped: {s['stopped']}.", ""]
    if fin:
        out += [f"Original: {o['int8_accuracy']:.2%} int8, {o['latency_ms']:.4f} ms. Searched: "
                f"{fin['int8_accuracy']:.2%} int8 ({points(fin['accuracy_drop_points'])}), {fin['latency_ms']:.4f} ms "
                f"measured = **{fin['latency_ratio']:.2f}x** the original. Width multipliers at that latency: "
                + (f"{s['baseline_accuracy_at_final_latency']:.2%}." if s.get("baseline_accuracy_at_final_latency")
                   is not None else "outside their range."), ""]
    rows = [["search", p["label"], f"{p['latency_ms']:.4f}", f"{p['int8_accuracy']:.2%}"] for p in f["search_front"]]
    rows += [["width multiplier", f"{b['width']:g}x ({b['how']}, {b['epochs']} epochs)", f"{b['latency_ms']:.4f}",
              f"{b['int8_accuracy']:.2%}"] for b in sorted(f["baseline"], key=lambda b: b["latency_ms"])]
    out += ["Pareto table (accuracy of the converted int8 model on the 359 held-out digits vs measured latency):", "",
            table(["curve", "model", "measured ms", "int8 accuracy"], rows), ""]
    out += [f"- {'pass' if c['passed'] else 'FAIL'} {c['name']}: {c['detail']}" for c in f["checks"]]
    return "\n".join(out)
