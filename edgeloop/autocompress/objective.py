"""What a trial is judged by: the objectives Optuna sees, and whether it meets the target.

Pure functions over plain figures (no TensorFlow), so every rule is checked by hand.
Objectives: converted int8 accuracy (up), latency measured on the device (down), size of
the gzipped ``.tflite`` (down: sparsity and clustering show only compressed), or one
number, MnasNet's reward ``ACC × (LAT/T)^w`` (:func:`edgeloop.search.objective.mnas_reward`).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeloop.search.objective import RewardRule, mnas_reward


@dataclass(frozen=True)
class Goal:
    """The objectives and the target of one search.

    Attributes:
        objective: ``pareto`` or ``mnas``.
        max_drop: most accuracy points the converted model may lose against the float model.
        latency_ms: the latency budget in milliseconds (``None``: none).
        size_kb: the size budget, KiB of the ``.tflite`` file as the recipe's target checks
            it (``None``: none); the size *objective* is the gzipped file's.
        edgetpu: every op must map to the Edge TPU.
        mnas_w: the reward's exponent.
        reference_ms: ``T`` of the reward when there is no latency budget (the starting
            model's measured int8 latency).
    """

    objective: str = "pareto"
    max_drop: float = 1.0
    latency_ms: float | None = None
    size_kb: float | None = None
    edgetpu: bool = False
    mnas_w: float = -0.07
    reference_ms: float | None = None

    @property
    def directions(self) -> list[str]:
        """Optuna's directions, in :meth:`values` order."""
        return ["maximize"] if self.objective == "mnas" else ["maximize", "minimize", "minimize"]

    def reward(self, figures: dict) -> float:
        """MnasNet's reward of a trial against the latency budget (or the reference latency)."""
        target = self.latency_ms or self.reference_ms or figures["latency_ms"]
        return mnas_reward(figures["int8_accuracy"], figures["latency_ms"], target, RewardRule(self.mnas_w, self.mnas_w))

    def values(self, figures: dict) -> list[float]:
        """What Optuna is told for a trial."""
        if self.objective == "mnas":
            return [self.reward(figures)]
        return [figures["int8_accuracy"], figures["latency_ms"], figures["size_kb"]]

    def misses(self, figures: dict) -> list[str]:
        """Why a trial misses the target, one phrase per budget it misses (empty: it meets it)."""
        out = []
        drop = figures["drop_points"]
        if drop > self.max_drop + 1e-9:
            out.append(f"accuracy {drop:.2f} points below float (budget {self.max_drop:g})")
        if self.latency_ms is not None and figures["latency_ms"] > self.latency_ms:
            out.append(f"latency {figures['latency_ms']:.4f} ms over {self.latency_ms:.4f} ms "
                       f"(+{figures['latency_ms'] / self.latency_ms - 1:.1%})")
        if self.size_kb is not None and figures["raw_kb"] > self.size_kb:
            out.append(f"size {figures['raw_kb']:.1f} KiB over {self.size_kb:g} KiB")
        if self.edgetpu and not figures.get("edgetpu_mapped", True):
            out.append("ops fall off the Edge TPU")
        return out

    def best(self, trials: list[dict]) -> dict | None:
        """The trial chosen among those meeting the target: the most accurate (``pareto``) or
        the highest reward (``mnas``); ties go to the faster, then the smaller, then the earlier."""
        meeting = [f for f in trials if not self.misses(f)]
        if not meeting:
            return None
        score = self.reward if self.objective == "mnas" else (lambda f: f["int8_accuracy"])
        return max(meeting, key=lambda f: (round(score(f), 12), -f["latency_ms"], -f["size_kb"], -f["trial"]))

    def why(self, chosen: dict, trials: list[dict]) -> str:
        """One paragraph: why this trial was chosen."""
        meeting = [f for f in trials if not self.misses(f)]
        rule = ("the highest MnasNet reward ACC x (LAT/T)^w" if self.objective == "mnas"
                else "the most accurate converted model")
        budgets = [f"at most {self.max_drop:g} accuracy points lost"]
        if self.latency_ms is not None:
            budgets.append(f"latency <= {self.latency_ms:.4f} ms")
        if self.size_kb is not None:
            budgets.append(f"file size <= {self.size_kb:g} KiB")
        if self.edgetpu:
            budgets.append("every op on the Edge TPU")
        return (f"{len(meeting)} of {len(trials)} finished trials meet the target ({', '.join(budgets)}); "
                f"trial {chosen['trial']} is {rule} among them ({self.describe(chosen)}); ties go to the faster, "
                "then the smaller model.")

    @staticmethod
    def describe(f: dict) -> str:
        """A trial's figures in one phrase."""
        return (f"int8 accuracy {f['int8_accuracy']:.2%} ({-f['drop_points']:+.2f} points), "
                f"{f['latency_ms']:.4f} ms, {f['size_kb']:.1f} kB gzipped")


def pareto_front(points: list[dict], axes: tuple[str, str]) -> list[dict]:
    """The points no other point beats on both axes: ``int8_accuracy`` (up) against ``axes[1]``
    (down), sorted by that axis."""
    from edgeloop.search.pareto import pareto_front as front

    return front(points, cost=axes[1], gain=axes[0])


def dominates_at(front: list[dict], reference: dict, axis: str) -> dict | None:
    """A point of ``front`` at least as accurate as ``reference`` and no worse on ``axis``,
    strictly better on one of the two (the issue's "dominates"); ``None`` when there is none."""
    for p in front:
        if p["int8_accuracy"] >= reference["int8_accuracy"] and p[axis] <= reference[axis] and (
                p["int8_accuracy"] > reference["int8_accuracy"] or p[axis] < reference[axis]):
            return p
    return None
