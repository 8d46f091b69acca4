"""The A/B regression gate: is the new model faster than the old one, beyond the noise?

Both models are measured interleaved on the same device (A B B A A B …: one timed
``invoke`` of each in turn, in one process, the order alternating each round), so a
frequency change, a thermal step or another job lands on both alike, and so does the
advantage of running second (caches and branch predictors warmed by the first). The decision is a bootstrap 95 % interval of the ratio of medians,
``median(new) / median(old)`` (both samples resampled independently):

* default rule: **pass only when the whole interval is below 1.0** (the new model is
  faster beyond the measurement noise);
* with a margin ``m``: **fail only when the whole interval is above 1 + m** (the new
  model is slower by more than ``m``, beyond the noise) - the rule for "no regression".
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from edgeloop.device.options import BenchmarkOptions
from edgeloop.device.sampling import StoppingRule, ratio_ci
from edgeloop.device.stats import summarize


@dataclass(frozen=True)
class GateResult:
    """The verdict: ratio of medians (new / old), its 95 % interval, the rule and whether it passed."""

    ratio: float
    ci95: tuple[float, float]
    margin: float | None
    rule: str
    passed: bool
    old_median_ms: float
    new_median_ms: float
    samples: tuple[int, int]

    def to_dict(self) -> dict:
        """Plain data for ``--json``."""
        return asdict(self)


def decide(old_ms: Sequence[float], new_ms: Sequence[float], margin: float | None = None, seed: int = 0) -> GateResult:
    """Apply the gate's rule to timings of the old and the new model.

    Args:
        old_ms: timings of the old model (single runs, or per-round figures).
        new_ms: timings of the new model.
        margin: ``None`` to require a speed-up beyond the noise; a fraction (``0.05``) to
            fail only on a slow-down of more than that, beyond the noise.
        seed: bootstrap seed.
    """
    ratio, lo, hi = ratio_ci(new_ms, old_ms, seed=seed)
    if margin is None:
        passed = hi < 1.0
        rule = f"pass when the new model is faster beyond the noise: 95% interval of median(new)/median(old) below 1 (got {lo:.3f}-{hi:.3f})"
    else:
        passed = lo <= 1.0 + margin
        rule = (f"fail when the new model is slower by more than {margin:.1%} beyond the noise: 95% interval of "
                f"median(new)/median(old) above {1 + margin:.3f} (got {lo:.3f}-{hi:.3f})")
    old_median, new_median = summarize(old_ms).median_ms, summarize(new_ms).median_ms
    return GateResult(ratio, (lo, hi), margin, rule, passed, old_median, new_median, (len(old_ms), len(new_ms)))


def run_interleaved(old: str | Path | bytes, new: str | Path | bytes, options: BenchmarkOptions) -> dict:
    """Time two models in turn, one ``invoke`` each per round, in this process.

    Rounds continue past ``options.runs`` (up to ``max_runs``) until both medians' 95 %
    intervals are within ``ci_target``, or the time limit is spent.

    Returns:
        ``{"old": {"times_ms", "stats"}, "new": {...}, "rounds", "stop_reason"}``.
    """
    from edgeloop.device.benchmark import RotatingInputs, open_model

    deadline = time.monotonic() + options.time_limit_s
    interpreters = [RotatingInputs.random(open_model(model, options), options.seed) for model in (old, new)]
    for interpreter in interpreters:
        interpreter.invoke()
    for _ in range(options.warmup):
        for interpreter in interpreters:
            interpreter.invoke()
    most = options.max_runs if options.adaptive else options.runs
    rules = [StoppingRule(options.runs, most, options.ci_target, options.seed) for _ in interpreters]
    times: list[list[float]] = [[], []]
    stop = None
    while stop is None:
        # A B, then B A: whichever runs second in a round finds caches and predictors warmed
        # by the first, so the order alternates and that advantage falls on both alike.
        order = (0, 1) if len(times[0]) % 2 == 0 else (1, 0)
        for i in order:
            times[i].append(interpreters[i].invoke() / 1e6)
        verdicts = [rule.done(sample) for rule, sample in zip(rules, times)]
        if all(verdicts):
            stop = "runs" if not options.adaptive else ("max_runs" if "max_runs" in verdicts else "ci")
        elif time.monotonic() > deadline:
            stop = "time_limit"
    return {
        "old": {"times_ms": times[0], "stats": summarize(times[0]).to_dict()},
        "new": {"times_ms": times[1], "stats": summarize(times[1]).to_dict()},
        "rounds": len(times[0]),
        "stop_reason": stop,
    }
