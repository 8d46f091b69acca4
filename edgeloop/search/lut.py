"""NetAdapt's per-layer latency look-up table, built once from the device's op profiling.

NetAdapt measures every layer alone at sampled numbers of input and output channels and
estimates a network's latency as the sum of its layers' entries. Here the samples come
from the device's op profiling (every op of a converted model timed alone): the original
model is narrowed on a K × K design — every prunable group at one of K width fractions,
neighbouring groups at every pair of them — so each layer is profiled at K × K (input,
output) channel pairs in K² models, whatever the depth. Ops are tied to their Keras layer
by the converter's tensor names.

Each op is filed under the Keras layer that owns its weights (a convolution with its batch
norm and activation fused in belongs to the convolution, at its input and output channels),
other ops under the layer their output is named after. An op profiled alone pays the
interpreter's per-invoke cost once, which the whole model pays once in all: the table
measures that cost (a model of one tiny op, :func:`edgeloop.device.op_profile.tiny_model`)
and keeps each op's time less it. An estimate is that per-invoke cost, plus the ops of the
original model no layer owns (input quantization, the final softmax: the same at any width),
plus the sum of the layers' entries at the candidate's channels; nothing is borrowed from the
original's measurement, so the estimate shrinks with the model. Between sampled channel counts
entries are interpolated bilinearly (exact for a cost linear in input × output channels, as a
convolution's MACs).

What a table of single ops cannot see: an op timed alone keeps its weights in the CPU's
caches from one invoke to the next, while in the whole model the weights of every layer
compete for them. A model whose weights outgrow the cache (MobileNetV1 1.0, 3.2 MB in
int8) is slower than its ops' sum, and narrowing its big layers saves more than the table
says; the search then asks for more than it needs, and the report's estimate-vs-measured
line shows by how much. ``measure`` has no such blind spot.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgeloop.errors import EdgeloopError

DEFAULT_FRACTIONS = (1.0, 0.75, 0.5, 0.25)


def layer_channels(model) -> dict[str, tuple[int, int]]:
    """``{layer: (input channels, output channels)}`` for every layer of a Keras model."""
    out = {}
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        shape_in = layer.input_shape[0] if isinstance(layer.input_shape, list) else layer.input_shape
        shape_out = layer.output_shape
        if isinstance(shape_out, list):
            continue
        out[layer.name] = (int(shape_in[-1] or 0), int(shape_out[-1] or 0))
    return out


def design(groups: int, fractions: tuple[float, ...]) -> list[list[float]]:
    """Width fractions per group, one row per profiled model: neighbours see every pair.

    Even groups take the row's first fraction and odd groups its second, over every
    ordered pair, so for any two consecutive groups both (a, b) and (b, a) occur.
    """
    return [[(a if g % 2 == 0 else b) for g in range(groups)] for a, b in itertools.product(fractions, repeat=2)]


@dataclass
class LookupTable:
    """Per-layer latency samples: ``entries[layer][(in, out)] = ms``.

    Attributes:
        entries: sampled latencies of each layer's ops (per-invoke cost taken out).
        original_ms: the original model's measured latency (kept to report the estimate's error).
        original_sum_ms: the table's estimate of the original model.
        profiled_models: how many models were op-profiled to build it.
        invoke_ms: the interpreter's measured per-invoke cost (``None``: a table kept by an
            older edgeloop, whose estimates are anchored on the original's measurement).
        fixed_ms: the original's ops that no layer owns, per-invoke cost taken out.
    """

    entries: dict[str, dict[tuple[int, int], float]] = field(default_factory=dict)
    original_ms: float = 0.0
    original_sum_ms: float = 0.0
    profiled_models: int = 0
    invoke_ms: float | None = None
    fixed_ms: float = 0.0

    def add(self, model, rows: list[dict], original: bool = False) -> None:
        """Record one profiled model: each op's median, less the per-invoke cost, under its
        layer at the layer's channels (and, for the original, what no layer owns)."""
        channels = layer_channels(model)
        per_layer: dict[str, float] = {}
        fixed = 0.0
        for row in rows:
            if row.get("median_ms") is None:
                continue
            ms = max(row["median_ms"] - (self.invoke_ms or 0.0), 0.0)
            layer = row.get("layer")
            if layer in channels:
                per_layer[layer] = per_layer.get(layer, 0.0) + ms
            else:
                fixed += ms
        for layer, ms in per_layer.items():
            self.entries.setdefault(layer, {})[channels[layer]] = ms
        if original:
            self.fixed_ms = fixed
        self.profiled_models += 1

    def layer_ms(self, layer: str, in_ch: int, out_ch: int) -> float:
        """A layer's latency at ``(in_ch, out_ch)``, bilinear between sampled points."""
        samples = self.entries.get(layer)
        if not samples:
            return 0.0  # a layer no op was tied to (Flatten folded away, Dropout …) costs nothing
        ins = sorted({i for i, _ in samples})
        outs = sorted({o for _, o in samples})
        return _bilinear(samples, ins, outs, in_ch, out_ch)

    def sum_ms(self, model) -> float:
        """Σ of the model's layers' entries."""
        return sum(self.layer_ms(name, i, o) for name, (i, o) in layer_channels(model).items())

    def estimate(self, model) -> float:
        """Per-invoke cost + the ops no layer owns + Σ of the model's layers' entries."""
        if self.invoke_ms is None:  # an older table: the original's measurement plus the change
            return self.original_ms + self.sum_ms(model) - self.original_sum_ms
        return self.invoke_ms + self.fixed_ms + self.sum_ms(model)

    def to_dict(self) -> dict:
        """Plain data (``search.json`` keeps it, so a resumed search does not build it again)."""
        return {"original_ms": self.original_ms, "original_sum_ms": self.original_sum_ms,
                "profiled_models": self.profiled_models, "invoke_ms": self.invoke_ms, "fixed_ms": self.fixed_ms,
                "entries": {k: [[i, o, ms] for (i, o), ms in v.items()] for k, v in self.entries.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "LookupTable":
        """The inverse of :meth:`to_dict`."""
        entries = {k: {(int(i), int(o)): float(ms) for i, o, ms in v} for k, v in d["entries"].items()}
        return cls(entries, d["original_ms"], d["original_sum_ms"], d["profiled_models"], d.get("invoke_ms"),
                   d.get("fixed_ms", 0.0))


def _interp(xs: list[int], x: float) -> tuple[int, int, float]:
    """Neighbouring sample indices around ``x`` and the weight of the upper one (clamped)."""
    if x <= xs[0]:
        return 0, 0, 0.0
    if x >= xs[-1]:
        return len(xs) - 1, len(xs) - 1, 0.0
    hi = int(np.searchsorted(xs, x))
    lo = hi - 1
    return lo, hi, (x - xs[lo]) / (xs[hi] - xs[lo])


def _bilinear(samples: dict, ins: list[int], outs: list[int], i: float, o: float) -> float:
    i0, i1, wi = _interp(ins, i)
    o0, o1, wo = _interp(outs, o)
    corners = [(ins[a], outs[b]) for a in (i0, i1) for b in (o0, o1)]
    if all(c in samples for c in corners):
        v00, v01, v10, v11 = (samples[c] for c in corners)
        return (1 - wi) * ((1 - wo) * v00 + wo * v01) + wi * ((1 - wo) * v10 + wo * v11)
    # The layer was not sampled on a full grid (its channels follow one group only, as a
    # depthwise conv's): interpolate along the diagonal of the points it has.
    points = sorted(samples.items(), key=lambda kv: kv[0][0] * kv[0][1])
    key = i * o
    xs = [p[0][0] * p[0][1] for p in points]
    lo, hi, w = _interp(xs, key)
    return (1 - w) * points[lo][1] + w * points[hi][1]


def build(model, original_ms: float, profile: Callable[[object], list[dict]],
          fractions: tuple[float, ...] = DEFAULT_FRACTIONS, invoke_ms: float = 0.0) -> LookupTable:
    """Profile the design's narrowed copies of ``model`` and tabulate every layer.

    Args:
        model: the original Keras model.
        original_ms: its measured latency on the device.
        profile: converts a Keras model and op-profiles it on the device (rows with the
            op's Keras ``layer`` and ``median_ms``).
        fractions: the sampled width fractions (1.0 must be one of them).
        invoke_ms: the interpreter's per-invoke cost on the device (a model of one tiny op, measured).
    """
    from edgeloop.search.proposals import narrowed, prunable_groups

    if 1.0 not in fractions:
        raise EdgeloopError("the look-up table's fractions must include 1.0 (the original widths)")
    table = LookupTable(original_ms=original_ms, invoke_ms=invoke_ms)
    groups = prunable_groups(model)
    for row in design(len(groups), tuple(fractions)):
        original = all(f == 1.0 for f in row)
        variant = model if original else narrowed(model, row)
        table.add(variant, profile(variant), original=original)
    table.original_sum_ms = table.estimate(model)
    return table
