"""Accuracy vs measured latency: the Pareto front, the baseline at equal latency, the plot."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence


def pareto_front(points: Sequence[dict], cost: str = "latency_ms", gain: str = "int8_accuracy") -> list[dict]:
    """The points no other point beats on both counts (cheaper *and* at least as good).

    Each point has ``cost`` (lower is better, the search's ``latency_ms``) and ``gain``
    (higher is better, ``int8_accuracy``); the front is sorted by cost.
    """
    front: list[dict] = []
    best = float("-inf")
    for p in sorted(points, key=lambda p: (p[cost], -p[gain])):
        if p[gain] > best:
            front.append(p)
            best = p[gain]
    return front


def accuracy_at(curve: Sequence[dict], latency_ms: float) -> float | None:
    """The curve's accuracy at ``latency_ms``, linear between its two nearest points.

    The curve is made monotone first (a slower point is credited with the best accuracy of
    any faster one, as a user could pick that faster model instead). ``None`` when
    ``latency_ms`` lies outside the curve's latency range.
    """
    pts = sorted(curve, key=lambda p: p["latency_ms"])
    if not pts or not pts[0]["latency_ms"] <= latency_ms <= pts[-1]["latency_ms"]:
        return None
    xs, ys, best = [], [], float("-inf")
    for p in pts:
        best = max(best, p["int8_accuracy"])
        xs.append(p["latency_ms"])
        ys.append(best)
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if x0 <= latency_ms <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (latency_ms - x0) / (x1 - x0)
    return ys[-1]


def search_points(state: dict) -> list[dict]:
    """Every model the search evaluated: the original, every proposal, the final model."""
    points = [{"label": "original", "latency_ms": state["original"]["latency_ms"],
               "int8_accuracy": state["original"]["int8_accuracy"]}]
    for it in state["iterations"]:
        for p in it["proposals"]:
            points.append({"label": f"it{it['iteration']}/{p['group']}:{p['width_to']}", "latency_ms": p["measured_ms"],
                           "int8_accuracy": p["int8_accuracy"], "chosen": p["group"] == it["chosen"]})
    if "final" in state:
        points.append({"label": "final", "latency_ms": state["final"]["latency_ms"],
                       "int8_accuracy": state["final"]["int8_accuracy"]})
    return points


def plot(state: dict, path: Path) -> Path:
    """Accuracy vs measured latency of everything evaluated, both fronts, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    points = search_points(state)
    front = pareto_front(points)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.scatter([p["latency_ms"] for p in points], [100 * p["int8_accuracy"] for p in points], s=12, c="0.7",
               label="proposals evaluated")
    ax.plot([p["latency_ms"] for p in front], [100 * p["int8_accuracy"] for p in front], "o-", c="tab:blue",
            label="search: Pareto front")
    baseline = sorted(state.get("baseline", []), key=lambda b: b["latency_ms"])
    if baseline:
        ax.plot([b["latency_ms"] for b in baseline], [100 * b["int8_accuracy"] for b in baseline], "s--",
                c="tab:orange", label="uniform width multipliers")
        for b in baseline:
            ax.annotate(f"{b['width']:g}x", (b["latency_ms"], 100 * b["int8_accuracy"]), fontsize=8,
                        textcoords="offset points", xytext=(4, -10))
    if "final" in state:
        f = state["final"]
        ax.plot([f["latency_ms"]], [100 * f["int8_accuracy"]], "*", ms=14, c="tab:red", label="chosen (fine-tuned)")
    ax.axvline(state["budget_ms"], ls=":", c="tab:red", lw=1, label="budget")
    ax.set_xlabel(f"measured int8 latency on {state['device']} (ms, median)")
    ax.set_ylabel("converted int8 accuracy (%)")
    return save_figure(fig, ax, path)


def save_figure(fig, ax, path: Path) -> Path:
    """Grid, legend and layout of an accuracy plot, written atomically as a PNG; the figure is closed."""
    import matplotlib.pyplot as plt

    from edgeloop import _io

    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    return _io.write_bytes(path, png.getvalue())
