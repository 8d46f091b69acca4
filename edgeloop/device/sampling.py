"""How sure a median is: bootstrap confidence intervals, and when to stop timing.

The bootstrap resamples the recorded timings with replacement (seeded, one vectorised
numpy call) and reads the 2.5 % and 97.5 % percentiles of the resampled medians. It makes
no assumption about the shape of the latency distribution, which on a device is skewed
(a floor set by the hardware, a tail of preemptions and cache misses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

RESAMPLES = 1000
# Cost is resamples x sample size: past this many drawn timings, fewer resamples are made
# (never under _MIN_RESAMPLES), and samples past _MAX_SAMPLE are thinned (every k-th
# timing), which can only widen the interval. A check stays within tens of milliseconds.
_BUDGET = 4_000_000
_MIN_RESAMPLES = 200
_MAX_SAMPLE = 20_000
# p99 / p50 above this is called a long tail in the noise warning.
TAIL_WARNING = 2.0


def _resamples(size: int, requested: int) -> int:
    return max(_MIN_RESAMPLES, min(requested, _BUDGET // min(size, _MAX_SAMPLE)))


def _resampled_medians(times: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    if times.size > _MAX_SAMPLE:
        times = times[:: int(np.ceil(times.size / _MAX_SAMPLE))]
    picks = rng.integers(0, times.size, size=(resamples, times.size))
    return np.median(times[picks], axis=1)


def median_ci(times_ms: Sequence[float], level: float = 0.95, resamples: int = RESAMPLES,
              seed: int = 0) -> tuple[float, float]:
    """Bootstrap confidence interval (percentile method) of the median of ``times_ms``.

    Raises:
        ValueError: no timings.
    """
    t = np.asarray(times_ms, dtype=np.float64)
    if t.size == 0:
        raise ValueError("no timings")
    medians = _resampled_medians(t, np.random.default_rng(seed), _resamples(t.size, resamples))
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(medians, [tail, 100 - tail])
    return float(lo), float(hi)


def ratio_ci(new_ms: Sequence[float], old_ms: Sequence[float], level: float = 0.95,
             resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """Median(new) / median(old), with a bootstrap interval from resampling both independently.

    Returns:
        ``(ratio, low, high)``.
    """
    new, old = np.asarray(new_ms, dtype=np.float64), np.asarray(old_ms, dtype=np.float64)
    if new.size == 0 or old.size == 0:
        raise ValueError("no timings")
    rng = np.random.default_rng(seed)
    count = _resamples(max(new.size, old.size), resamples)
    ratios = _resampled_medians(new, rng, count) / _resampled_medians(old, rng, count)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(ratios, [tail, 100 - tail])
    return float(np.median(new) / np.median(old)), float(lo), float(hi)


@dataclass
class StoppingRule:
    """When adaptive timing has enough runs.

    Timing stops at ``max_runs``; past ``min_runs`` it also stops once the interval's
    half-width is at most ``ci_target`` times the median. The interval is recomputed only
    every quarter of the runs so far (at least every 10), keeping the bootstrap's cost
    small next to the runs it judges.
    """

    min_runs: int
    max_runs: int
    ci_target: float
    seed: int = 0

    def __post_init__(self) -> None:
        self._next_check = self.min_runs
        self._tight = False

    def done(self, times_ms: Sequence[float]) -> str | None:
        """``"ci"`` or ``"max_runs"`` when timing may stop after these runs, else ``None``.

        Once the interval was tight the answer stays ``"ci"`` (two samples timed in turn
        stop together, when both are done).
        """
        n = len(times_ms)
        if n >= self.max_runs:
            return "max_runs"
        if self._tight:
            return "ci"
        if n < self._next_check:
            return None
        self._next_check = n + max(10, n // 4)
        self._tight = self.tight(times_ms)
        return "ci" if self._tight else None

    def tight(self, times_ms: Sequence[float]) -> bool:
        """Whether the median's interval is within ``ci_target`` of it."""
        lo, hi = median_ci(times_ms, seed=self.seed)
        return (hi - lo) / 2 <= self.ci_target * float(np.median(times_ms))


def noise_warnings(times_ms: Sequence[float], ci: tuple[float, float], ci_target: float,
                   tail_ratio: float | None) -> list[str]:
    """Plain-language warnings when the timings are too noisy to trust."""
    median = float(np.median(times_ms))
    half = (ci[1] - ci[0]) / 2
    out = []
    if median > 0 and half > ci_target * median:
        out.append(f"noisy: the median's 95% interval is +/-{half / median:.1%}, wider than the "
                   f"{ci_target:.1%} asked for after {len(times_ms)} runs; close other work, "
                   "raise the run or time limit")
    if tail_ratio is not None and tail_ratio > TAIL_WARNING:
        out.append(f"long tail: p99 is {tail_ratio:.1f}x the median (preemption, frequency scaling "
                   "or thermal throttling)")
    return out
