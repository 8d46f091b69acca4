"""``prune``: tfmot magnitude pruning with a polynomial or constant schedule.

The pruning wrappers are always stripped afterwards (a wrapped model converts with its
dense weights and the masks, and shrinks nothing), and the sparsity is then measured in the
stripped weights: a layer short of its target is an error, not a footnote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edgeloop.errors import VerificationError
from edgeloop.pipeline._sparsity import kernel_sparsity
from edgeloop.pipeline._training import check_training_options, compile_classifier, fit, steps_per_epoch
from edgeloop.pipeline.base import Context, Step, register_step

# Rounding of the mask to whole weights can leave a small layer a hair under its target.
SPARSITY_TOLERANCE = 0.01


@dataclass
class PruneOptions:
    """Options of ``prune``.

    Attributes:
        target_sparsity: fraction of each prunable kernel set to zero at the end.
        schedule: ``polynomial`` ramps from ``initial_sparsity`` to the target over the
            first ``ramp_fraction`` of training; ``constant`` holds the target throughout.
        initial_sparsity: where the polynomial schedule starts.
        ramp_fraction: share of the training steps the polynomial ramp takes; the rest
            fine-tunes at the final sparsity.
        frequency: optimizer steps between mask updates (default: 4 updates an epoch).
        epochs: fine-tuning passes while pruning.
        batch_size: samples per optimizer step.
        learning_rate: Adam's learning rate while pruning.
    """

    target_sparsity: float = 0.5
    schedule: Literal["polynomial", "constant"] = "polynomial"
    initial_sparsity: float = 0.0
    ramp_fraction: float = 0.7
    frequency: int | None = None
    epochs: int = 6
    batch_size: int = 32
    learning_rate: float = 5e-4

    def __post_init__(self) -> None:
        if not 0.0 < self.target_sparsity < 1.0:
            raise ValueError(f"target_sparsity must be between 0 and 1, got {self.target_sparsity}")
        if not 0.0 <= self.initial_sparsity < self.target_sparsity:
            raise ValueError("initial_sparsity must be at least 0 and below target_sparsity")
        if not 0.0 < self.ramp_fraction <= 1.0:
            raise ValueError(f"ramp_fraction must be in (0, 1], got {self.ramp_fraction}")
        if self.frequency is not None and self.frequency < 1:
            raise ValueError(f"frequency must be at least 1, got {self.frequency}")
        check_training_options(self.epochs, self.batch_size, self.learning_rate)


@register_step
class Prune(Step):
    """Magnitude pruning of every prunable layer to one target sparsity."""

    name = "prune"
    Options = PruneOptions
    changes_model = True
    compresses = True

    def apply(self, model, ctx: Context):
        from edgeloop._tf import tfmot

        o = self.options
        sparsity = tfmot.sparsity.keras
        per_epoch = steps_per_epoch(len(ctx.data.y_train), o.batch_size)
        total = per_epoch * o.epochs
        frequency = o.frequency or max(1, per_epoch // 4)
        if o.schedule == "constant":
            schedule = sparsity.ConstantSparsity(o.target_sparsity, begin_step=0, frequency=frequency)
        else:
            # The last mask update must land on end_step, or the target is never reached.
            end_step = max(1, int(total * o.ramp_fraction) // frequency * frequency)
            schedule = sparsity.PolynomialDecay(
                o.initial_sparsity, o.target_sparsity, begin_step=0, end_step=end_step, frequency=frequency
            )
        wrapped = sparsity.prune_low_magnitude(model, pruning_schedule=schedule)
        compile_classifier(wrapped, o.learning_rate)
        ctx.record(**fit(wrapped, ctx, o.epochs, o.batch_size, "prune", [sparsity.UpdatePruningStep()]))
        stripped = sparsity.strip_pruning(wrapped)
        leftover = [layer.name for layer in stripped.layers if "PruneLowMagnitude" in type(layer).__name__]
        if leftover:
            raise VerificationError(f"strip_pruning left pruning wrappers on: {', '.join(leftover)}")
        measured = kernel_sparsity(stripped)
        short = {n: s for n, s in measured.items() if s < o.target_sparsity - SPARSITY_TOLERANCE}
        if short:
            detail = ", ".join(f"{n} {s:.1%}" for n, s in short.items())
            raise VerificationError(
                f"pruning fell short of {o.target_sparsity:.0%} after strip_pruning: {detail}"
            )
        ctx.record(schedule=o.schedule, target_sparsity=o.target_sparsity, kernel_sparsity=measured)
        ctx.state["pruned"] = {"target_sparsity": o.target_sparsity}
        return stripped
