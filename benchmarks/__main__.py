"""``python -m benchmarks [--quick] [--out DIR] [--only SECTION …]``: run the suite, write the report.

The full run writes ``benchmarks/BENCHMARKS.md``, ``benchmarks/results.json`` and the
plots next to them. ``--quick`` is the CI smoke run: every section, tiny settings, written
to ``.bench-quick/`` so the committed figures are never replaced by smoke figures.
``--only`` reruns some sections and keeps the other sections' figures already in the
folder's ``results.json`` (each section carries the date it was measured), so a change
that moves one section's figures reruns that section alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import _common

HERE = Path(__file__).resolve().parent
# Section modules, in the order they run.
SECTIONS = ("zoo", "digits", "pipeline_cost", "baselines", "agent_overhead", "search", "agent_load", "preprocessing",
            "anywhere", "fidelity", "compat", "reliability", "int8_speed", "latency_prediction", "autocompress")


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _run_sections(names: list[str], quick: bool) -> dict:
    import importlib

    figures: dict = {}
    # Sessions land on different CPUs: a section rerun alone says which one it ran on.
    machine = _common.machine()
    cpu = f"{machine['cpu']} ({machine['cpu_detail']})"
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        started = time.perf_counter()
        figures[name] = module.run(quick, _progress)
        figures[name]["section_seconds"] = time.perf_counter() - started
        figures[name]["measured"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        figures[name]["cpu"] = cpu
        _progress(f"{name}: done in {figures[name]['section_seconds']:.0f} s")
    return figures


def render(results: dict, folder: Path) -> str:
    """The whole BENCHMARKS.md from the results of one run."""
    from benchmarks import (agent_load, agent_overhead, anywhere, autocompress, baselines, compat, digits, fidelity,
                            int8_speed, latency_prediction, pipeline_cost, preprocessing, reliability, search, zoo)

    f = results["figures"]
    m = results["machine"]
    dates = {name: figures.get("measured", results["date"]) for name, figures in f.items()}
    if len(set(dates.values())) > 1:
        when = ("Sections were measured at different times, each in one run of its own: "
                + ", ".join(f"{name} {date} ({f[name]['section_seconds'] / 60:.0f} min)" for name, date in dates.items())
                + ". Ratios compare things measured side by side within a section")
    else:
        when = (f"Written by `scripts/bench`{' --quick' if results['quick'] else ''} on {results['date']} in "
                f"{results['seconds'] / 60:.1f} minutes. Every figure below comes from this one run; ratios compare "
                "things measured side by side in it")
    out = [
        "# edgeloop benchmarks",
        "",
        when + ", absolute times are context (a shared machine).",
        "",
        *_cpus(f),
        f"Machine (of the latest run): {m['cpu']}{' (' + m['cpu_detail'] + ')' if m.get('cpu_detail') else ''}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        "",
    ]
    out += ["## 1. Size", ""]
    if "zoo" in f:
        out += ["### Zoo models at their reference configuration: float32 against int8", "", zoo.render_sizes(f["zoo"]), ""]
    if "digits" in f:
        out += ["### digits CNN: pruning and clustering against the unpruned float32 model", "",
                digits.render_sizes(f["digits"]), "",
                "## 2. Accuracy on digits, every technique", "", digits.render_accuracy(f["digits"]), "",
                "![accuracy vs size](accuracy_vs_size.png)", "", "![accuracy vs latency](accuracy_vs_latency.png)", ""]
        digits.plot(f["digits"], folder)
    if "zoo" in f:
        out += ["## 3. Latency of the zoo models, float32 against int8", "", zoo.render_latency(f["zoo"]), ""]
    if "pipeline_cost" in f:
        out += ["## 4. Cost of the pipeline itself", "", pipeline_cost.render(f["pipeline_cost"]), ""]
    if "baselines" in f:
        out += ["## 5. Plain tfmot + converter against edgeloop", "", baselines.render(f["baselines"]), ""]
    if "agent_overhead" in f:
        out += ["## 6. Device agent: overhead and repeatability", "", agent_overhead.render(f["agent_overhead"]), ""]
    if "search" in f:
        out += ["## 7. Hardware-aware search against uniform width multipliers", "", search.render(f["search"]), "",
                f"![search: accuracy vs measured latency]({search.plot(f['search'], folder)})", ""]
    if "agent_load" in f:
        out += ["## 8. Reliability: the device agent under load and hostile input", "", agent_load.render(f["agent_load"]), ""]
    if "preprocessing" in f:
        out += ["## 9. Preprocessing as data: an image folder into a [-1, 1] model", "",
                preprocessing.render(f["preprocessing"]), ""]
    if "anywhere" in f:
        out += ["## 10. Models from anywhere: Keras 3, subclassed, SavedModel, against tf_keras", "",
                anywhere.render(f["anywhere"]), ""]
    if "fidelity" in f:
        out += ["## 11. Quantization fidelity", "", fidelity.render(f["fidelity"]), ""]
    if "compat" in f:
        out += ["## 12. Compatibility: every architecture through edgeloop", "", compat.render(f["compat"]), ""]
    if "reliability" in f:
        out += ["## 13. Reliability: malformed files, and kills at every crash point", "",
                reliability.render(f["reliability"]), ""]
    if "int8_speed" in f:
        out += ["## 14. int8 against float32 at 1 thread: the fixes, and why where it is still slower", "",
                int8_speed.render(f["int8_speed"]), ""]
    if "latency_prediction" in f:
        out += ["## 15. Latency prediction on held-out architectures", "",
                latency_prediction.render(f["latency_prediction"]), ""]
    if "autocompress" in f:
        out += ["## 16. Automatic compression against NetAdapt and the hand recipes", "",
                autocompress.render(f["autocompress"]), ""]
        out += [f"![autocompress: accuracy vs {name.split('_')[1][:-4]}]({name})"
                for name in autocompress.plot(f["autocompress"], folder)] + [""]
    return "\n".join(out)


def _cpus(f: dict) -> list[str]:
    """A paragraph naming the CPU each section ran on, where they differ (sessions land on
    different CPUs, and a section rerun alone keeps the others' figures)."""
    unknown = "CPU not recorded (measured before sections recorded it)"
    cpus = {figures.get("cpu", unknown) for figures in f.values()}
    if len(cpus) < 2:
        return []
    return ["Not every section ran on one CPU. " + "; ".join(
        f"{cpu}: " + ", ".join(name for name, figures in f.items() if figures.get("cpu", unknown) == cpu)
        for cpu in sorted(cpus)) + ".", ""]


def _kept_figures(path: Path, quick: bool) -> dict:
    """The sections already measured in ``path`` by a run of the same kind (full or quick)."""
    import json

    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if earlier.get("quick") != quick:
        return {}
    kept = earlier.get("figures", {})
    for figures in kept.values():
        figures.setdefault("measured", earlier.get("date"))
    return kept


def main(argv: list[str] | None = None) -> int:
    """Run the sections asked for and write the report; 0 on success."""
    from edgeloop import _io

    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run (CI): tiny settings, written to .bench-quick/")
    parser.add_argument("--out", type=Path, help="where BENCHMARKS.md and results.json go")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    args = parser.parse_args(argv)
    folder = args.out or (HERE.parent / ".bench-quick" if args.quick else HERE)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    figures = _run_sections(list(args.only or SECTIONS), args.quick)
    if args.only:
        figures = {**_kept_figures(folder / "results.json", args.quick), **figures}
        figures = {name: figures[name] for name in SECTIONS if name in figures}  # report order
    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "seconds": time.perf_counter() - started,
        "machine": _common.machine(),
        "figures": figures,
    }
    _io.write_json(folder / "results.json", results)
    _io.write_text(folder / "BENCHMARKS.md", render(results, folder))
    _progress(f"wrote {folder / 'BENCHMARKS.md'} in {results['seconds'] / 60:.1f} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
