"""Activation ranges chosen from calibration data: min/max, percentile, MSE-optimal, KL.

Min/max keeps every calibration value representable, so one outlier stretches the step
of the whole tensor; the others clip the tails to shrink the step:

- ``percentile``: the ``percentile``-th value (and the mirror one for signed tensors);
- ``mse``: the clipping that minimises the expected squared error of 8-bit quantization,
  rounding noise ``step**2 / 12`` inside the range plus the clipped part outside, on the
  tensor's histogram;
- ``kl``: TensorRT's entropy calibration: the threshold whose quantized distribution is
  closest (Kullback-Leibler) to the clipped one. Measured in the ``fidelity`` benchmark it
  clipped far too much on every model there (62 to 84 points lost): offered because users
  ask for it, not recommended.

The LiteRT quantizer's own calibration (``ema``) keeps a moving average of each sample's
min and max, not the extremes over the calibration set: on models with unbounded
activations (plain ReLU) that clips, and its files scored 10 points under TensorFlow's
converter on such a model. So ``minmax`` here is the converter's: the extremes over all
samples, measured in a pass of our own, and the histograms the other methods read span
those extremes. :func:`range_chooser` replaces the quantizer's ``{tensor: {"min", "max"}}``
with the chosen ranges. The graph's input and outputs keep min/max: clipping the input
loses information the model never sees, clipping the logits changes the answer.
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np

from edgeloop.errors import EdgeloopError

METHODS = ("minmax", "percentile", "mse", "kl", "ema")
BINS = 2048


def _centers(lo: float, hi: float, bins: int) -> np.ndarray:
    edges = np.linspace(lo, hi, bins + 1)
    return (edges[:-1] + edges[1:]) / 2


def percentile_range(hist: np.ndarray, lo: float, hi: float, percentile: float) -> tuple[float, float]:
    """Clip to the ``percentile``-th value above (and ``100 - percentile``-th below if signed)."""
    cdf = np.cumsum(hist) / max(hist.sum(), 1)
    edges = np.linspace(lo, hi, len(hist) + 1)
    top = float(edges[min(np.searchsorted(cdf, percentile / 100.0) + 1, len(hist))])
    bottom = float(edges[np.searchsorted(cdf, 1.0 - percentile / 100.0)]) if lo < 0 else lo
    return min(bottom, 0.0), max(top, 0.0)


def mse_range(hist: np.ndarray, lo: float, hi: float, bits: int = 8, steps: int = 100) -> tuple[float, float]:
    """The clipping (a shared fraction of both ends) with the least expected squared error."""
    c = _centers(lo, hi, len(hist))
    n = hist.astype(np.float64)
    best, best_err = (lo, hi), np.inf
    for frac in np.linspace(1.0 / steps, 1.0, steps):
        a, b = min(lo * frac, 0.0), max(hi * frac, 0.0)
        step = (b - a) / (2**bits - 1)
        inside = (c >= a) & (c <= b)
        err = np.sum(n[inside]) * step**2 / 12 + np.sum(n[~inside] * (np.clip(c[~inside], a, b) - c[~inside]) ** 2)
        if err < best_err:
            best, best_err = (float(a), float(b)), err
    return best


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    q = np.where(q > 0, q, 1e-12)
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def kl_range(hist: np.ndarray, lo: float, hi: float, levels: int = 128) -> tuple[float, float]:
    """TensorRT's entropy calibration on the magnitude histogram: the threshold of least KL divergence.

    For each candidate threshold (bin ``i``), ``p`` is the histogram up to it with the mass
    beyond added to its last bin, ``q`` the same bins without that mass merged into
    ``levels`` groups and spread back evenly over each group's non-empty bins.
    """
    limit = max(abs(lo), abs(hi))
    mags = np.abs(_centers(lo, hi, len(hist)))
    h, _ = np.histogram(mags, bins=len(hist), range=(0.0, limit), weights=hist.astype(np.float64))
    if h.sum() == 0:
        return lo, hi
    best_i, best = len(h), np.inf
    for i in range(levels, len(h) + 1, max(1, len(h) // 256)):
        p = h[:i].copy()
        p[-1] += h[i:].sum()
        starts = np.linspace(0, i, levels + 1).astype(int)[:-1]
        sums = np.add.reduceat(h[:i], starts)
        nonzero = h[:i] > 0
        counts = np.add.reduceat(nonzero.astype(np.float64), starts)
        group = np.searchsorted(starts, np.arange(i), side="right") - 1
        q = np.where(nonzero, sums[group] / np.maximum(counts[group], 1), 0.0)
        d = _kl(p / p.sum(), q / max(q.sum(), 1e-12))
        if d < best:
            best, best_i = d, i
    threshold = float(best_i * limit / len(h))
    return (max(lo, -threshold) if lo < 0 else lo), min(hi, threshold)


def choose(hist: np.ndarray, lo: float, hi: float, method: str, percentile: float = 99.99) -> tuple[float, float]:
    """The range of one tensor by ``method`` from its histogram over ``[lo, hi]``."""
    if method in ("minmax", "ema") or hi <= lo or hist.sum() == 0:
        return lo, hi
    if method == "percentile":
        return percentile_range(hist, lo, hi, percentile)
    if method == "mse":
        return mse_range(hist, lo, hi)
    if method == "kl":
        return kl_range(hist, lo, hi)
    raise EdgeloopError(f"unknown calibration method {method!r}; methods: {', '.join(METHODS)}")


def range_chooser(method: str, percentile: float = 99.99) -> Callable[[bytes, dict, np.ndarray], dict] | None:
    """A ``ranges`` callback for :func:`edgeloop.quant.litert.quantize_tflite` (``None`` for ``ema``)."""
    if method not in METHODS:
        raise EdgeloopError(f"unknown calibration method {method!r}; methods: {', '.join(METHODS)}")
    if not 50.0 < percentile <= 100.0:
        raise EdgeloopError(f"percentile must be in (50, 100], got {percentile}")
    if method == "ema":
        return None

    def ranges(model: bytes, qsvs: dict, samples: np.ndarray) -> dict:
        from edgeloop.converters import read_model
        from edgeloop.quant.activations import extremes, histograms

        info = read_model(model)
        edges = {info.tensors[i].name for i in (*info.inputs, *info.outputs)}
        bounds = extremes(model, samples, [n for n, v in qsvs.items() if "min" in v])
        inner = {n: b for n, b in bounds.items() if n not in edges}
        hists = histograms(model, samples, inner, BINS) if method != "minmax" else {}
        out = copy.deepcopy(qsvs)
        for n, (lo, hi) in bounds.items():
            a, b = choose(hists[n], lo, hi, method, percentile) if n in hists else (lo, hi)
            out[n]["min"] = np.full_like(np.asarray(qsvs[n]["min"]), a)
            out[n]["max"] = np.full_like(np.asarray(qsvs[n]["max"]), b)
        return out

    return ranges
