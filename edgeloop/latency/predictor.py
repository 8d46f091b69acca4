"""A latency predictor built from the runtime's kernels: one regressor per kind of kernel.

A model's latency is predicted as the interpreter's per-invoke cost plus the sum of its
kernels' times (:mod:`edgeloop.latency.kernels`), corrected by a model-level calibration
fitted on whole-model measurements (an op timed alone has the caches to itself; in a model
it shares them and its input arrives from the op before).

Each kind of kernel has two stages, both scikit-learn:

1. a linear cost with non-negative coefficients on what the kernel asks of the CPU —
   MACs (as computed and as the vector tiles pad them), bytes read, bytes written, weight
   bytes, kernel taps and a fixed dispatch cost
   (``LinearRegression(positive=True)``, weighted for relative error): it extrapolates
   sensibly to kernels larger than any it was fitted on;
2. a random forest on the log of the measured time over that linear cost, given every
   feature (channels, spatial size, kernel size, stride, cache fit …): the staircases of a
   CPU's vector tiling and caches, which no linear cost has. Its output is clipped to the
   range of ratios it saw, so it never runs away from the first stage.

An op that shares a kind but not a cost (a max pool and an average pool; a concatenation and
a reshape) gets regressors of its own once the profiles hold enough of it; rarer ops use
their kind's.

Kernel times come from op profiling (each op timed alone, less the per-invoke cost each
single-op model pays); whole-model medians fit the calibration. A new device needs only
the calibration to start: :meth:`KernelPredictor.recalibrated` refits it on a few of that
device's whole-model measurements (chosen by :mod:`edgeloop.latency.sampling`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.latency.kernels import CONV, DEPTHWISE, ELEMENTWISE, FULLY_CONNECTED, KINDS, Kernel

# The features of the first stage, in the order of its coefficients.
LINEAR = ("macs", "macs_padded", "bytes_in", "bytes_out", "bytes_weights", "taps")
# Kernels with the arithmetic; the calibration scales them apart from the rest.
COMPUTE = (CONV, DEPTHWISE, FULLY_CONNECTED)
MIN_FOREST_SAMPLES = 12
# Profiled kernels of one op it takes for that op to get regressors of its own.
MIN_OP_SAMPLES = 12
# Whole models it takes to fit a scale per kind of kernel (inside a model against alone), and
# models a kind must be present in to get one.
MIN_KIND_SCALE_MODELS = 40
MIN_KIND_SCALE_PRESENT = 8


def _linear_x(features: Sequence[dict]) -> np.ndarray:
    # Columns in ms-sized units (1 MMAC, 1 MB, 1 M taps), so the coefficients are of similar size.
    return np.array([[f.get(name, 0.0) / 1e6 for name in LINEAR] for f in features], dtype=np.float64)


def _forest_x(features: Sequence[dict], names: Sequence[str]) -> np.ndarray:
    return np.array([[np.log1p(f.get(n, 0.0)) if n not in ("cache_fit",) else f.get(n, 0.0) for n in names]
                     for f in features], dtype=np.float64)


@dataclass
class KindModel:
    """The two stages for one kind of kernel."""

    intercept: float
    coefficients: np.ndarray
    forest: object | None = None
    names: tuple[str, ...] = ()
    clip: tuple[float, float] = (0.0, 0.0)
    samples: int = 0

    @classmethod
    def fit(cls, features: Sequence[dict], times_ms: Sequence[float], seed: int = 0) -> "KindModel":
        """Fit both stages on kernels of one kind and their measured times."""
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.linear_model import LinearRegression

        y = np.maximum(np.asarray(times_ms, dtype=np.float64), 1e-6)
        x = _linear_x(features)
        linear = LinearRegression(positive=True).fit(x, y, sample_weight=1.0 / y**2)
        intercept = max(float(linear.intercept_), 0.0)
        model = cls(intercept, np.asarray(linear.coef_, dtype=np.float64), samples=len(y))
        if len(y) >= MIN_FOREST_SAMPLES:
            names = tuple(sorted(features[0]))
            ratio = np.log(y / np.maximum(model.linear(features), 1e-6))
            forest = RandomForestRegressor(n_estimators=60, min_samples_leaf=2, random_state=seed, n_jobs=1)
            model.forest, model.names = forest.fit(_forest_x(features, names), ratio), names
            model.clip = (float(ratio.min()), float(ratio.max()))
        return model

    def linear(self, features: Sequence[dict]) -> np.ndarray:
        """The first stage's times in ms."""
        return self.intercept + _linear_x(features) @ self.coefficients

    def predict(self, features: Sequence[dict]) -> np.ndarray:
        """Both stages' times in ms."""
        base = np.maximum(self.linear(features), 1e-6)
        if self.forest is None:
            return base
        ratio = np.clip(self.forest.predict(_forest_x(features, self.names)), *self.clip)
        return base * np.exp(ratio)


@dataclass
class KernelPredictor:
    """Per-invoke cost + Σ kernels, calibrated on whole models.

    Attributes:
        invoke_ms: the interpreter's per-invoke cost.
        kinds: a :class:`KindModel` per kind of kernel seen in the profiles, and per op
            (``MAX_POOL_2D`` …) profiled at least :data:`MIN_OP_SAMPLES` times.
        calibration: ``[intercept, scale of compute kernels, scale of the rest]`` (ms, -, -).
        kernel_samples: kernels the regressors were fitted on.
        model_samples: whole-model measurements the calibration was fitted on.
        kind_scales: per kind of kernel, how its time inside a model compares with its time
            alone (fitted on the profiled device's whole models when there are at least
            :data:`MIN_KIND_SCALE_MODELS`; a kind missing here counts 1). A new device's
            calibration is fitted on top of them.
    """

    invoke_ms: float
    kinds: dict[str, KindModel]
    calibration: list[float] = field(default_factory=lambda: [0.0, 1.0, 1.0])
    kernel_samples: int = 0
    model_samples: int = 0
    kind_scales: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, profiles: Sequence[tuple[list[Kernel], list[dict]]], invoke_ms: float,
            models: Sequence[tuple[list[Kernel], float]] = (), seed: int = 0) -> "KernelPredictor":
        """Fit on op-profiled models, then calibrate on whole-model measurements.

        Args:
            profiles: ``(kernels, op profiling rows)`` of each profiled model (rows with
                ``index`` and ``median_ms``, as the device's op profiling reports them).
            invoke_ms: the per-invoke cost each single-op timing includes.
            models: ``(kernels, median ms)`` of whole models measured on the same device.
            seed: seeds the forests.

        Raises:
            EdgeloopError: no profiled kernel to learn from.
        """
        by_kind: dict[str, tuple[list[dict], list[float]]] = {}
        for kernels, rows in profiles:
            times = {r["index"]: r["median_ms"] for r in rows if r.get("median_ms") is not None}
            for k in kernels:
                # A kernel costs what its main op does: the ops fused into it (a clamp, a static
                # pad, a swish's MUL) cost next to nothing inside the model, though each costs
                # something timed alone.
                if k.ops[0] in times:
                    ms = max(times[k.ops[0]] - invoke_ms, 0.0)
                    for key in (k.kind, k.op):
                        by_kind.setdefault(key, ([], []))[0].append(k.features)
                        by_kind[key][1].append(ms)
        if not by_kind:
            raise EdgeloopError("a kernel latency predictor needs at least one op-profiled model of the device")
        kinds = {key: KindModel.fit(f, t, seed) for key, (f, t) in by_kind.items()
                 if key in KINDS or len(t) >= MIN_OP_SAMPLES}
        predictor = cls(invoke_ms, kinds, kernel_samples=sum(len(t) for key, (_, t) in by_kind.items() if key in KINDS))
        if len(models) >= MIN_KIND_SCALE_MODELS:
            predictor = predictor.with_kind_scales(models)
        return predictor.recalibrated(models) if models else predictor

    def kind_sums(self, kernels: Sequence[Kernel]) -> dict[str, float]:
        """Σ predicted time (alone) of the kernels of each kind."""
        sums: dict[str, float] = {}
        groups: dict[tuple[str, str], list[dict]] = {}
        for k in kernels:
            groups.setdefault((k.op if k.op in self.kinds else k.kind, k.kind), []).append(k.features)
        for (key, kind), group in groups.items():
            sums[kind] = sums.get(kind, 0.0) + float(self.model_for(key).predict(group).sum())
        return sums

    def parts(self, kernels: Sequence[Kernel]) -> tuple[float, float]:
        """Σ predicted time of the compute kernels and of the rest, each kind scaled by its
        :attr:`kind_scales` (before calibration)."""
        sums = {True: 0.0, False: 0.0}
        for kind, ms in self.kind_sums(kernels).items():
            sums[kind in COMPUTE] += self.kind_scales.get(kind, 1.0) * ms
        return sums[True], sums[False]

    def with_kind_scales(self, models: Sequence[tuple[list[Kernel], float]]) -> "KernelPredictor":
        """A copy whose :attr:`kind_scales` are fitted on ``(kernels, median ms)`` of whole models
        (relative error, non-negative; a kind too rare in them to fit keeps 1)."""
        from scipy.optimize import nnls

        sums = [self.kind_sums(k) for k, _ in models]
        y = np.array([ms for _, ms in models], dtype=np.float64) - self.invoke_ms
        w = 1.0 / np.maximum(y + self.invoke_ms, 1e-9)
        # A kind present in too few models, or never more than a sliver of one, is not fitted.
        kinds = [kind for kind in KINDS if sum(1 for s, t in zip(sums, y) if s.get(kind, 0.0) > 0.02 * max(t, 1e-9))
                 >= MIN_KIND_SCALE_PRESENT]
        if not kinds:
            return self
        fixed = np.array([sum(v for kind, v in s.items() if kind not in kinds) for s in sums])
        x = np.column_stack([np.ones(len(y))] + [[s.get(kind, 0.0) for s in sums] for kind in kinds])
        coef, _ = nnls(x * w[:, None], (y - fixed) * w)
        scales = {kind: float(c) for kind, c in zip(kinds, coef[1:])}
        return KernelPredictor(self.invoke_ms, self.kinds, self.calibration, self.kernel_samples, self.model_samples,
                               scales)

    def model_for(self, kind: str) -> KindModel:
        """The regressor of ``kind``; for a kind no profile held, the nearest kind's: a convolution's
        for arithmetic, an element-wise op's (bytes in, bytes out) for the rest."""
        if kind in self.kinds:
            return self.kinds[kind]
        for near in ((CONV, DEPTHWISE, FULLY_CONNECTED) if kind in COMPUTE else (ELEMENTWISE,)):
            if near in self.kinds:
                return self.kinds[near]
        return min(self.kinds.values(), key=lambda m: m.intercept + m.coefficients.sum())

    def raw(self, kernels: Sequence[Kernel]) -> float:
        """Per-invoke cost + Σ kernels, uncalibrated (ms)."""
        return self.invoke_ms + sum(self.parts(kernels))

    def predict(self, kernels: Sequence[Kernel]) -> float:
        """Predicted latency of a model from its kernels (ms)."""
        compute, rest = self.parts(kernels)
        c0, a, b = self.calibration
        return self.invoke_ms + c0 + a * compute + b * rest

    def recalibrated(self, models: Sequence[tuple[list[Kernel], float]]) -> "KernelPredictor":
        """A copy whose calibration is fitted on ``(kernels, median ms)`` of whole models.

        With fewer than three models only one scale is fitted (all kernels alike), with none
        the calibration is left as it is. Every coefficient stays non-negative (a cost).
        """
        from scipy.optimize import nnls

        if not models:
            return self
        parts = np.array([self.parts(k) for k, _ in models])
        y = np.array([ms for _, ms in models], dtype=np.float64) - self.invoke_ms
        w = 1.0 / np.maximum(y + self.invoke_ms, 1e-9)  # relative error is what matters
        if len(models) >= 3:
            x = np.column_stack([np.ones(len(y)), parts])
            coef, _ = nnls(x * w[:, None], y * w)
            calibration = [float(c) for c in coef]
        else:
            scale, _ = nnls((parts.sum(axis=1) * w)[:, None], y * w)
            calibration = [0.0, float(scale[0]), float(scale[0])]
        return KernelPredictor(self.invoke_ms, self.kinds, calibration, self.kernel_samples, len(models),
                               self.kind_scales)

    def describe(self) -> dict:
        """What the report says of it."""
        return {"invoke_ms": self.invoke_ms, "calibration": self.calibration, "kind_scales": self.kind_scales,
                "kernel_samples": self.kernel_samples,
                "model_samples": self.model_samples,
                "kinds": {k: {"samples": m.samples, "forest": m.forest is not None} for k, m in sorted(self.kinds.items())
                          if k in KINDS},
                "ops": {k: {"samples": m.samples, "forest": m.forest is not None} for k, m in sorted(self.kinds.items())
                        if k not in KINDS}}
