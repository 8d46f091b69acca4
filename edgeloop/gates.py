"""Gates on a converted model that mean something on a validation set of any size.

A gate is judged against a 95 % interval, not a point estimate: it **fails** only when the
whole interval is past the limit, **passes** when the whole interval is within it, and is
**unresolved** when the interval straddles the limit — the validation set is too small to
tell, and the gate says so in words (and how many samples would resolve it) instead of
failing on noise. An unresolved gate does not fail the run.

Intervals (z = 1.96):

- the accuracy drop of the converted model against the float model on the *same* samples
  is a difference of paired proportions: with ``lost`` samples the float model got right
  and the converted one wrong, ``gained`` the other way, the Agresti–Min "Wald+2" interval
  (Agresti & Min 2005, *Simple improved confidence intervals for comparing matched
  proportions*, Stat. Med. 24:729–740: 0.5 added to each cell of the 2x2 table)::

      d = (lost - gained) / (n + 2)
      sd = sqrt((lost + gained + 1) - (lost - gained)² / (n + 2)) / (n + 2)
      [d - z·sd, d + z·sd]  (clipped to [-1, 1])

- without labels, the share of samples whose top-1 class changed (an upper bound of the
  accuracy drop, whatever the labels), with the Wilson score interval (Wilson 1927).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)
PAIRED_METHOD = "Agresti-Min paired (Wald+2)"
WILSON_METHOD = "Wilson score"


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``k / n``."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_drop_interval(lost: int, gained: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Agresti–Min interval of ``(lost - gained) / n``, the drop of a paired proportion."""
    if n <= 0:
        return -1.0, 1.0
    d = (lost - gained) / (n + 2)
    sd = math.sqrt((lost + gained + 1) - (lost - gained) ** 2 / (n + 2)) / (n + 2)
    return max(-1.0, d - z * sd), min(1.0, d + z * sd)


def samples_to_resolve_drop(limit: float, z: float = Z95) -> int:
    """Fewest paired samples whose interval, with no prediction changed, is within ``limit``
    (a fraction): ``z / (n + 2) <= limit``."""
    return max(1, math.ceil(z / limit - 2)) if limit > 0 else 0


def samples_to_resolve_share(limit: float, z: float = Z95) -> int:
    """Fewest samples whose Wilson upper bound of 0 changes is within ``limit`` (a fraction)."""
    return max(1, math.ceil(z * z * (1 - limit) / limit)) if 0 < limit < 1 else 0


@dataclass
class Gate:
    """One gate's verdict, with its figures.

    Attributes:
        name: the check's name in the report.
        verdict: ``pass``, ``fail``, ``unresolved`` (the interval straddles the limit) or
            ``report`` (no limit set).
        detail: the figures in words.
        figures: the same as numbers.
    """

    name: str
    verdict: str
    detail: str
    figures: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Everything but ``fail`` lets the run pass."""
        return self.verdict != "fail"

    def to_check(self, gate: bool = True) -> dict:
        """The report's check: ``gate`` marks a failure that makes the run's exit status 1."""
        return {"name": self.name, "passed": self.passed, "detail": self.detail, "verdict": self.verdict,
                "gate": gate, "figures": self.figures}


def _judge(low: float, high: float, limit: float | None) -> str:
    if limit is None:
        return "report"
    if high <= limit:
        return "pass"
    if low > limit:
        return "fail"
    return "unresolved"


def accuracy_drop_gate(lost: int, gained: int, n: int, changed: int, max_drop: float | None,
                       converted: float, reference: float, label: str = "converted") -> Gate:
    """Judge the accuracy drop (points) of a converted model against the float model.

    Args:
        lost: samples the float model classifies right and the converted one wrong.
        gained: samples the converted model classifies right and the float one wrong.
        n: samples scored.
        changed: samples whose top-1 class changed (right or wrong).
        max_drop: the limit in percentage points, or ``None`` to only report.
        converted: the converted model's accuracy (a fraction).
        reference: the float model's accuracy.
        label: names the converted model in the detail.
    """
    drop = (lost - gained) / n * 100.0 if n else 0.0
    low, high = (100.0 * v for v in paired_drop_interval(lost, gained, n))
    verdict = _judge(low, high, max_drop)
    head = (f"{label} {converted:.2%} vs float {reference:.2%}: {drop:+.2f} points lost ({changed} of {n} top-1 "
            f"changed: {lost} lost, {gained} gained); 95 % interval [{low:+.2f}, {high:+.2f}] points ({PAIRED_METHOD})")
    detail = head + _verdict_words(verdict, max_drop, n, samples_to_resolve_drop((max_drop or 0) / 100.0))
    figures = {"drop_points": drop, "interval_points": [low, high], "method": PAIRED_METHOD, "n": n, "changed": changed,
               "lost": lost, "gained": gained, "max_drop": max_drop}
    return Gate("accuracy_drop", verdict, detail, figures)


def top1_changes_gate(changed: int, n: int, max_drop: float | None, label: str = "converted") -> Gate:
    """Without labels: judge the share of top-1 changes (points), an upper bound of the drop."""
    share = changed / n * 100.0 if n else 0.0
    low, high = (100.0 * v for v in wilson_interval(changed, n))
    verdict = _judge(low, high, max_drop)
    head = (f"no labels: {changed} of {n} top-1 classes of the {label} model differ from the float model's "
            f"({share:.2f} %, an upper bound of the accuracy drop); 95 % interval [{low:.2f}, {high:.2f}] % "
            f"({WILSON_METHOD})")
    detail = head + _verdict_words(verdict, max_drop, n, samples_to_resolve_share((max_drop or 0) / 100.0))
    figures = {"changed_points": share, "interval_points": [low, high], "method": WILSON_METHOD, "n": n,
               "changed": changed, "max_drop": max_drop}
    return Gate("top1_changes", verdict, detail, figures)


def snr_gate(snr_db: float, min_snr_db: float | None, label: str = "converted") -> Gate:
    """Judge the output SNR (dB) of the converted model against the float model's outputs."""
    shown = "∞" if snr_db == math.inf else f"{snr_db:.1f}"
    if min_snr_db is None:
        return Gate("output_snr", "report", f"{label} output SNR {shown} dB against the float model (no min_snr_db set)",
                    {"snr_db": snr_db})
    verdict = "pass" if snr_db >= min_snr_db else "fail"
    word = "at least" if verdict == "pass" else "below"
    return Gate("output_snr", verdict, f"{label} output SNR {shown} dB against the float model: {word} the "
                f"{min_snr_db:g} dB asked", {"snr_db": snr_db, "min_snr_db": min_snr_db})


def _verdict_words(verdict: str, limit: float | None, n: int, needed: int) -> str:
    if verdict == "report":
        return ": no limit set"
    if verdict == "pass":
        return f": within the {limit:g}-point limit"
    if verdict == "fail":
        return f": beyond the {limit:g}-point limit"
    return (f": {n} samples are too few to tell whether it is within the {limit:g}-point limit (the interval "
            f"straddles it; about {needed} samples would resolve it even with no prediction changed); not a failure")
