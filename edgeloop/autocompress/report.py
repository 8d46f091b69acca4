"""The search's report: ``report.json`` (every trial's policy and figures), ``report.md`` (the
Pareto table, the comparisons, the chosen recipe and why) and two Pareto plots (matplotlib):
converted accuracy against measured latency, and against size."""

from __future__ import annotations

from pathlib import Path

from edgeloop import _io
from edgeloop.autocompress.labels import key, refined_label, trial_label, winner_label
from edgeloop.autocompress.objective import dominates_at, pareto_front
from edgeloop.search.pareto import save_figure

PLOTS = {"latency_ms": "pareto_latency.png", "size_kb": "pareto_size.png"}
AXIS = {"latency_ms": "measured int8 latency (ms, median)", "size_kb": "size of the .tflite, gzipped (kB)"}


def points(state: dict) -> list[dict]:
    """Every finished trial as a point (``label``, ``int8_accuracy``, ``latency_ms``, ``size_kb``),
    the winner's recipe and the refined front trials as run with the longer fine-tune (measured
    on the same meter): the search's own results, its front drawn over all of them."""
    out = [{**t["figures"], "label": trial_label(t["number"])} for t in state.get("trials", []) if t.get("figures")]
    winner = state.get("winner")
    if winner and winner.get("latency_ms") is not None:
        out.append({**{k: winner[k] for k in ("int8_accuracy", "latency_ms", "size_kb")},
                    "trial": winner["trial"], "label": winner_label(winner["trial"])})
    for r in state.get("refined") or []:
        if r.get("latency_ms") is not None:
            out.append({**{k: r[k] for k in ("int8_accuracy", "latency_ms", "size_kb")},
                        "trial": r["trial"], "label": refined_label(r["trial"])})
    return [_side_by_side(state, p["label"], p) for p in out]


def compared(state: dict) -> list[tuple[dict, list[dict]]]:
    """Each comparison and its points, latencies from the side-by-side timing when there is one."""
    return [(c, [_side_by_side(state, key(c["name"], p["label"]), p) for p in c.get("points", [])])
            for c in state.get("compare") or []]


def _side_by_side(state: dict, name: str, point: dict) -> dict:
    """``point`` with its side-by-side latency (the search-time one kept as ``latency_ms_search``)."""
    timed = (state.get("side_by_side") or {}).get(name)
    if not timed:
        return point
    return {**point, "latency_ms_search": point.get("latency_ms"), "latency_ms": timed["latency_ms"]}


def dominance(state: dict) -> list[dict]:
    """For each comparison point: a trial at least as accurate and no worse on the axis,
    strictly better on one (``None`` when the search has none), per axis."""
    trials = points(state)
    out = []
    for c, pts in compared(state):
        for p in pts:
            row = {"name": c["name"], "label": p["label"]}
            for axis in PLOTS:
                if p.get(axis) is not None:
                    hit = dominates_at(pareto_front(trials, ("int8_accuracy", axis)), p, axis)
                    row[axis] = hit["label"] if hit else None
            out.append(row)
    return out


def write(folder: Path, state: dict) -> dict:
    """Write ``report.json``, ``report.md`` and the plots into ``folder``; the report."""
    report = {**state, "front": {axis: [p["label"] for p in pareto_front(points(state), ("int8_accuracy", axis))]
                                 for axis in PLOTS},
              "dominance": dominance(state), "plots": {}}
    if points(state):
        for axis, name in PLOTS.items():
            report["plots"][axis] = plot(state, axis, folder / name).name
    _io.write_json(folder / "report.json", report)
    _io.write_text(folder / "report.md", markdown(report))
    return report


def plot(state: dict, axis: str, path: Path) -> Path:
    """Accuracy against ``axis`` of every trial, the front, the comparisons and the winner."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    trials = points(state)
    front = pareto_front(trials, ("int8_accuracy", axis))
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.scatter([p[axis] for p in trials], [100 * p["int8_accuracy"] for p in trials], s=14, c="0.7", label="trials")
    ax.plot([p[axis] for p in front], [100 * p["int8_accuracy"] for p in front], "o-", c="tab:blue",
            label="autocompress: Pareto front")
    styles = iter(zip("s^Dvp<>", ("tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive")))
    for c, timed in compared(state):
        pts = [p for p in timed if p.get(axis) is not None]
        if pts:
            marker, colour = next(styles, ("x", "black"))
            ax.plot([p[axis] for p in pts], [100 * p["int8_accuracy"] for p in pts], marker + "--", c=colour, ms=8,
                    label=c["name"])
    winner = state.get("winner")
    if winner:
        ax.plot([winner[axis]], [100 * winner["int8_accuracy"]], "*", ms=14, c="tab:red", label="chosen (winner recipe)")
    budget = state.get("goal", {}).get(axis)
    if budget:
        ax.axvline(budget, ls=":", c="tab:red", lw=1, label="budget")
    ax.set_xlabel(f"{AXIS[axis]} on {state.get('aim', {}).get('device', '?')}")
    ax.set_ylabel("converted int8 accuracy (%)")
    return save_figure(fig, ax, path)


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def markdown(report: dict) -> str:
    """The report as Markdown."""
    goal, start = report.get("goal", {}), report.get("start", {})
    lines = ["# Automatic compression", "",
             f"Status: **{report.get('status')}**. Device: {report.get('aim', {}).get('device')}. "
             f"Trials: {len(report.get('trials', []))} ({sum(1 for t in report.get('trials', []) if t.get('figures'))} "
             "finished)." + (f" Stopped early: {report['stopped_early']}." if report.get("stopped_early") else ""), "",
             f"Starting model: float {_pct(start.get('float_accuracy'))}, int8 {_pct(start.get('int8_accuracy'))}, "
             f"{start.get('latency_ms', 0):.4f} ms.",
             f"Target: at most {goal.get('max_drop')} points lost"
             + (f", latency <= {goal['latency_ms']:.4f} ms" if goal.get("latency_ms") else "")
             + (f", size <= {goal['size_kb']:g} kB" if goal.get("size_kb") else "") + ".", ""]
    chosen = report.get("chosen")
    if chosen:
        w = report.get("winner", {})
        lines += ["## Chosen", "", chosen["why"], "",
                  f"Its recipe, `{w.get('recipe')}`, run with the longer fine-tune: int8 {_pct(w.get('int8_accuracy'))}, "
                  f"{w.get('latency_ms', 0):.4f} ms, {w.get('size_kb', 0):.1f} kB gzipped"
                  + (f"; misses: {'; '.join(w['misses'])}" if w.get("misses") else "") + ".", ""]
    else:
        lines += ["## No trial meets the target", "", report.get("why", ""), ""]
    lines += ["## Trials", "", "| trial | int8 accuracy | ms | kB (gzip) | meets | steps |", "|---|---|---|---|---|---|"]
    for t in report.get("trials", []):
        f = t.get("figures")
        steps = ", ".join(next(iter(s)) for s in t["steps"]) + (" + precisions" if t.get("precisions") else "")
        if f:
            lines.append(f"| {t['number']}{' (seed)' if t['seeded'] else ''} | {_pct(f['int8_accuracy'])} | "
                         f"{f['latency_ms']:.4f} | {f['size_kb']:.1f} | {'yes' if not f['misses'] else 'no'} | "
                         f"{steps or 'int8 only'} |")
        else:
            lines.append(f"| {t['number']} | {t['state'].lower()}: {t.get('error') or ''} | | | | {steps} |")
    if report.get("refined"):
        lines += ["", "## Front trials rerun with the longer fine-tune", "",
                  "| trial | int8 accuracy | ms | kB (gzip) | recipe |", "|---|---|---|---|---|"]
        for r in report["refined"]:
            if r.get("error"):
                lines.append(f"| {r['trial']} | failed: {r['error']} | | | `{r['recipe']}` |")
            else:
                lines.append(f"| {r['trial']} | {_pct(r['int8_accuracy'])} | {r['latency_ms']:.4f} | {r['size_kb']:.1f} | "
                             f"`{r['recipe']}` |")
    if report.get("side_by_side"):
        passes = len(next(iter(report["side_by_side"].values()))["passes_ms"])
        lines += ["", f"Latencies in the front and the comparisons: every file timed again at the end, all in turn, "
                  f"{passes} passes, the median of each file's passes (the trials table shows the time measured "
                  "when each trial finished)."]
    if report.get("compare"):
        lines += ["", "## Compared on the same device", "", "| what | point | int8 accuracy | ms | kB (gzip) | "
                  "dominated at latency by | at size by |", "|---|---|---|---|---|---|---|"]
        dom = {(d["name"], d["label"]): d for d in report.get("dominance", [])}
        for c, timed in compared(report):
            if c.get("error"):
                lines.append(f"| {c['name']} | failed: {c['error']} | | | | | |")
            for p in timed:
                d = dom.get((c["name"], p["label"]), {})
                size = f"{p['size_kb']:.1f}" if p.get("size_kb") is not None else "-"
                lines.append(f"| {c['name']} | {p['label']} | {_pct(p['int8_accuracy'])} | {p['latency_ms']:.4f} | {size} | "
                             f"{d.get('latency_ms') or '-'} | {d.get('size_kb') or '-'} |")
    for axis, name in report.get("plots", {}).items():
        lines += ["", f"![accuracy vs {axis}]({name})"]
    lines.append("")
    return "\n".join(lines)
