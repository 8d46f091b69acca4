"""The search's options: NetAdapt's (the ``netadapt`` step's) and the whole search's, checked on
creation, unknown keys refused."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

from edgeloop.search.objective import parse_budget

SELECTIONS = ("accuracy", "mnas_soft", "mnas_hard")


@dataclass
class NetAdaptOptions:
    """How NetAdapt runs (the ``netadapt`` step's algorithm options; see :class:`SearchOptions`).

    Attributes:
        budget: the latency to reach: ``0.5x`` of the original model's measured int8
            latency, or ``2.5ms`` (a ``netadapt`` step without one takes the recipe
            target's latency).
        accuracy_drop: most converted-model accuracy (points) the result may lose against
            the original converted model; the report's check, and exit status 1 past it.
        latency: where the search's latency estimates come from: ``measure`` (every
            candidate measured on the device), ``lut`` (per-layer look-up table built once
            from the device's op profiling) or ``predictor`` (fitted on the device's
            stored measurements).
        select: how an iteration picks among its proposals: ``accuracy`` (NetAdapt: the
            most accurate converted proposal), ``mnas_soft`` (MnasNet reward
            ``ACC × (LAT/T)^-0.07``) or ``mnas_hard`` (α = 0, β = -1), T being the budget.
        initial_reduction: NetAdapt's first latency reduction, as a share of the original
            latency; halved (up to three times) in an iteration where no single layer can
            give it.
        decay: each further iteration's reduction is the previous one times ``decay``.
        max_iterations: stop after this many iterations even if the budget is not met.
        budget_margin: the iterations aim this much under the budget (a fraction), so the
            final model's own measurement, with its noise, still meets it.
        step: proposals remove filters in multiples of ``step``; by default 1/16 of each
            group's original width (at least 1).
        min_channels: no layer is narrowed below this.
        short_epochs: NetAdapt's short-term fine-tune of every proposal.
        long_epochs: the long-term fine-tune of the chosen model.
        batch_size: samples per optimizer step.
        learning_rate: Adam's learning rate for the fine-tunes.
        calibration_samples: training samples calibrating each int8 conversion.
        threads: interpreter threads on the device.
        warmup: untimed runs before each measurement.
        runs: timed runs of each measurement (the median counts).
        edgetpu: proposals the Edge TPU analyzer says would fall back to the CPU are
            ``reject``-ed or ``penalize``-d (reward × ``edgetpu_penalty``); ``auto`` rejects
            them when the device has an Edge TPU, ``off`` never looks.
        edgetpu_penalty: the reward factor of ``penalize``.
    """

    budget: str | None = "0.5x"
    accuracy_drop: float = 1.0
    latency: Literal["measure", "lut", "predictor"] = "measure"
    select: Literal["accuracy", "mnas_soft", "mnas_hard"] = "accuracy"
    initial_reduction: float = 0.1
    decay: float = 0.9
    max_iterations: int = 15
    budget_margin: float = 0.03
    step: int | None = None
    min_channels: int = 1
    short_epochs: int = 2
    long_epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 5e-4
    calibration_samples: int = 100
    threads: int = 1
    warmup: int = 10
    runs: int = 100
    edgetpu: Literal["auto", "off", "reject", "penalize"] = "auto"
    edgetpu_penalty: float = 0.9

    def __post_init__(self) -> None:
        if self.budget is not None:
            parse_budget(self.budget)  # refuses a malformed budget now, not after training
        if self.accuracy_drop < 0:
            raise ValueError(f"accuracy_drop must be >= 0, got {self.accuracy_drop}")
        if not 0 < self.initial_reduction < 1:
            raise ValueError(f"initial_reduction must be between 0 and 1, got {self.initial_reduction}")
        if not 0 <= self.budget_margin < 0.5:
            raise ValueError(f"budget_margin must be in [0, 0.5), got {self.budget_margin}")
        if not 0 < self.decay <= 1:
            raise ValueError(f"decay must be in (0, 1], got {self.decay}")
        for name in ("max_iterations", "min_channels", "batch_size", "calibration_samples", "threads", "runs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("short_epochs", "long_epochs", "warmup"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)}")
        if self.step is not None and self.step < 1:
            raise ValueError(f"step must be at least 1, got {self.step}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if not 0 < self.edgetpu_penalty <= 1:
            raise ValueError(f"edgetpu_penalty must be in (0, 1], got {self.edgetpu_penalty}")


@dataclass
class SearchOptions(NetAdaptOptions):
    """How the hardware-aware search (``edgeloop search``) runs: NetAdapt's options
    (:class:`NetAdaptOptions`) and these.

    Attributes:
        train_epochs: train the starting model first (by default 30 epochs for a zoo model,
            which starts untrained, and none for a model file).
        baseline_widths: uniform width multipliers of the comparison baseline (empty: none).
        seed: seeds training, fine-tunes and the data split.
    """

    train_epochs: int | None = None
    baseline_widths: list[float] = field(default_factory=lambda: [1.0, 0.75, 0.5, 0.35])
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.train_epochs is not None and self.train_epochs < 0:
            raise ValueError(f"train_epochs must be at least 0, got {self.train_epochs}")
        check_widths(self.baseline_widths, "baseline_widths")

    def netadapt(self) -> dict:
        """NetAdapt's own options, as a ``netadapt`` step takes them."""
        return {f.name: getattr(self, f.name) for f in fields(NetAdaptOptions)}


def check_widths(widths: list[float], name: str) -> None:
    """Width multipliers are in (0, 1] (ValueError names the option)."""
    if any(not 0 < w <= 1 for w in widths):
        raise ValueError(f"{name} must be in (0, 1], got {widths}")
