"""``qat``: quantization-aware training with tfmot.

After a ``prune`` step the sparsity-preserving scheme
(``Default8BitPrunePreserveQuantizeScheme``) is used, so the zeros pruning made survive
QAT's weight updates and reach the int8 file; the plain scheme would fill them back in.

Which layers get which config, and the graph fixes made first (nested models flattened,
SeparableConv2D split so tfmot's own split cannot mis-wire a loaded model), are
:mod:`edgeloop.pipeline.qat_plan`'s; ``skip`` leaves layers float.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from edgeloop.errors import EdgeloopError, VerificationError
from edgeloop.pipeline._sparsity import kernel_sparsity
from edgeloop.pipeline._training import (
    check_training_options,
    compile_classifier,
    fit,
    outputs_probabilities,
    steps_per_epoch,
)
from edgeloop.pipeline.base import Context, Preflight, Problem, Step, check_patterns, graph_problems, register_step
from edgeloop.pipeline.qat_plan import EDGELOOP, FLOAT, PASS_THROUGH, layer_named_in, quantize

# tfmot's activation quantizers start their range at [-6, 6] and move it by an exponential
# moving average with this decay each training step (MovingAverageQuantizer's default).
RANGE_EMA_DECAY = 0.999
# Warn below this share of the way from the initial range to the data's range.
SETTLED_ENOUGH = 0.9


def range_settled_fraction(optimizer_steps: int, decay: float = RANGE_EMA_DECAY) -> float:
    """How far an EMA range has moved from its start toward a steady value after N steps."""
    return 1.0 - decay**optimizer_steps


def steps_to_settle(fraction: float = SETTLED_ENOUGH, decay: float = RANGE_EMA_DECAY) -> int:
    """Optimizer steps an EMA range needs to move ``fraction`` of the way."""
    import math

    return math.ceil(math.log(1.0 - fraction) / math.log(decay))


def auto_scheme(state: dict) -> str:
    """The scheme that keeps what earlier steps made: zeros (prune), shared values (cluster)."""
    pruned, clustered = bool(state.get("pruned")), bool(state.get("clustered"))
    if pruned and clustered:
        return "prune_cluster_preserve"
    if clustered:
        return "cluster_preserve"
    return "prune_preserve" if pruned else "default"


@dataclass
class QatOptions:
    """Options of ``qat``.

    Attributes:
        epochs: fine-tuning passes with fake quantization.
        batch_size: samples per optimizer step (smaller means more steps for the ranges).
        learning_rate: Adam's learning rate.
        scheme: ``auto`` picks from the earlier steps: ``prune_cluster_preserve`` (PCQAT)
            after prune and cluster, ``cluster_preserve`` (CQAT) after cluster,
            ``prune_preserve`` after prune, ``default`` otherwise; naming one forces it.
        skip: names or glob patterns of layers left float in QAT (no fake quantization;
            the converter calibrates them): the way past a layer tfmot cannot quantize.
    """

    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-4
    scheme: Literal["auto", "default", "prune_preserve", "cluster_preserve", "prune_cluster_preserve"] = "auto"
    skip: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_training_options(self.epochs, self.batch_size, self.learning_rate)


@register_step("qat", QatOptions, changes_model=True, compresses=True)
class Qat(Step):
    """Wrap every layer with tfmot's 8-bit fake quantization and fine-tune."""

    def preflight(self, model, plan: Preflight) -> list[Problem]:
        """Build the QAT model on a clone, as ``apply`` would (seconds): the layer it fails on, if any."""
        from edgeloop.models.flatten import flatten_nested

        o = self.options
        problems = graph_problems(model, self.name)
        if problems:
            return problems
        try:
            model, _ = flatten_nested(model, check=False)
            check_patterns(model, o.skip, self.name)
            scheme = self.scheme_for(plan.state)
            key = ("qat", tuple(o.skip), scheme, id(model))
            if key not in plan.cache:
                plan.cache[key] = quantize(model, o.skip, scheme)[1]
        except EdgeloopError as exc:
            return [Problem(self.name, str(exc), layer_named_in(str(exc)))]
        return []

    def scheme_for(self, state: dict) -> str:
        """The scheme this step uses after the steps that left ``state``."""
        return self.options.scheme if self.options.scheme != "auto" else auto_scheme(state)

    def apply(self, model, ctx: Context):
        from edgeloop.models.flatten import flatten_nested

        o = self.options
        model, _ = flatten_nested(model)
        check_patterns(model, o.skip, self.name)
        scheme = self.scheme_for(ctx.state)
        probabilities = outputs_probabilities(model)
        pruned = set((ctx.state.pruned or {}).get("layers", {}))
        qmodel, decisions = quantize(model, o.skip, scheme, pruned)
        ctx.record(layers_float=[d.layer for d in decisions if d.how == FLOAT],
                   layers_passed_through=[d.layer for d in decisions if d.how == PASS_THROUGH],
                   edgeloop_configs={d.layer: d.detail for d in decisions if d.how == EDGELOOP})
        if o.skip:
            ctx.warn(f"qat left {len([d for d in decisions if d.how == FLOAT])} layer(s) float (skip): "
                     + ", ".join(d.layer for d in decisions if d.how == FLOAT) + "; the converter calibrates them")
        before = kernel_sparsity(model)

        n_steps = o.epochs * steps_per_epoch(len(ctx.data.y_train), o.batch_size)
        settled = range_settled_fraction(n_steps)
        if settled < SETTLED_ENOUGH:
            ctx.warn(
                f"qat ran only {n_steps} optimizer steps: its activation ranges (moving average, "
                f"decay {RANGE_EMA_DECAY}) moved {settled:.0%} of the way from their [-6, 6] start; "
                f"give it at least {steps_to_settle()} steps (more epochs or a smaller batch_size)"
            )
        compile_classifier(qmodel, o.learning_rate, probabilities)
        ctx.record(scheme=scheme, range_settled=settled, **fit(qmodel, ctx, o.epochs, o.batch_size, "qat"))

        after = kernel_sparsity(qmodel)
        ctx.record(kernel_sparsity=after)
        if scheme in ("prune_preserve", "prune_cluster_preserve"):
            lost = {n: (before[n], after.get(n, 0.0)) for n in before if after.get(n, 0.0) < before[n] - 1e-6}
            if lost:
                detail = ", ".join(f"{n} {b:.1%}->{a:.1%}" for n, (b, a) in lost.items())
                raise VerificationError(f"sparsity-preserving QAT lost zeros: {detail}")
        ctx.state.qat = {"scheme": scheme}
        return qmodel

