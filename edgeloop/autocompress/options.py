"""Options of the automatic compression search (the ``autocompress`` step and command)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

DIMENSIONS = ("width", "sparsity", "m_by_n", "clusters", "precision", "distill", "factorize")

_DURATION = re.compile(r"^\s*(?P<value>\d+(?:\.\d*)?)\s*(?P<unit>s|m|h)?\s*$")


def parse_duration(text: str | float | int | None) -> float | None:
    """Seconds from ``90``, ``"90s"``, ``"15m"`` or ``"2h"`` (``None`` stays ``None``).

    Raises:
        ValueError: anything else.
    """
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ValueError(f"time_limit {text!r}: write seconds (600), minutes (15m) or hours (2h)")
        seconds = float(match["value"]) * {"s": 1, "m": 60, "h": 3600, None: 1}[match["unit"]]
    if seconds <= 0:
        raise ValueError(f"time_limit must be positive, got {text!r}")
    return seconds


@dataclass
class AutocompressOptions:
    """Options of ``autocompress``.

    The target (device, latency / size budget, Edge TPU) is the recipe's ``target``; the
    keys ``device``, ``latency`` and ``size_kb`` here stand in for it when the recipe has none.

    Attributes:
        trials: policies evaluated in all (the seeds from the sensitivity analysis included).
        time_limit: stop starting trials after this long (``600``, ``15m``, ``2h``; the first
            trial always runs).
        epochs: fine-tune epochs of every technique in a trial.
        final_epochs: fine-tune epochs of every technique in the winner's recipe.
        refine_front: besides the winner, up to this many trials of the accuracy × latency
            front are rerun with ``final_epochs`` (recipes in ``refined/``), so the front the
            report draws has had the fine-tune the winner and NetAdapt's final model get (0: none).
        max_drop: the accuracy budget: most points the converted int8 model may lose
            against the float model it starts from.
        dimensions: which parts of the policy are searched (``width``, ``sparsity``,
            ``m_by_n``, ``clusters``, ``precision``, ``distill``, ``factorize``).
        sampler: ``nsga2`` (multi-objective, NSGA-II) or ``tpe``.
        objective: ``pareto`` (accuracy up, latency and size down) or ``mnas`` (MnasNet's
            reward ``ACC × (LAT/T)^w``, one number; needs a latency budget).
        mnas_w: the reward's exponent ``w``.
        pruner: ``objective: mnas`` only: Optuna's ``median`` pruner stops a trial whose
            accuracy after a technique is below the median of earlier trials there; ``none``.
        seeds: trials enqueued first from the sensitivity analysis (0: none).
        parallel: trials evaluated at once (through the executor).
        executor: ``sequential``, ``ray`` (local) or ``ray://HOST:PORT``.
        seed: seeds the sampler, the fine-tunes and the data split.
        device: where latency is measured when the recipe has no ``target``.
        latency: latency budget when the recipe has no ``target``: ``2.5ms``, or ``0.5x`` the
            float baseline's latency on the device (as the recipe's ``target`` means it).
        size_kb: size budget (KiB of the ``.tflite``) when the recipe has no ``target``.
        runs: timed runs per measurement.
        side_by_side: at the end, every trial's, rerun's and comparison's file is timed again,
            all in turn, this many passes; the front and the dominance checks use the median of
            each file's passes (0: the times measured when each finished).
        calibration_samples: training samples for int8 calibration.
        batch_size: samples per optimizer step in fine-tunes.
        compare: hand recipes run and measured on the same device, on the same axes (their
            ``model`` and ``data`` replaced by the search's).
        netadapt: also run the NetAdapt search (``edgeloop search``) on the same device.
        store: the latency store's file (default: the user's cache folder).
        token_file: the agent's token (``http://`` devices).
    """

    trials: int = 30
    time_limit: str | None = None
    epochs: int = 2
    final_epochs: int = 6
    refine_front: int = 0
    max_drop: float = 1.0
    dimensions: list[str] = field(default_factory=lambda: list(DIMENSIONS))
    sampler: Literal["nsga2", "tpe"] = "nsga2"
    objective: Literal["pareto", "mnas"] = "pareto"
    mnas_w: float = -0.07
    pruner: Literal["median", "none"] = "median"
    seeds: int = 3
    parallel: int = 1
    executor: str = "sequential"
    seed: int = 0
    device: str = "local"
    latency: str | None = None
    size_kb: float | None = None
    runs: int = 100
    side_by_side: int = 5
    calibration_samples: int = 100
    batch_size: int = 32
    compare: list[str] = field(default_factory=list)
    netadapt: bool = False
    store: str | None = None
    token_file: str | None = None

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ValueError(f"trials must be at least 1, got {self.trials}")
        parse_duration(self.time_limit)
        if self.epochs < 0 or self.final_epochs < 0:
            raise ValueError("epochs and final_epochs must be at least 0")
        if self.max_drop < 0:
            raise ValueError(f"max_drop must be >= 0, got {self.max_drop}")
        unknown = [d for d in self.dimensions if d not in DIMENSIONS]
        if unknown:
            raise ValueError(f"unknown dimension(s) {', '.join(unknown)}; dimensions: {', '.join(DIMENSIONS)}")
        if self.parallel < 1 or self.seeds < 0 or self.runs < 1 or self.refine_front < 0 or self.side_by_side < 0:
            raise ValueError("parallel and runs must be at least 1, seeds, refine_front and side_by_side at least 0")
        if self.objective == "mnas" and not self.mnas_w < 0:
            raise ValueError(f"mnas_w must be negative (slower is worse), got {self.mnas_w}")

    @property
    def time_limit_s(self) -> float | None:
        """``time_limit`` in seconds."""
        return parse_duration(self.time_limit)
