"""``sensitivity``: how much accuracy each layer loses when pruned alone.

Each prunable layer's kernel is pruned by magnitude, one layer at a time and without
fine-tuning, at each of a list of sparsities; the validation accuracy at each point makes
the layer's curve. From the curves, every layer gets the highest sparsity whose drop stays
within ``budget`` points, and a later ``prune`` step with ``from_sensitivity: true`` uses
those per-layer targets. The curves go into the report as a table and an SVG plot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeloop import _io
from edgeloop.pipeline._sparsity import is_prunable, prunable_indices
from edgeloop.pipeline._training import keras_accuracy
from edgeloop.pipeline.base import Context, Step, register_step

PLOT_FILE = "sensitivity.svg"


def magnitude_mask(kernel: np.ndarray, sparsity: float) -> np.ndarray:
    """Kernel with its ``sparsity`` fraction of smallest-magnitude weights set to zero."""
    k = int(round(kernel.size * sparsity))
    if k == 0:
        return kernel.copy()
    order = np.argsort(np.abs(kernel), axis=None, kind="stable")
    out = kernel.copy().reshape(-1)
    out[order[:k]] = 0
    return out.reshape(kernel.shape)


def choose_sparsities(curves: dict[str, dict[float, float]], baseline: float, budget_points: float) -> dict[str, float]:
    """Per layer, the highest sparsity whose accuracy is within ``budget_points`` of ``baseline``."""
    chosen = {}
    for layer, curve in curves.items():
        ok = [s for s, acc in sorted(curve.items()) if (baseline - acc) * 100 <= budget_points + 1e-9]
        if ok:
            chosen[layer] = max(ok)
    return chosen


def svg_plot(curves: dict[str, dict[float, float]], baseline: float) -> str:
    """Accuracy against sparsity, one polyline per layer, as a standalone SVG."""
    w, h, pad = 560, 340, 50
    all_acc = [a for c in curves.values() for a in c.values()] + [baseline]
    lo = min(all_acc)
    lo = max(0.0, lo - 0.02)
    hi = max(all_acc) + 0.005

    def xy(s: float, a: float) -> tuple[float, float]:
        return pad + s * (w - 2 * pad), h - pad - (a - lo) / (hi - lo) * (h - 2 * pad)

    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>',
             f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">sparsity of the one pruned layer</text>',
             f'<text x="12" y="{pad - 15}">validation accuracy ({lo:.0%} to {hi:.0%})</text>']
    bx0, by = xy(0, baseline)
    parts.append(f'<line x1="{bx0}" y1="{by}" x2="{w - pad}" y2="{by}" stroke="#aaa" stroke-dasharray="4"/>')
    for i, (layer, curve) in enumerate(curves.items()):
        c = colours[i % len(colours)]
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(s, a) for s, a in sorted(curve.items())))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
        parts.append(f'<text x="{w - pad + 4}" y="{pad + 14 * i}" fill="{c}">{layer}</text>')
    for s in (0.0, 0.25, 0.5, 0.75, 1.0):
        x, _ = xy(s, lo)
        parts.append(f'<text x="{x}" y="{h - pad + 14}" text-anchor="middle">{s:.0%}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


@dataclass
class SensitivityOptions:
    """Options of ``sensitivity``.

    Attributes:
        sparsities: the sparsities each layer is tried at.
        budget: accuracy drop (points) a layer's chosen sparsity may cost on its own.
    """

    sparsities: list[float] = field(default_factory=lambda: [0.3, 0.5, 0.7, 0.8, 0.9, 0.95])
    budget: float = 1.0

    def __post_init__(self) -> None:
        if not self.sparsities or not all(0.0 < s < 1.0 for s in self.sparsities):
            raise ValueError(f"sparsities must be numbers between 0 and 1, got {self.sparsities}")
        if self.budget < 0:
            raise ValueError(f"budget must be >= 0, got {self.budget}")


@register_step("sensitivity", SensitivityOptions)
class Sensitivity(Step):
    """Prune each layer alone at several sparsities and choose per-layer targets."""

    def apply(self, model, ctx: Context):
        o = self.options
        x, y = ctx.data.x_val, ctx.data.y_val
        baseline = keras_accuracy(model, x, y)
        layers = [layer for layer in model.layers if is_prunable(layer)]
        curves: dict[str, dict[float, float]] = {}
        with ctx.progress("sensitivity", len(layers) * len(o.sparsities)) as advance:
            for layer in layers:
                weights = layer.get_weights()
                kernels = prunable_indices(layer)
                curves[layer.name] = {}
                for s in sorted(o.sparsities):
                    layer.set_weights([magnitude_mask(w, s) if i in kernels else w for i, w in enumerate(weights)])
                    curves[layer.name][s] = keras_accuracy(model, x, y)
                    advance(1)
                layer.set_weights(weights)
        chosen = choose_sparsities(curves, baseline, o.budget)
        _io.write_text(ctx.path(PLOT_FILE), svg_plot(curves, baseline))
        ctx.record(baseline_accuracy=baseline, curves={k: {str(s): a for s, a in v.items()} for k, v in curves.items()},
                   chosen=chosen, budget=o.budget, plot=PLOT_FILE)
        ctx.state.sensitivity = chosen
        return model
