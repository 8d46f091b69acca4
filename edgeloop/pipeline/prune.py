"""``prune``: tfmot magnitude pruning, per layer, gradual or one-shot, or M:N (2:4) structured.

The pruning wrappers are always stripped afterwards (a wrapped model converts with its
dense weights and the masks, and shrinks nothing), and the sparsity is then measured in the
stripped weights: a layer short of its target is an error, not a footnote.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Literal

from edgeloop.errors import EdgeloopError, VerificationError
from edgeloop.models.flatten import flatten_nested
from edgeloop.pipeline._sparsity import (
    SPARSITY_TOLERANCE,
    is_prunable,
    kernel_sizes,
    kernel_sparsity,
    prunable_kernels,
)
from edgeloop.pipeline._training import check_training_options, compile_classifier, fit, steps_per_epoch
from edgeloop.pipeline.base import (
    Context,
    Preflight,
    Problem,
    Step,
    check_patterns,
    first_line,
    graph_problems,
    register_step,
)


@dataclass
class PruneOptions:
    """Options of ``prune``.

    Attributes:
        target_sparsity: fraction of each prunable kernel set to zero at the end.
        layers: per-layer targets, ``{name or glob pattern: sparsity}``; the first pattern
            that matches a layer wins, unmatched layers get ``target_sparsity``.
        skip: names or glob patterns of layers left dense.
        schedule: ``polynomial`` (iterative: ramps from ``initial_sparsity`` to the
            target over the first ``ramp_fraction`` of training), ``constant`` (the
            target re-applied every ``frequency`` steps) or ``one_shot`` (the mask is
            computed once, before training, then fine-tuned around).
        from_sensitivity: take per-layer targets from an earlier ``sensitivity`` step (layers
            it found no safe sparsity for stay dense); ``layers`` still overrides.
        std_threshold: the "sensitivity pruner" rule: a layer's target is the share of its
            weights with magnitude below ``std_threshold`` x the standard deviation of its
            weights (lambda = s * sigma), measured before pruning.
        m_by_n: ``[m, n]`` keeps at most ``m`` non-zeros in every ``n`` consecutive
            input-channel weights (``[2, 4]`` is what sparse tensor cores run); layers whose
            input channels are not a multiple of ``n`` stay dense. Replaces the targets.
        initial_sparsity: where the polynomial schedule starts.
        ramp_fraction: share of the training steps the polynomial ramp takes.
        frequency: optimizer steps between mask updates (default: 4 updates an epoch).
        epochs: fine-tuning passes while pruning.
        batch_size: samples per optimizer step.
        learning_rate: Adam's learning rate while pruning.
    """

    target_sparsity: float = 0.5
    layers: dict[str, float] = field(default_factory=dict)
    skip: list[str] = field(default_factory=list)
    schedule: Literal["polynomial", "constant", "one_shot"] = "polynomial"
    from_sensitivity: bool = False
    std_threshold: float | None = None
    m_by_n: list[int] | None = None
    initial_sparsity: float = 0.0
    ramp_fraction: float = 0.7
    frequency: int | None = None
    epochs: int = 6
    batch_size: int = 32
    learning_rate: float = 5e-4

    def __post_init__(self) -> None:
        for name, value in [("target_sparsity", self.target_sparsity), *self.layers.items()]:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
                raise ValueError(f"sparsity for {name} must be a number between 0 and 1, got {value!r}")
        if not 0.0 <= self.initial_sparsity < min([self.target_sparsity, *self.layers.values()]):
            raise ValueError("initial_sparsity must be at least 0 and below every target")
        if not 0.0 < self.ramp_fraction <= 1.0:
            raise ValueError(f"ramp_fraction must be in (0, 1], got {self.ramp_fraction}")
        if self.frequency is not None and self.frequency < 1:
            raise ValueError(f"frequency must be at least 1, got {self.frequency}")
        if self.m_by_n is not None and (len(self.m_by_n) != 2 or not 0 < self.m_by_n[0] < self.m_by_n[1]):
            raise ValueError(f"m_by_n must be [m, n] with 0 < m < n, got {self.m_by_n}")
        if self.std_threshold is not None and not self.std_threshold > 0:
            raise ValueError(f"std_threshold must be positive, got {self.std_threshold}")
        if sum([self.from_sensitivity, self.std_threshold is not None, self.m_by_n is not None]) > 1:
            raise ValueError("from_sensitivity, std_threshold and m_by_n each set the targets: give one")
        check_training_options(self.epochs, self.batch_size, self.learning_rate)

    def target_for(self, layer_name: str) -> float | None:
        """The sparsity ``layer_name`` is pruned to, or ``None`` when it is skipped."""
        if any(fnmatch.fnmatchcase(layer_name, pattern) for pattern in self.skip):
            return None
        for pattern, target in self.layers.items():
            if fnmatch.fnmatchcase(layer_name, pattern):
                return float(target)
        return self.target_sparsity


def std_threshold_sparsity(kernel, s: float) -> float:
    """Share of weights whose magnitude is below ``s`` standard deviations (lambda = s * sigma)."""
    import numpy as np

    return float(np.mean(np.abs(kernel) < s * np.std(kernel)))


@register_step("prune", PruneOptions, changes_model=True, compresses=True)
class Prune(Step):
    """Magnitude pruning of the prunable layers to per-layer targets (or M:N)."""

    def _derived_targets(self, model, ctx: Context) -> dict[str, float] | None:
        """Per-layer targets from a sensitivity analysis or the std threshold, if asked."""
        o = self.options
        if o.from_sensitivity:
            if ctx.state.sensitivity is None:
                raise EdgeloopError("prune: from_sensitivity needs a sensitivity step before it")
            return dict(ctx.state.sensitivity)
        if o.std_threshold is not None:
            import numpy as np

            return {layer.name: min(0.99, std_threshold_sparsity(
                        np.concatenate([k.ravel() for k in prunable_kernels(layer).values()]), o.std_threshold))
                    for layer in model.layers if is_prunable(layer)}
        return None

    def preflight(self, model, plan: Preflight) -> list[Problem]:
        """Patterns that match no layer, nothing left to prune, a layer tfmot will not wrap."""
        from edgeloop._tf import tfmot

        o = self.options
        problems = graph_problems(model, self.name)
        if problems:
            return problems
        try:
            check_patterns(model, [*o.layers, *o.skip], self.name)
        except EdgeloopError as exc:
            return [Problem(self.name, str(exc))]
        if o.from_sensitivity and "sensitivity" not in plan.state:
            return [Problem(self.name, "prune: from_sensitivity needs a sensitivity step before it; add one or set "
                                       "the targets another way")]
        candidates = [layer for layer in model.layers if is_prunable(layer) and o.target_for(layer.name) is not None]
        if not candidates:
            return [Problem(self.name, "prune: no layer to prune: no Conv, Dense, SeparableConv, Embedding or recurrent "
                                       "kernel outside `skip`; drop the prune step")]
        for layer in candidates:  # wrapping builds nothing: instant, and tfmot refuses here if it will
            try:
                tfmot.sparsity.keras.prune_low_magnitude(layer)
            except (ValueError, TypeError) as exc:
                problems.append(Problem(self.name, f"prune: tfmot cannot prune layer {layer.name} "
                                        f"({type(layer).__name__}): {first_line(exc)}; way out: "
                                        f"`prune: {{skip: [{layer.name}]}}` leaves it dense", layer.name))
        return problems

    def apply(self, model, ctx: Context):
        from edgeloop._tf import keras, tfmot

        model, _ = flatten_nested(model)
        o = self.options
        sparsity = tfmot.sparsity.keras
        per_epoch = steps_per_epoch(len(ctx.data.y_train), o.batch_size)
        total = per_epoch * o.epochs
        frequency = o.frequency or max(1, per_epoch // 4)
        check_patterns(model, [*o.layers, *o.skip], self.name)

        targets: dict[str, float] = {}
        skipped: dict[str, str] = {}
        derived = self._derived_targets(model, ctx)

        def schedule_for(target: float):
            if o.schedule == "constant":
                return sparsity.ConstantSparsity(target, begin_step=0, frequency=frequency)
            if o.schedule == "one_shot":
                return sparsity.ConstantSparsity(target, begin_step=0, end_step=1, frequency=1)
            # The last mask update must land on end_step, or the target is never reached.
            end_step = max(1, int(total * o.ramp_fraction) // frequency * frequency)
            return sparsity.PolynomialDecay(o.initial_sparsity, target, begin_step=0, end_step=end_step, frequency=frequency)

        def wrap(layer):
            if not is_prunable(layer):
                return layer
            target = o.target_for(layer.name)
            if target is None:
                skipped[layer.name] = "skip"
                return layer
            if derived is not None and not any(fnmatch.fnmatchcase(layer.name, p) for p in o.layers):
                target = derived.get(layer.name)
                if not target:
                    skipped[layer.name] = "no safe sparsity" if o.from_sensitivity else "no weight under the threshold"
                    return layer
            if o.m_by_n:
                m, n = o.m_by_n
                kernels = prunable_kernels(layer).values()
                if any(len(k.shape) < 2 or k.shape[-2] % n for k in kernels):
                    skipped[layer.name] = f"input channels not a multiple of {n}"
                    return layer
                targets[layer.name] = 1.0 - m / n
                return sparsity.prune_low_magnitude(layer, sparsity_m_by_n=(m, n))
            targets[layer.name] = target
            return sparsity.prune_low_magnitude(layer, pruning_schedule=schedule_for(target))

        try:
            # Wrapping the original layers keeps their trained weights.
            wrapped = keras.models.clone_model(model, clone_function=wrap)
        except ValueError as exc:  # subclassed models cannot be cloned layer by layer
            raise EdgeloopError(f"prune needs a Sequential or functional model: {exc}") from None
        if not targets:
            raise EdgeloopError("prune: no layer left to prune (every prunable layer is skipped)")
        compile_classifier(wrapped, o.learning_rate)
        ctx.record(**fit(wrapped, ctx, o.epochs, o.batch_size, "prune", [sparsity.UpdatePruningStep()]))
        stripped = sparsity.strip_pruning(wrapped)
        leftover = [layer.name for layer in stripped.layers if "PruneLowMagnitude" in type(layer).__name__]
        if leftover:
            raise VerificationError(f"strip_pruning left pruning wrappers on: {', '.join(leftover)}")
        measured, sizes = kernel_sparsity(stripped), kernel_sizes(stripped)
        # A kernel of n weights holds sparsities in steps of 1/n: a factorized layer's 45
        # weights pruned to 30 % keep 13 zeros (28.9 %), as close as the kernel allows.
        short = {n: measured[n] for n, t in targets.items()
                 if measured[n] < t - max(SPARSITY_TOLERANCE, 1.0 / max(sizes.get(n, 1), 1))}
        if short:
            detail = ", ".join(f"{n} {s:.1%} (target {targets[n]:.0%})" for n, s in short.items())
            raise VerificationError(f"pruning fell short after strip_pruning: {detail}")
        ctx.record(schedule="m_by_n" if o.m_by_n else o.schedule, targets=targets, skipped=skipped,
                   kernel_sparsity=measured)
        ctx.state.pruned = {
            "target_sparsity": min(targets.values()),
            "layers": {n: min(t, measured[n]) for n, t in targets.items()},  # what each layer holds: must survive
            "m_by_n": list(o.m_by_n) if o.m_by_n else None,
        }
        return stripped
