"""Latency statistics: pure functions over recorded timings (the benchmark's "parser")."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    """Summary of N timed runs, in milliseconds.

    A figure the measuring tool did not report is ``None`` (``benchmark_model`` prints
    count, min, mean and std, but no percentiles in older versions).
    """

    count: int
    min_ms: float | None
    median_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    std_ms: float | None
    max_ms: float | None = None

    @property
    def tail_ratio(self) -> float | None:
        """p99 / p50: how far the slow runs stray from the typical one (1.0 = no tail)."""
        if self.p99_ms is None or not self.median_ms:
            return None
        return self.p99_ms / self.median_ms

    def to_dict(self) -> dict:
        """Plain data for reports, with the tail ratio."""
        return {**asdict(self), "p99_over_p50": self.tail_ratio}

    @classmethod
    def from_dict(cls, data: dict) -> "LatencyStats":
        """The inverse of :meth:`to_dict`."""
        return cls(**{k: v for k, v in data.items() if k != "p99_over_p50"})


def summarize(times_ms: Sequence[float]) -> LatencyStats:
    """Min, median, p90, p99 (linear interpolation between ranks), mean, population std, max.

    Raises:
        ValueError: no timings.
    """
    t = np.asarray(times_ms, dtype=np.float64)
    if t.size == 0:
        raise ValueError("no timings to summarize")
    p50, p90, p99 = np.percentile(t, [50, 90, 99])
    return LatencyStats(int(t.size), float(t.min()), float(p50), float(p90), float(p99), float(t.mean()),
                        float(t.std()), float(t.max()))
