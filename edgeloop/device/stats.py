"""Latency statistics: pure functions over recorded timings (the benchmark's "parser")."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    """Summary of N timed runs, in milliseconds."""

    count: int
    min_ms: float
    median_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float

    def to_dict(self) -> dict:
        """Plain data for reports."""
        return asdict(self)


def summarize(times_ms: Sequence[float]) -> LatencyStats:
    """Min, median, p90, p99 (linear interpolation between ranks), mean and population std.

    Raises:
        ValueError: no timings.
    """
    t = np.asarray(times_ms, dtype=np.float64)
    if t.size == 0:
        raise ValueError("no timings to summarize")
    p50, p90, p99 = np.percentile(t, [50, 90, 99])
    return LatencyStats(int(t.size), float(t.min()), float(p50), float(p90), float(p99), float(t.mean()), float(t.std()))
