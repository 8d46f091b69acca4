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
a reshape; an op XNNPACK takes and the same op run by LiteRT's builtin kernel) gets regressors
of its own once the profiles hold enough of it; rarer ops use their kind's.

Inside a model a kernel may also wait for its weights. Timed alone, an op's weights stay in the
core's cache from one run to the next; in a model every other op's weights pass through the
cache in between, so once the model's weights outgrow a cache level they come from the next
one (L3, then memory) at that level's speed. An op with much arithmetic per weight byte hides
this; one with little (a 1x1 convolution on a 1x1 or 2x2 map, a squeeze-excite's FCs) takes
as long as its weights take to stream (:class:`Streaming`, a roofline: the slower of the two).
Measured on a 1x1-map convolution of RegNetX-200MF (137 kB of weights): 0.84 µs alone, 1.2-1.9
µs inside the 2.3 MB model; VGG-16's 34 MB of weights stream from memory. Besides, every byte a
kernel finds evicted inside the model that it would find cached alone (an LRU simulation of
the model's run, :func:`~edgeloop.latency.kernels.detect`'s ``cold_l2`` / ``cold_l3``) costs
what the whole models say it does.

Kernel times come from op profiling (each op timed alone on the values it sees inside the
model, for each input the whole model is timed on, less the per-invoke cost each single-op
model pays: a kernel that branches on its data costs there what it does inside the model);
whole-model medians fit the per-kind scales, where the weights stream from and at what speed
(a grid over cache sizes and bandwidths, the best fit on the whole models), and the
calibration. A new device needs only the calibration to start:
:meth:`KernelPredictor.recalibrated` refits it on a few of that device's whole-model
measurements (chosen by :mod:`edgeloop.latency.sampling`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.latency.kernels import COLD_CACHES, CONV, DEPTHWISE, ELEMENTWISE, FULLY_CONNECTED, KINDS, Kernel

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
# Whole models that must spend a tenth of their time streaming weights for a calibration to
# scale that time apart.
MIN_STREAMED_MODELS = 2
# Whole models it takes to fit a cost per compute kernel in the calibration.
MIN_PER_KERNEL_MODELS = 5
# How far a kind's time inside a model may stray from its time alone (the fit is on sums over
# whole models: unbounded, a kind that seldom weighs much was once scaled to zero).
KIND_SCALE_BOUNDS = (0.5, 2.0)
# The grid the weight streaming is fitted over: where the weights stop fitting (bytes) and how
# fast they then stream (GB/s), one level for the last cache and one for memory.
STREAMING_GRID = {"cache_bytes": (0.5e6, 0.75e6, 1e6, 1.5e6, 2e6, 3e6, 4e6),
                  "last_cache_bytes": (4e6, 6e6, 8e6, 12e6, 16e6, 24e6, 32e6),
                  "cache_gbps": (40.0, 60.0, 90.0, 130.0, 180.0, 250.0),
                  "memory_gbps": (10.0, 15.0, 20.0, 30.0, 45.0, 70.0)}


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
            names = tuple(sorted(n for n in features[0] if n not in COLD_CACHES))  # a model's, not a kernel's
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


@dataclass(frozen=True)
class Streaming:
    """Where a model's weights come from while it runs, and how fast.

    A model whose weights (all of them, in bytes) fit ``cache_bytes`` keeps them in the core's
    cache; beyond it they stream from the last cache at ``cache_gbps``; beyond
    ``last_cache_bytes`` from memory at ``memory_gbps``. A kernel in the model takes at least
    its weights' streaming time.
    """

    cache_bytes: float
    last_cache_bytes: float
    cache_gbps: float
    memory_gbps: float

    def ms_per_byte(self, model_weight_bytes: float) -> float:
        """How long one byte of weights takes to arrive in a model of this many weight bytes."""
        if model_weight_bytes > self.last_cache_bytes:
            return 1e-6 / self.memory_gbps
        if model_weight_bytes > self.cache_bytes:
            return 1e-6 / self.cache_gbps
        return 0.0


def op_key(kernel: Kernel) -> str:
    """The regressor of a kernel's own op: its op's name (``MAX_POOL_2D``), or ``RELU (builtin)``
    for an op XNNPACK declines, which LiteRT's own kernel runs at a cost of its own."""
    return kernel.op if kernel.features.get("delegated", 1.0) else f"{kernel.op} (builtin)"


# The kind scale of every op XNNPACK declines, whatever its kind: LiteRT's builtin kernels run
# them between XNNPACK's partitions, and inside a model they cost more than timed alone (a
# builtin int8 ReLU branches per element; in a model other kernels crowd its branch history out).
BUILTIN = "builtin"


def scale_key(kernel: Kernel) -> str:
    """Which kind scale a kernel takes: its kind's, or :data:`BUILTIN`'s for an op XNNPACK declines."""
    return kernel.kind if kernel.features.get("delegated", 1.0) else BUILTIN


def _compute_kernels(kernels: Sequence[Kernel]) -> int:
    return sum(1 for k in kernels if k.kind in COMPUTE)


def _weights(kernels: Sequence[Kernel]) -> np.ndarray:
    return np.array([k.features.get("bytes_weights", 0.0) for k in kernels], dtype=np.float64)


@dataclass
class KernelPredictor:
    """Per-invoke cost + Σ kernels, calibrated on whole models.

    Attributes:
        invoke_ms: the interpreter's per-invoke cost.
        kinds: a :class:`KindModel` per kind of kernel seen in the profiles, and per op
            (``MAX_POOL_2D`` …) profiled at least :data:`MIN_OP_SAMPLES` times.
        calibration: ``[intercept, scale of compute kernels, scale of the rest, scale of the
            kernels held up by their weights, cost per compute kernel]`` (ms, -, -, -, ms).
        kernel_samples: kernels the regressors were fitted on.
        model_samples: whole-model measurements the calibration was fitted on.
        kind_scales: per kind of kernel, how its time inside a model compares with its time
            alone (fitted on the profiled device's whole models when there are at least
            :data:`MIN_KIND_SCALE_MODELS`; a kind missing here counts 1); the ops XNNPACK
            declines share one, :data:`BUILTIN`'s, whatever their kind. A new device's
            calibration is fitted on top of them.
        streaming: where the weights stream from inside a model (fitted with the kind scales;
            ``None``: the weights never hold a kernel up).
        cold_ms_per_byte: what a byte costs that a kernel finds no longer cached inside the
            model (per simulated cache, :data:`~edgeloop.latency.kernels.COLD_CACHES`; fitted
            with the kind scales).
    """

    invoke_ms: float
    kinds: dict[str, KindModel]
    calibration: list[float] = field(default_factory=lambda: [0.0, 1.0, 1.0, 1.0, 0.0])
    kernel_samples: int = 0
    model_samples: int = 0
    kind_scales: dict[str, float] = field(default_factory=dict)
    streaming: Streaming | None = None
    cold_ms_per_byte: dict[str, float] = field(default_factory=dict)

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
                    for key in (k.kind, op_key(k)):
                        by_kind.setdefault(key, ([], []))[0].append(k.features)
                        by_kind[key][1].append(ms)
        if not by_kind:
            raise EdgeloopError("a kernel latency predictor needs at least one op-profiled model of the device")
        kinds = {key: KindModel.fit(f, t, seed) for key, (f, t) in by_kind.items()
                 if key in KINDS or len(t) >= MIN_OP_SAMPLES}
        predictor = cls(invoke_ms, kinds, kernel_samples=sum(len(t) for key, (_, t) in by_kind.items() if key in KINDS))
        if len(models) >= MIN_KIND_SCALE_MODELS:
            predictor = predictor.with_context(models)
        return predictor.recalibrated(models) if models else predictor

    def alone(self, kernels: Sequence[Kernel]) -> np.ndarray:
        """Each kernel's predicted time alone (ms), in order."""
        out = np.zeros(len(kernels))
        groups: dict[str, list[int]] = {}
        for i, k in enumerate(kernels):
            key = op_key(k)
            groups.setdefault(key if key in self.kinds else k.kind, []).append(i)
        for key, members in groups.items():
            out[members] = self.model_for(key).predict([kernels[i].features for i in members])
        return out

    def parts(self, kernels: Sequence[Kernel]) -> tuple[float, float, float]:
        """Σ predicted time inside the model (before calibration) of the compute kernels, of the
        rest, and of the kernels held up by their weights: each kernel's time alone scaled by its
        kind's :attr:`kind_scales`, or its weights' streaming time (:attr:`streaming`) where that
        is longer (that kernel counts in the third sum)."""
        times = self.alone(kernels) * np.array([self.kind_scales.get(scale_key(k), 1.0) for k in kernels])
        held = np.zeros(len(kernels), dtype=bool)
        if self.streaming is not None:
            weights = _weights(kernels)
            roof = weights * self.streaming.ms_per_byte(weights.sum())
            held = roof > times
            times = np.where(held, roof, times)
        compute = np.array([k.kind in COMPUTE for k in kernels], dtype=bool)
        cold = sum(ms * sum(k.features.get(name, 0.0) for k in kernels) for name, ms in self.cold_ms_per_byte.items())
        return (float(times[compute & ~held].sum()), float(times[~compute & ~held].sum()),
                float(times[held].sum()) + cold)

    def with_context(self, models: Sequence[tuple[list[Kernel], float]]) -> "KernelPredictor":
        """A copy whose :attr:`kind_scales` and :attr:`streaming` are fitted on ``(kernels, median
        ms)`` of whole models: each point of :data:`STREAMING_GRID` (and no streaming) gets its
        kind scales fitted, and the one whose predictions put most models within ±10 % (then
        the smallest mean error) is kept. The fit is on relative error; a scale stays within
        :data:`KIND_SCALE_BOUNDS`, a kind too rare in the models to fit keeps 1."""
        from itertools import product

        flat = _Flat(self, models)
        if not flat.kinds:
            return self
        fit = flat.scales(None)
        best = (flat.score(None, *fit), None, fit)
        for point in product(*STREAMING_GRID.values()):
            streaming = Streaming(*point)
            if streaming.last_cache_bytes <= streaming.cache_bytes or streaming.memory_gbps >= streaming.cache_gbps:
                continue
            fit = flat.scales(streaming)
            score = flat.score(streaming, *fit)
            if score > best[0]:
                best = (score, streaming, fit)
        _, streaming, (scales, cold) = best
        return KernelPredictor(self.invoke_ms, self.kinds, self.calibration, self.kernel_samples, self.model_samples,
                               scales, streaming, cold)

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
        compute, rest, streamed = self.parts(kernels)
        c0, a, b, s, per_kernel = self.calibration
        ms = c0 + a * compute + b * rest + s * streamed + per_kernel * _compute_kernels(kernels)
        return self.invoke_ms + max(ms, 0.0)

    def recalibrated(self, models: Sequence[tuple[list[Kernel], float]]) -> "KernelPredictor":
        """A copy whose calibration is fitted on ``(kernels, median ms)`` of whole models.

        The intercept and three scales — compute kernels, the rest, kernels held up by their
        weights (a new device's memory is not its arithmetic) — when the models allow: the third
        is fitted only when at least :data:`MIN_STREAMED_MODELS` of them spend a tenth of their
        time streaming weights, else it follows the compute scale. With at least
        :data:`MIN_PER_KERNEL_MODELS` models, also a cost per compute kernel, of either sign: a
        device with more threads pays each kernel's dispatch and join, which a scale on time
        cannot express (small kernels do not speed up) — from 2 threads to 1 on this CPU it is
        about -0.6 µs per kernel. With fewer than three models only one scale is fitted (all
        kernels alike), with none the calibration is left as it is. Every other coefficient
        stays non-negative (a cost).
        """
        from scipy.optimize import lsq_linear, nnls

        if not models:
            return self
        parts = np.array([self.parts(k) for k, _ in models])
        y = np.array([ms for _, ms in models], dtype=np.float64) - self.invoke_ms
        w = 1.0 / np.maximum(y + self.invoke_ms, 1e-9)  # relative error is what matters
        if len(models) < 3:
            scale, _ = nnls((parts.sum(axis=1) * w)[:, None], y * w)
            calibration = [0.0] + [float(scale[0])] * 3 + [0.0]
        else:
            streams = int(np.sum(parts[:, 2] > 0.1 * np.maximum(y, 1e-9)))
            apart = len(models) >= 4 and streams >= MIN_STREAMED_MODELS
            x = np.column_stack([np.ones(len(y)), parts] if apart else
                                [np.ones(len(y)), parts[:, 0] + parts[:, 2], parts[:, 1]])
            per_kernel = len(models) >= MIN_PER_KERNEL_MODELS
            if per_kernel:
                x = np.column_stack([x, [_compute_kernels(k) for k, _ in models]])
            low = [0.0] * (x.shape[1] - per_kernel) + [-np.inf] * per_kernel
            coef = lsq_linear(x * w[:, None], y * w, bounds=(low, [np.inf] * x.shape[1])).x
            coef = [float(c) for c in coef] + ([] if per_kernel else [0.0])
            calibration = coef if apart else [coef[0], coef[1], coef[2], coef[1], coef[3]]
        return KernelPredictor(self.invoke_ms, self.kinds, calibration, self.kernel_samples, len(models),
                               self.kind_scales, self.streaming, self.cold_ms_per_byte)

    def describe(self) -> dict:
        """What the report says of it."""
        return {"invoke_ms": self.invoke_ms, "calibration": self.calibration, "kind_scales": self.kind_scales,
                "streaming": None if self.streaming is None else vars(self.streaming).copy(),
                "cold_ms_per_byte": self.cold_ms_per_byte,
                "kernel_samples": self.kernel_samples,
                "model_samples": self.model_samples,
                "kinds": {k: {"samples": m.samples, "forest": m.forest is not None} for k, m in sorted(self.kinds.items())
                          if k in KINDS},
                "ops": {k: {"samples": m.samples, "forest": m.forest is not None} for k, m in sorted(self.kinds.items())
                        if k not in KINDS}}


class _Flat:
    """Whole models' kernels as flat arrays, to fit the kind scales and the streaming fast."""

    def __init__(self, predictor: KernelPredictor, models: Sequence[tuple[list[Kernel], float]]):
        self.invoke_ms = predictor.invoke_ms
        self.y = np.array([ms for _, ms in models], dtype=np.float64)
        self.model = np.concatenate([np.full(len(k), i) for i, (k, _) in enumerate(models)]).astype(int)
        self.alone = np.concatenate([predictor.alone(k) for k, _ in models])
        self.weights = np.concatenate([_weights(k) for k, _ in models])
        self.model_weights = np.bincount(self.model, self.weights, minlength=len(models))
        kind = np.array([scale_key(k) for kernels, _ in models for k in kernels])
        # A kind present in too few models, or never more than a sliver of one, is not fitted.
        per_model = {name: np.bincount(self.model, self.alone * (kind == name), minlength=len(models))
                     for name in (*KINDS, BUILTIN)}
        share = [name for name in (*KINDS, BUILTIN)
                 if np.sum(per_model[name] > 0.02 * np.maximum(self.y - self.invoke_ms, 1e-9)) >= MIN_KIND_SCALE_PRESENT]
        self.kinds = share
        self.column = np.array([share.index(n) if n in share else -1 for n in kind])
        self.cold = np.array([[sum(k.features.get(name, 0.0) for k in kernels) for name in COLD_CACHES]
                              for kernels, _ in models], dtype=np.float64).reshape(len(models), len(COLD_CACHES))
        # What a fit found, by what it was fitted on (the kernels held up and their streaming
        # times): most points of the streaming grid hold up the same kernels, or none.
        self._fits: dict[bytes, np.ndarray] = {}

    def _own(self, scale: np.ndarray) -> np.ndarray:
        """Each kernel's kind scale (1 for a kind not fitted)."""
        return np.where(self.column >= 0, scale[np.maximum(self.column, 0)], 1.0)

    def _roof(self, streaming: Streaming | None) -> np.ndarray:
        if streaming is None:
            return np.zeros_like(self.alone)
        per = np.array([streaming.ms_per_byte(w) for w in self.model_weights])
        return self.weights * per[self.model]

    def scales(self, streaming: Streaming | None) -> tuple[dict[str, float], dict[str, float]]:
        """Kind scales and what a cold byte costs (per simulated cache), fitted with kernels held
        up by their weights taken at their streaming time (which kernels those are depends on
        the scales: a few rounds settle it)."""
        from scipy.optimize import lsq_linear

        roof = self._roof(streaming)
        scale = np.ones(len(self.kinds))
        n, w = len(self.y), 1.0 / np.maximum(self.y, 1e-9)
        k = len(self.kinds)
        for _ in range(3):
            own = self._own(scale)
            held = roof > own * self.alone
            key = held.tobytes() + roof[held].tobytes()
            if key not in self._fits:
                # Held-up kernels at their streaming time, kinds not fitted at their time alone.
                fixed = np.bincount(self.model, np.where(held, roof, np.where(self.column < 0, self.alone, 0.0)),
                                    minlength=n)
                x = np.zeros((n, 1 + k + self.cold.shape[1]))
                x[:, 0] = 1.0
                free = ~held & (self.column >= 0)
                np.add.at(x, (self.model[free], 1 + self.column[free]), self.alone[free])
                x[:, 1 + k:] = self.cold
                low, high = KIND_SCALE_BOUNDS
                self._fits[key] = lsq_linear(x * w[:, None], (self.y - self.invoke_ms - fixed) * w,
                                             bounds=([0.0] + [low] * k + [0.0] * self.cold.shape[1],
                                                     [np.inf] + [high] * k + [np.inf] * self.cold.shape[1])).x
            fitted = self._fits[key]
            scale = fitted[1:1 + k]
        return ({name: float(v) for name, v in zip(self.kinds, scale)},
                {name: float(v) for name, v in zip(COLD_CACHES, fitted[1 + k:])})

    def score(self, streaming: Streaming | None, scales: dict[str, float], cold: dict[str, float]) -> tuple[float, float]:
        """(share within ±10 %, −mean relative error) of the whole models, uncalibrated."""
        own = self._own(np.array([scales.get(name, 1.0) for name in self.kinds]))
        times = np.maximum(self.alone * own, self._roof(streaming))
        extra = self.cold @ np.array([cold.get(name, 0.0) for name in COLD_CACHES])
        error = np.abs((self.invoke_ms + np.bincount(self.model, times, minlength=len(self.y)) + extra) / self.y - 1)
        return float(np.mean(error <= 0.10)), -float(np.mean(error))
