"""What the search aims at: the latency budget, the reduction schedule, the MnasNet reward.

Pure functions with no TensorFlow, so they are checked against hand-computed values.

NetAdapt (Yang et al., ECCV 2018) reaches the budget in small steps: iteration ``i`` asks
every proposal to be at most ``current - ΔR_i`` fast, where ``ΔR_i`` is a share of the
original latency that decays geometrically (the reference implementation uses an initial
2.5 % and a decay of 0.96; edgeloop's defaults take larger steps, since each proposal is
fine-tuned on a CPU). The last step is clipped at the budget.

MnasNet (Tan et al., CVPR 2019) scores a model by ``ACC × (LAT / T)^w`` with ``w = α`` when
``LAT <= T`` and ``w = β`` otherwise; ``α = β = -0.07`` is the paper's soft constraint and
``α = 0, β = -1`` its hard one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgeloop.errors import EdgeloopError

_BUDGET = re.compile(r"^\s*(?P<value>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>x|ms)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Budget:
    """A latency budget: ``value`` milliseconds, or ``value`` times the original latency.

    Attributes:
        value: the number the user gave.
        relative: ``value`` multiplies the original model's measured latency.
    """

    value: float
    relative: bool

    def resolve(self, original_ms: float) -> float:
        """The budget in milliseconds for a model that measured ``original_ms``."""
        return self.value * original_ms if self.relative else self.value

    def __str__(self) -> str:
        return f"{self.value:g}x" if self.relative else f"{self.value:g} ms"


def parse_budget(text: str) -> Budget:
    """``"0.5x"`` (half the original latency) or ``"2.5ms"`` (absolute).

    Raises:
        EdgeloopError: anything else, or a relative budget not below 1.
    """
    match = _BUDGET.match(str(text))
    if not match:
        raise EdgeloopError(f"latency budget {text!r}: write a fraction of the original latency (0.5x) or milliseconds (2.5ms)")
    value, unit = float(match["value"]), match["unit"].lower()
    if value <= 0:
        raise EdgeloopError(f"latency budget {text!r} must be positive")
    if unit == "x" and value >= 1:
        raise EdgeloopError(f"latency budget {text!r}: a relative budget must be below 1x (the original model already meets it)")
    return Budget(value, unit == "x")


def iteration_target(iteration: int, current_ms: float, original_ms: float, budget_ms: float,
                     initial_reduction: float, decay: float) -> float:
    """NetAdapt's constraint for ``iteration`` (0-based): ``current - ΔR_i``, not below the budget
    unless the budget is less than half a step away.

    ``ΔR_i = initial_reduction × decay^i × original_ms``. Stopping at the budget keeps the
    last step from overshooting it; but a step to a budget only a little below the current
    latency is lost in the measurement noise (a kept model then measures just above the budget
    again and again), so the last step is at least ``ΔR_i / 2``.
    """
    delta = initial_reduction * decay ** iteration * original_ms
    return min(max(current_ms - delta, budget_ms), current_ms - delta / 2)


@dataclass(frozen=True)
class RewardRule:
    """MnasNet's exponents: ``alpha`` when the latency meets the target, ``beta`` when not."""

    alpha: float
    beta: float


SOFT = RewardRule(-0.07, -0.07)
HARD = RewardRule(0.0, -1.0)
RULES = {"soft": SOFT, "hard": HARD}


def mnas_reward(accuracy: float, latency_ms: float, target_ms: float, rule: RewardRule = SOFT) -> float:
    """``accuracy × (latency / target)^w``, ``w = alpha`` if ``latency <= target`` else ``beta``.

    Raises:
        ValueError: a latency or target that is not positive.
    """
    if latency_ms <= 0 or target_ms <= 0:
        raise ValueError(f"latency and target must be positive, got {latency_ms} and {target_ms}")
    w = rule.alpha if latency_ms <= target_ms else rule.beta
    return accuracy * (latency_ms / target_ms) ** w
