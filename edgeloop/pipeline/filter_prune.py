"""``filter_prune``: structured pruning that removes whole filters (see :func:`edgeloop.models.shrink`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeloop.errors import EdgeloopError
from edgeloop.models.flatten import flatten_nested
from edgeloop.models.prunable import channels_for_fraction
from edgeloop.pipeline._training import check_training_options, compile_classifier, fit
from edgeloop.pipeline.base import Context, Preflight, Problem, Step, check_patterns, graph_problems, register_step


@dataclass
class FilterPruneOptions:
    """Options of ``filter_prune``.

    Attributes:
        channels: ``{layer: channels to keep}`` for named conv (Conv1D/2D/3D, Conv2DTranspose,
            SeparableConv1D/2D) or Dense layers.
        keep: otherwise, the fraction of filters every such layer keeps (but the
            output layer; tied layers once), rounded, at least 1; 0.5 when neither is given.
        layers: with ``keep``, only the layers matching these names or glob patterns.
        epochs: fine-tuning passes afterwards (0 for none).
        batch_size: samples per optimizer step.
        learning_rate: Adam's learning rate.
    """

    channels: dict[str, int] = field(default_factory=dict)
    keep: float | None = None
    layers: list[str] = field(default_factory=list)
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-4

    def __post_init__(self) -> None:
        if self.channels and self.keep is not None:
            raise ValueError("give either channels ({layer: n}) or keep (a fraction), not both")
        if not self.channels and self.keep is None:
            self.keep = 0.5
        if self.keep is not None and not 0.0 < self.keep < 1.0:
            raise ValueError(f"keep must be between 0 and 1, got {self.keep}")
        check_training_options(self.epochs, self.batch_size, self.learning_rate, min_epochs=0)


@register_step("filter_prune", FilterPruneOptions, changes_model=True, compresses=True)
class FilterPrune(Step):
    """Remove the filters with the smallest L1 norm and rebuild a smaller model."""

    def preflight(self, model, plan: Preflight) -> list[Problem]:
        """Shrink a clone as ``apply`` would (no fine-tuning): a layer shrink cannot follow, or nothing to remove."""
        from edgeloop.models.shrink import shrink

        o = self.options
        problems = graph_problems(model, self.name)
        if problems:
            return problems
        try:
            model, _ = flatten_nested(model, check=False)
            check_patterns(model, o.layers, self.name)
            channels = o.channels or channels_for_fraction(model, o.keep, o.layers)
            if not channels:
                raise EdgeloopError("filter_prune: no conv or Dense layer whose filters can be removed (those tied to "
                                    "the input or an output stay); drop the filter_prune step")
            shrink(model, channels)
        except EdgeloopError as exc:
            text = str(exc) if str(exc).startswith("filter_prune") else f"filter_prune: {exc}"
            if "drop the" not in text:
                text += "; way out: drop the filter_prune step"
            layer = text.split(": ")[1] if text.count(": ") > 1 else None
            return [Problem(self.name, text, layer if layer in {x.name for x in model.layers} else None)]
        return []

    def apply(self, model, ctx: Context):
        from edgeloop.models.macs import model_macs
        from edgeloop.models.shrink import layer_width, shrink

        model, _ = flatten_nested(model)
        o = self.options
        check_patterns(model, o.layers, self.name)
        channels = o.channels or channels_for_fraction(model, o.keep, o.layers)
        if not channels:
            raise EdgeloopError("filter_prune: no conv or Dense layer whose filters can be removed "
                                "(those tied to the input or an output stay)")
        new = shrink(model, channels)
        widths = {name: layer_width(model.get_layer(name)) for name in channels}
        if o.epochs:
            compile_classifier(new, o.learning_rate)
            ctx.record(**fit(new, ctx, o.epochs, o.batch_size, "filter_prune"))
        ctx.record(
            channels={name: {"before": widths[name], "after": n} for name, n in channels.items()},
            params_before=int(model.count_params()),
            params_after=int(new.count_params()),
            macs_before=model_macs(model)["total"],
            macs_after=model_macs(new)["total"],
        )
        return new
